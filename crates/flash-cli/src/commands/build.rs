//! `flash build`: a thin front end over [`flash_cli::build`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use flash_cli::build::{BuildOptions, BuildOutput, build as run_build};

use super::{current_project, finish};

/// `flash build` in the current directory's app.
pub(crate) fn run(
    profile: String,
    app: Option<String>,
    target_dir: Option<PathBuf>,
    bin: Option<String>,
) -> ExitCode {
    finish(build(profile, app, target_dir, bin))
}

fn build(
    profile: String,
    app: Option<String>,
    target_dir: Option<PathBuf>,
    bin: Option<String>,
) -> Result<String> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let project = current_project()?;
    let options = BuildOptions {
        profile,
        target_dir,
        app_name: app,
        bin,
        ..BuildOptions::default()
    };
    let output = run_build(&project, &options)?;
    Ok(summary(&output, &cwd))
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
