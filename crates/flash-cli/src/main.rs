//! The `flash` command.

mod cli;
mod emulator_cmd;
mod manifest_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::Cli::parse().command {
        cli::Command::Manifest { command } => manifest_cmd::run(command),
        cli::Command::Emulator {
            port,
            api_key,
            state_dir,
        } => emulator_cmd::run(port, api_key, state_dir),
    }
}
