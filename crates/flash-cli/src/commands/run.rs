//! `flash run`: see [`flash_cli::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{RunOptions, run as run_app};

use super::{err, render_error, runtime};

/// Builds, deploys to an embedded emulator, and serves or runs `command` as a caller.
pub(crate) fn run(
    project: Option<PathBuf>,
    profile: String,
    app: Option<String>,
    env: String,
    port: u16,
    logs: bool,
    watch: bool,
    command: &[String],
) -> ExitCode {
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
        Ok(runtime()?.block_on(run_app(&project, &options, command, logs, watch, progress))?)
    };
    attempt().unwrap_or_else(|error| {
        err(&render_error(&error));
        ExitCode::FAILURE
    })
}
