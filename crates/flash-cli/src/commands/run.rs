//! `flash run`: see [`flash_cli::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{RunOptions, run as run_app};

use super::{err, render_error, runtime};

/// The arguments of `flash run`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) project: Option<PathBuf>,
    pub(crate) profile: String,
    pub(crate) app: Option<String>,
    pub(crate) env: String,
    pub(crate) port: u16,
    pub(crate) logs: bool,
    pub(crate) watch: bool,
    pub(crate) command: Vec<String>,
}

/// Builds, deploys to an embedded emulator, and serves (watching the sources with `watch`) or
/// runs `command` as a caller.
pub(crate) fn run(args: Args) -> ExitCode {
    let Args {
        project,
        profile,
        app,
        env,
        port,
        logs,
        watch,
        command,
    } = args;
    let attempt = || -> Result<ExitCode> {
        let start = match project {
            Some(dir) => dir,
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        let project = Project::find(&start)?;
        let options = RunOptions {
            build: BuildOptions {
                profile,
                ..BuildOptions::default()
            },
            app,
            env,
            port,
            boot: super::emulator::boot_command(),
        };
        let progress = super::progress::reporter();
        Ok(runtime()?.block_on(run_app(&project, &options, &command, logs, watch, progress))?)
    };
    attempt().unwrap_or_else(|error| {
        err(&render_error(&error));
        ExitCode::FAILURE
    })
}
