//! The `flash` command's library: building, deploying and running Flash apps.
//!
//! The binary (`src/main.rs`) is a thin clap front end over these modules, which the tests, the
//! examples and `flash run` call directly.

pub mod build;
pub mod deploy;
pub mod init;
pub mod login;
pub mod logs;
pub mod manage;
pub mod progress;
pub mod project;
pub mod run;
pub mod signals;
pub mod undeploy;
pub mod watch;
