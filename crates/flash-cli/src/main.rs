//! The `flash` command.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match cli::Cli::parse().command {
        cli::Command::Init { name, flash_path } => commands::init::run(&name, flash_path),
        cli::Command::Build {
            profile,
            app,
            target_dir,
            bin,
            target,
            zigbuild,
            no_strip,
        } => commands::build::run(commands::build::Args {
            profile,
            app,
            target_dir,
            bin,
            target,
            zigbuild,
            strip: !no_strip,
        }),
        cli::Command::Run {
            project,
            profile,
            app,
            env,
            port,
            quiet,
            watch,
            command,
        } => commands::run::run(commands::run::Args {
            project,
            profile,
            app,
            env,
            port,
            logs: !quiet,
            watch,
            command,
        }),
        cli::Command::Login { timeout } => commands::login::run(timeout),
        cli::Command::Logs {
            resource,
            follow,
            json,
            since,
        } => commands::logs::run(resource, follow, json, since.as_deref()),
        cli::Command::Manifest { command } => commands::manifest::run(command),
        cli::Command::Emulator {
            port,
            api_key,
            state_dir,
        } => commands::emulator::run(port, api_key, state_dir),
        cli::Command::Deploy { target, json } => commands::deploy::run(&target, json),
        cli::Command::Undeploy {
            name,
            all: _,
            target,
            yes,
            json,
        } => commands::undeploy::run(name, &target, yes, json),
        cli::Command::Env { command, app, json } => commands::env::run(command, app, json),
        cli::Command::App { command, json } => commands::app::run(command, json),
        cli::Command::Boot => flash_boot::run(),
    }
}
