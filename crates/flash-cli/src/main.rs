//! The `flash` command.

mod cli;
mod manifest_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::Cli::parse().command {
        cli::Command::Manifest { command } => manifest_cmd::run(command),
    }
}
