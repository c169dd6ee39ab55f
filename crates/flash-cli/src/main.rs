//! The `flash` command.

mod cli;
mod deploy_cmd;
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
        cli::Command::Deploy { target, json } => deploy_cmd::deploy(&target, json),
        cli::Command::Undeploy {
            name,
            all: _,
            target,
            yes,
            json,
        } => deploy_cmd::undeploy(name, &target, yes, json),
        cli::Command::Env { command, app, json } => deploy_cmd::env(command, app, json),
        cli::Command::App { command, json } => deploy_cmd::app(command, json),
    }
}
