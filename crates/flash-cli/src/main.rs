//! The `flash` command.

mod build_cmd;
mod cli;
mod deploy_cmd;
mod emulator_cmd;
mod manifest_cmd;
mod run_cmd;

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
        cli::Command::Run {
            project,
            profile,
            app,
            env,
            port,
            quiet,
            command,
        } => run_cmd::run(project, profile, app, env, port, !quiet, &command),
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
