//! # flash-contract
//!
//! The names and formats that the runtime (`runpod-flash`), the `#[remote]` code generator, the
//! `flash` CLI, the boot step and the local emulator must agree on, written down once:
//!
//! - [`dispatch`]: the Flash dispatcher's route and header names (an endpoint called by name);
//! - [`env`](mod@env): every environment variable the platform sets on workers or that Flash reads;
//! - [`files`]: file and directory names (`flash_manifest.json`, `.flash/artifact.tar.gz`);
//! - [`http`]: the HTTP methods a load-balanced function may use and the paths none may claim;
//! - [`artifact`] (feature `archive`): the build artifact's layout, and its one reproducible
//!   tar.gz writer and one checked reader;
//! - [`images`]: the default worker image names, and which kind of worker an image runs;
//! - [`runpod`]: the GPU pools, CPU instances and datacenters Runpod's API knows;
//! - [`time`]: RFC 3339 timestamps without a date crate.
//!
//! Without the `archive` feature this crate has no dependencies, so the proc-macro side pays
//! nothing for it.

#[cfg(feature = "archive")]
pub mod artifact;
pub mod dispatch;
pub mod env;
pub mod files;
pub mod http;
pub mod images;
pub mod jobs;
pub mod runpod;
pub mod time;
