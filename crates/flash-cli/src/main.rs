//! The `flash` command.

mod build_cmd;
mod cli;
mod emulator_cmd;
mod manifest_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::Cli::parse().command {
        cli::Command::Init { name, flash_path } => build_cmd::init(&name, flash_path),
        cli::Command::Build {
            profile,
            app,
            target_dir,
            bin,
        } => build_cmd::build(profile, app, target_dir, bin),
        cli::Command::Manifest { command } => manifest_cmd::run(command),
        cli::Command::Emulator {
            port,
            api_key,
            state_dir,
        } => emulator_cmd::run(port, api_key, state_dir),
    }
}
