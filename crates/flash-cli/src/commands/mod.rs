//! The `flash` subcommands: argument handling, confirmation prompts and output over the
//! library modules of `flash_cli`.
//!
//! Results go to stdout (human text, or JSON with `--json`); progress and errors go to stderr,
//! progress as bars when stderr is a terminal and `CI` is not `true`, as plain lines otherwise
//! ([`progress`]). Errors are
//! [`anyhow::Error`]s: the library's typed errors with context, printed with their causes. The
//! API key is never printed.

pub(crate) mod app;
pub(crate) mod build;
pub(crate) mod deploy;
pub(crate) mod emulator;
pub(crate) mod env;
pub(crate) mod init;
pub(crate) mod login;
pub(crate) mod logs;
pub(crate) mod manifest;
pub(crate) mod progress;
pub(crate) mod run;
pub(crate) mod undeploy;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow, bail};
use flash_cli::deploy::DeployOptions;
use flash_cli::project::Project;
use flash_platform::PlatformEndpoint;
use runpod_flash::manifest::Manifest;
use serde::Serialize;

pub(crate) fn out(text: &str) {
    // A closed stdout (`flash app list | head`) is not worth a second error.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

pub(crate) fn err(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

pub(crate) fn json<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_owned());
    text.push('\n');
    text
}

pub(crate) fn progress_enabled() -> bool {
    std::io::stderr().is_terminal()
        && !std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Prints a command's report, or its error with every cause, and gives the exit code.
pub(crate) fn finish(result: Result<String>) -> ExitCode {
    match result {
        Ok(text) => {
            out(&text);
            ExitCode::SUCCESS
        }
        Err(error) => {
            err(&render_error(&error));
            ExitCode::FAILURE
        }
    }
}

/// `error: <message>` and one `  caused by: <cause>` line per cause whose text the message
/// before it does not already include (the library's errors quote their causes, so that `{e}`
/// alone says why; repeating them would only add noise).
pub(crate) fn render_error(error: &anyhow::Error) -> String {
    let mut text = format!("error: {error}");
    let mut previous = error.to_string();
    for cause in error.chain().skip(1) {
        let message = cause.to_string();
        if !previous.contains(&message) {
            text.push_str("\n  caused by: ");
            text.push_str(&message);
        }
        previous = message;
    }
    text
}

/// The project in the current directory, if any.
pub(crate) fn project() -> Option<Project> {
    let cwd = std::env::current_dir().ok()?;
    Project::find(&cwd).ok()
}

/// The project in the current directory.
pub(crate) fn current_project() -> Result<Project> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(Project::find(&cwd)?)
}

/// `--app`, else the manifest's `project_name`, else the project directory name.
pub(crate) fn app_name(explicit: Option<String>, project: Option<&Project>) -> Result<String> {
    if let Some(app) = explicit.filter(|a| !a.trim().is_empty()) {
        return Ok(app);
    }
    let project = project.ok_or_else(|| {
        anyhow!(
            "no --app given and no Flash project here to take the app name from; pass --app NAME"
        )
    })?;
    let from_manifest = Manifest::from_path_unvalidated(&project.manifest_path())
        .ok()
        .and_then(|m| m.project_name);
    from_manifest
        .or_else(|| {
            project
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .ok_or_else(|| anyhow!("cannot tell the app name; pass --app NAME"))
}

/// Asks `question` on stderr; `--yes` answers yes, a non-terminal stdin answers no.
pub(crate) fn confirm(question: &str, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Refusing without a terminal; pass --yes");
    }
    let _ = write!(std::io::stderr().lock(), "{question} [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled")
    }
}

pub(crate) fn endpoint_list(endpoints: &[PlatformEndpoint]) -> String {
    endpoints
        .iter()
        .map(|e| format!("{} ({})", e.name.as_deref().unwrap_or("unnamed"), e.id))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn platform_options(app: String, env: String) -> DeployOptions {
    DeployOptions::from_env(app, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::other("disk full");
        let error = anyhow::Error::new(io).context("cannot write the manifest");
        assert_eq!(
            render_error(&error),
            "error: cannot write the manifest\n  caused by: disk full"
        );
        let quoted = anyhow::Error::new(std::io::Error::other("disk full"))
            .context("cannot write the manifest: disk full");
        assert_eq!(
            render_error(&quoted),
            "error: cannot write the manifest: disk full"
        );
    }
}
