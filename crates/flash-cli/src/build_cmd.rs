//! `flash build` and `flash init`: thin front ends over [`flash_cli::build`] and
//! [`flash_cli::init`]. Reports are rendered to a string and written once to stdout; errors go
//! to stderr.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flash_cli::build::{BuildOptions, BuildOutput, build as run_build};
use flash_cli::init::{default_flash_path, init as run_init};
use flash_cli::project::Project;

/// `flash build` in the current directory's app.
pub(crate) fn build(
    profile: String,
    app: Option<String>,
    target_dir: Option<PathBuf>,
    bin: Option<String>,
) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let project = match Project::find(&cwd) {
        Ok(project) => project,
        Err(error) => return fail(&error),
    };
    let options = BuildOptions {
        profile,
        target_dir,
        app_name: app,
        bin,
        ..BuildOptions::default()
    };
    match run_build(&project, &options) {
        Ok(output) => {
            write_stdout(&summary(&output, &cwd));
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

/// `flash init NAME`.
pub(crate) fn init(name: &Path, flash_path: Option<PathBuf>) -> ExitCode {
    let flash_path = flash_path.unwrap_or_else(default_flash_path);
    match run_init(name, &flash_path) {
        Ok(output) => {
            let mut report = format!("created {} ({}):\n", output.dir.display(), output.package);
            for file in &output.files {
                let _ = writeln!(report, "  {file}");
            }
            let _ = writeln!(
                report,
                "depends on runpod-flash at {}\nnext: cd {} && flash build (or flash run)",
                flash_path.display(),
                output.dir.display()
            );
            write_stdout(&report);
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

/// Resources, functions, artifact path and size.
fn summary(output: &BuildOutput, cwd: &Path) -> String {
    let manifest = &output.manifest;
    let mut out = String::new();
    for warning in &output.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(
        out,
        "built {} ({} resources, {} functions)",
        manifest.project_name.as_deref().unwrap_or("app"),
        manifest.resources.len(),
        manifest.function_registry.len()
    );
    for (name, resource) in &manifest.resources {
        let kind = if resource.load_balanced() {
            "load-balanced"
        } else {
            "queue"
        };
        let calls = if resource.calls_remote() {
            ", calls other resources"
        } else {
            ""
        };
        let _ = writeln!(out, "  {name} ({kind}{calls})");
        for function in &resource.functions {
            match (&function.http_method, &function.http_path) {
                (Some(method), Some(path)) => {
                    let _ = writeln!(out, "    {method} {path} -> {}", function.name);
                }
                _ => {
                    let _ = writeln!(out, "    {}", function.name);
                }
            }
        }
    }
    let show = |p: &Path| p.strip_prefix(cwd).unwrap_or(p).display().to_string();
    let _ = writeln!(out, "manifest: {}", show(&output.manifest_path));
    let _ = writeln!(
        out,
        "artifact: {} ({})",
        show(&output.artifact_path),
        human_size(output.artifact_size)
    );
    out
}

fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // Display only.
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn write_stdout(text: &str) {
    // A closed stdout is not worth a second error; the exit code tells the result.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "error: {error}");
    ExitCode::FAILURE
}
