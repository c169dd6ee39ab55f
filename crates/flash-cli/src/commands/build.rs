//! `flash build`: a thin front end over [`flash_cli::build`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use flash_cli::build::{BuildOptions, BuildOutput};
use flash_contract::images::has_registry;

use super::{current_project, finish};

/// The arguments of `flash build`.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) profile: String,
    pub(crate) app: Option<String>,
    pub(crate) target_dir: Option<PathBuf>,
    pub(crate) bin: Option<String>,
    pub(crate) target: String,
    pub(crate) zigbuild: bool,
    pub(crate) strip: bool,
}

/// `flash build` in the current directory's app.
pub(crate) fn run(args: Args) -> ExitCode {
    finish(build(args))
}

fn build(args: Args) -> Result<String> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let project = current_project()?;
    let options = BuildOptions {
        profile: args.profile,
        target_dir: args.target_dir,
        app_name: args.app,
        bin: args.bin,
        target: args.target,
        zigbuild: args.zigbuild,
        strip: args.strip,
        ..BuildOptions::default()
    };
    let progress = super::progress::reporter();
    let output = flash_cli::build::build_with_progress(&project, &options, &*progress)?;
    Ok(summary(&output, &options, &cwd))
}

/// Resources (with their images), functions, artifact path and size, target and stripping.
fn summary(output: &BuildOutput, options: &BuildOptions, cwd: &Path) -> String {
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
        let image = resource.image_name.as_deref().unwrap_or("no image");
        let _ = writeln!(out, "  {name} ({kind}{calls}, image {image})");
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
    let symbols = if output.stripped {
        "stripped".to_owned()
    } else if options.profile != "release" {
        format!("not stripped: {} profile", options.profile)
    } else {
        "not stripped: --no-strip".to_owned()
    };
    let _ = writeln!(
        out,
        "binary: {} for {} ({symbols})",
        human_size(output.binary_size),
        output.target
    );
    let unpullable: std::collections::BTreeSet<&str> = manifest
        .resources
        .values()
        .filter(|r| r.template_id.is_none())
        .filter_map(|r| r.image_name.as_deref())
        .filter(|image| !has_registry(image))
        .collect();
    if !unpullable.is_empty() {
        let names: Vec<&str> = unpullable.into_iter().collect();
        let _ = writeln!(
            out,
            "note: {} names no registry: fine for `flash run`, but Runpod cannot pull it; before \
             `flash deploy`, push the worker images (docker/README.md) and set `image-registry` \
             in [package.metadata.flash] or FLASH_IMAGE_REGISTRY",
            names.join(", ")
        );
    }
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

#[cfg(test)]
mod tests {
    use flash_contract::images::default_image;
    use runpod_flash::manifest::{Manifest, ResourceConfig};

    use super::*;

    fn output(stripped: bool, image: &str) -> BuildOutput {
        let mut manifest = Manifest {
            project_name: Some("demo".to_owned()),
            ..Manifest::default()
        };
        for name in ["a", "b"] {
            manifest.resources.insert(
                name.to_owned(),
                ResourceConfig {
                    image_name: Some(image.to_owned()),
                    makes_remote_calls: Some(false),
                    ..ResourceConfig::default()
                },
            );
        }
        BuildOutput {
            manifest,
            manifest_path: PathBuf::from("/app/.flash/flash_manifest.json"),
            artifact_path: PathBuf::from("/app/.flash/artifact.tar.gz"),
            artifact_size: 3 * 1024 * 1024,
            binary: PathBuf::from("/t/release/demo"),
            binary_size: 9 * 1024 * 1024,
            target: "x86_64-unknown-linux-gnu".to_owned(),
            stripped,
            warnings: Vec::new(),
        }
    }

    fn options(profile: &str, strip: bool) -> BuildOptions {
        BuildOptions {
            profile: profile.to_owned(),
            strip,
            image_env: flash_cli::build::ImageConfig::default(),
            ..BuildOptions::default()
        }
    }

    #[test]
    fn the_summary_names_target_stripping_sizes_and_images() {
        let local = default_image(true, None);
        let text = summary(
            &output(true, &local),
            &options("release", true),
            Path::new("/app"),
        );
        assert!(
            text.contains(&format!("  a (queue, image {local})")),
            "{text}"
        );
        assert!(
            text.contains("artifact: .flash/artifact.tar.gz (3.0 MiB)"),
            "{text}"
        );
        assert!(
            text.contains("binary: 9.0 MiB for x86_64-unknown-linux-gnu (stripped)"),
            "{text}"
        );
        // One note, naming the image once, pointing at the fix.
        let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("note:")).collect();
        assert_eq!(notes.len(), 1, "{text}");
        assert_eq!(notes[0].matches(local.as_str()).count(), 1, "{text}");
        assert!(notes[0].contains("image-registry"), "{text}");

        let pushed = default_image(true, Some("docker.io/me"));
        let text = summary(
            &output(false, &pushed),
            &options("release", false),
            Path::new("/app"),
        );
        assert!(text.contains("(not stripped: --no-strip)"), "{text}");
        assert!(
            !text.contains("note:"),
            "a pullable image needs no note: {text}"
        );
        let text = summary(
            &output(false, &pushed),
            &options("dev", true),
            Path::new("/app"),
        );
        assert!(text.contains("(not stripped: dev profile)"), "{text}");
    }
}
