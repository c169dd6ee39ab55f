//! `flash manifest check` and `flash manifest show`.
//!
//! Each command renders its whole report as a string and prints it once, so the rendering is
//! plain, deterministic and testable without a process.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use runpod_flash::error::ManifestOrigin;
use runpod_flash::manifest::{Manifest, ResourceConfig};

use crate::cli::ManifestCommand;

/// Runs a `flash manifest` subcommand.
pub(crate) fn run(command: ManifestCommand) -> ExitCode {
    let (report, ok) = match command {
        ManifestCommand::Check { files } => check(&files),
        ManifestCommand::Show { file } => show(&file),
    };
    // A closed stdout (`flash manifest show x | head`) is not worth a second error; the exit code
    // still tells the result.
    let _ = std::io::stdout().lock().write_all(report.as_bytes());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The report of `check` and whether every file is valid.
fn check(files: &[PathBuf]) -> (String, bool) {
    let mut report = String::new();
    let mut all_ok = true;
    for file in files {
        match Manifest::from_path(file) {
            Ok(_) => {
                let _ = writeln!(report, "ok: {}", file.display());
            }
            Err(err) => {
                all_ok = false;
                let _ = writeln!(report, "error: {err}");
            }
        }
    }
    (report, all_ok)
}

/// The report of `show` and whether the manifest is valid.
fn show(file: &Path) -> (String, bool) {
    let manifest = match Manifest::from_path_unvalidated(file) {
        Ok(manifest) => manifest,
        Err(err) => return (format!("error: {err}\n"), false),
    };
    let mut report = summary(&manifest);
    let ok = match manifest.validate(&ManifestOrigin::File(file.to_owned())) {
        Ok(()) => true,
        Err(err) => {
            let _ = writeln!(report, "\nerror: {err}");
            false
        }
    };
    (report, ok)
}

/// A plain-text summary of a manifest, resources in file order.
fn summary(manifest: &Manifest) -> String {
    // Writing to a `String` cannot fail.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "project: {}",
        manifest.project_name.as_deref().unwrap_or("(unnamed)")
    );
    if let Some(version) = &manifest.version {
        let _ = writeln!(out, "manifest version: {version}");
    }
    let _ = writeln!(out, "resources: {}", manifest.resources.len());
    for (name, resource) in &manifest.resources {
        let endpoint = manifest
            .resources_endpoints
            .as_ref()
            .and_then(|endpoints| endpoints.get(name));
        out.push('\n');
        resource_summary(&mut out, name, resource, endpoint.map(String::as_str));
    }
    out
}

fn resource_summary(
    out: &mut String,
    name: &str,
    resource: &ResourceConfig,
    endpoint: Option<&str>,
) {
    let _ = writeln!(out, "resource {name}");
    let _ = writeln!(out, "  kind: {}", kind(resource));
    let bound = |n: Option<u32>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let _ = writeln!(
        out,
        "  workers: {}-{}",
        bound(resource.workers_min),
        bound(resource.workers_max)
    );
    // Python Flash drops max_concurrency from load-balanced resources: HTTP workers take
    // requests as they come.
    let concurrency = match resource.max_concurrency {
        Some(n) => n.to_string(),
        None if resource.load_balanced() => "n/a (load-balanced)".to_owned(),
        None => "1 (default)".to_owned(),
    };
    let _ = writeln!(out, "  max_concurrency: {concurrency}");
    let remote = match resource.makes_remote_calls {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown (assumed yes)",
    };
    let _ = writeln!(out, "  makes remote calls: {remote}");
    let _ = writeln!(out, "  endpoint: {}", endpoint.unwrap_or("(not deployed)"));
    let functions: Vec<String> = resource
        .functions
        .iter()
        .map(|f| match &f.class_methods {
            Some(methods) if f.is_class == Some(true) => {
                format!("{} (class: {})", f.name, methods.join(", "))
            }
            _ if f.is_class == Some(true) => format!("{} (class)", f.name),
            _ => f.name.clone(),
        })
        .collect();
    let _ = writeln!(out, "  functions: {}", list_or_none(&functions));
    if resource.load_balanced() {
        let _ = writeln!(out, "  routes:");
        if resource.functions.is_empty() {
            let _ = writeln!(out, "    (none)");
        }
        for function in &resource.functions {
            let _ = writeln!(
                out,
                "    {} {} -> {}",
                function.http_method.as_deref().unwrap_or("(no method)"),
                function.http_path.as_deref().unwrap_or("(no path)"),
                function.name
            );
        }
    }
}

/// `queue` or `load-balanced`, then the hardware.
fn kind(resource: &ResourceConfig) -> String {
    let mut kind = String::from(if resource.load_balanced() {
        "load-balanced"
    } else {
        "queue"
    });
    if let Some(gpus) = &resource.gpu_ids {
        let _ = write!(kind, ", GPU {gpus}");
    }
    if let Some(instances) = &resource.instance_ids {
        let _ = write!(kind, ", CPU {}", list_or_none(instances));
    }
    if resource.gpu_ids.is_none() && resource.instance_ids.is_none() {
        kind.push_str(", hardware unspecified");
    }
    kind
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}
