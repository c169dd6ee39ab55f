//! `flash run`: see [`flash_cli::run`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{RunOptions, run as run_app};

/// Builds, deploys to an embedded emulator, and serves or runs `command` as a caller.
pub(crate) fn run(
    project: Option<PathBuf>,
    profile: String,
    app: Option<String>,
    env: String,
    port: u16,
    logs: bool,
    command: &[String],
) -> ExitCode {
    let fail = |message: String| {
        let _ = writeln!(std::io::stderr(), "flash run: {message}");
        ExitCode::FAILURE
    };
    let start = match project {
        Some(dir) => dir,
        None => match std::env::current_dir() {
            Ok(dir) => dir,
            Err(error) => return fail(format!("cannot read the current directory: {error}")),
        },
    };
    let project = match Project::find(&start) {
        Ok(project) => project,
        Err(error) => return fail(error.to_string()),
    };
    let options = RunOptions {
        build: BuildOptions {
            profile,
            ..BuildOptions::default()
        },
        app,
        env,
        port,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(run_app(&project, &options, command, logs)) {
        Ok(code) => code,
        Err(error) => fail(error.to_string()),
    }
}
