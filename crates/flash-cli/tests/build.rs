//! `flash build` and `flash init` on real fixture apps, compiled with cargo.
//!
//! Fixture apps live at stable paths under the workspace's target dir
//! (`target/flash-cli-fixtures/<name>`) and build into the workspace's own target dir with the
//! dev profile: their dependencies are compiled once, and a rerun with unchanged fixture sources
//! recompiles nothing (files are only rewritten when their content changes). Each fixture is
//! its own package, so the tests can run in parallel.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use flash_cli::build::{BuildError, BuildOptions, BuildOutput, build};
use flash_cli::project::Project;
use runpod_flash::manifest::Manifest;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../target"))
}

fn flash_path() -> PathBuf {
    std::fs::canonicalize(manifest_dir().join("../flash")).expect("crates/flash exists")
}

fn options() -> BuildOptions {
    BuildOptions {
        profile: "dev".to_owned(),
        target_dir: Some(target_dir()),
        cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
        generated_at: Some(UNIX_EPOCH + Duration::from_secs(1_767_225_600)),
        ..BuildOptions::default()
    }
}

/// Writes `text` to `path` unless it already holds exactly that (keeps mtimes, so cargo does not
/// rebuild an unchanged fixture).
fn sync(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write fixture file");
}

/// A fixture app `name` with `files` (relative path, text), depending on runpod-flash by path.
/// The workspace's Cargo.lock seeds the fixture's, so it resolves to the versions already built.
fn fixture(name: &str, files: &[(&str, String)]) -> Project {
    let root = target_dir().join("flash-cli-fixtures").join(name);
    let cargo_toml = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nrunpod-flash = {{ path = \"{}\" }}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\n\
         [workspace]\n",
        flash_path().display()
    );
    sync(&root.join("Cargo.toml"), &cargo_toml);
    seed_lock(&root);
    for (rel, text) in files {
        sync(&root.join(rel), text);
    }
    Project::at(root)
}

fn seed_lock(root: &Path) {
    let lock = root.join("Cargo.lock");
    if !lock.exists() {
        std::fs::copy(manifest_dir().join("../../Cargo.lock"), &lock).expect("copy Cargo.lock");
    }
}

const MAIN_HEAD: &str = r#"mod helpers;

use runpod_flash::{FlashError, Resource, remote};

pub(crate) const GPU: Resource = Resource::queue("fx-gpu").workers(0, 2);
const CPU: Resource = Resource::queue("fx-cpu").cpu(&["cpu3c-1-2"]);
const API: Resource = Resource::load_balanced("fx-api").cpu(&["cpu3c-1-2"]);

#[remote(GPU)]
pub(crate) async fn square(x: i64) -> Result<i64, FlashError> {
    Ok(x * x)
}

#[remote(CPU)]
pub(crate) async fn double(x: i64) -> Result<i64, FlashError> {
    Ok(helpers::twice(x))
}

#[remote(API, method = "POST", path = "/compute")]
async fn compute(x: i64) -> Result<i64, FlashError> {
    helpers::both(x).await
}

#[remote(API, method = "GET", path = "/health")]
async fn health() -> Result<String, FlashError> {
    Ok("ok".to_owned())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    std::process::ExitCode::SUCCESS
}
"#;

const HELPERS: &str = r#"use runpod_flash::FlashError;

pub(crate) fn twice(x: i64) -> i64 {
    x * 2
}

/// Calls both queue resources: the route that uses it makes remote calls.
pub(crate) async fn both(x: i64) -> Result<i64, FlashError> {
    Ok(crate::square(x).await? + crate::double(x).await?)
}

#[runpod_flash::remote(crate::GPU)]
pub(crate) async fn cube(x: i64) -> Result<i64, FlashError> {
    Ok(x * x * x)
}
"#;

fn good_files() -> Vec<(&'static str, String)> {
    vec![
        ("src/main.rs", MAIN_HEAD.to_owned()),
        ("src/helpers.rs", HELPERS.to_owned()),
    ]
}

fn entries(artifact: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(artifact));
    archive
        .entries()
        .expect("a tar.gz")
        .map(|entry| {
            let mut entry = entry.expect("entry");
            let mode = entry.header().mode().expect("mode");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            (
                entry.path().expect("path").display().to_string(),
                mode,
                bytes,
            )
        })
        .collect()
}

fn check_good_manifest(out: &BuildOutput) {
    let m = &out.manifest;
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert_eq!(m.generated_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(m.project_name.as_deref(), Some("fx-good"));
    assert_eq!(m.extra["entrypoint"], "bin/fx-good");
    assert_eq!(m.extra["runtime"], "rust");
    assert_eq!(m.source_fingerprint.as_deref().map(str::len), Some(64));
    let names: Vec<_> = m.resources.keys().map(String::as_str).collect();
    assert_eq!(names, ["fx-api", "fx-cpu", "fx-gpu"]);

    let api = &m.resources["fx-api"];
    assert_eq!(
        api.makes_remote_calls,
        Some(true),
        "compute -> helpers::both -> square, double"
    );
    assert_eq!(m.resources["fx-cpu"].makes_remote_calls, Some(false));
    assert_eq!(m.resources["fx-gpu"].makes_remote_calls, Some(false));
    assert!(api.load_balanced());
    assert_eq!(api.resource_type.as_deref(), Some("CpuLiveLoadBalancer"));
    let gpu_fns: Vec<_> = m.resources["fx-gpu"]
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        gpu_fns,
        ["cube", "square"],
        "source order: src/helpers.rs before src/main.rs"
    );
    assert_eq!(m.resources["fx-gpu"].workers_max, Some(2));
    let compute = api.function("compute").expect("compute listed");
    assert_eq!(compute.http_method.as_deref(), Some("POST"));
    assert_eq!(compute.http_path.as_deref(), Some("/compute"));
    assert_eq!(compute.is_async, Some(true));
    assert_eq!(compute.module.as_deref(), Some("fx_good"));
    assert_eq!(
        m.resources["fx-gpu"]
            .function("cube")
            .and_then(|f| f.module.as_deref()),
        Some("fx_good::helpers")
    );

    let registry: Vec<_> = m
        .function_registry
        .iter()
        .map(|(f, r)| (f.as_str(), r.as_str()))
        .collect();
    for pair in [
        ("compute", "fx-api"),
        ("health", "fx-api"),
        ("double", "fx-cpu"),
        ("square", "fx-gpu"),
        ("cube", "fx-gpu"),
    ] {
        assert!(registry.contains(&pair), "{pair:?} in {registry:?}");
    }
    assert_eq!(registry.len(), 5);
    let routes = m.routes.as_ref().expect("an LB resource has routes");
    assert_eq!(routes.len(), 1);
    assert_eq!(routes["fx-api"]["POST /compute"], "compute");
    assert_eq!(routes["fx-api"]["GET /health"], "health");

    // The file on disk is the same manifest, and it loads with validation.
    let saved = Manifest::from_path(&out.manifest_path).expect("valid manifest on disk");
    assert_eq!(&saved, m);
}

/// The main fixture: manifest contents, artifact contract, reproducibility, and a function in a
/// file no `mod` declares. One compile (the second build is a no-op).
#[test]
fn builds_manifest_and_reproducible_artifact() {
    let project = fixture("fx-good", &good_files());
    let _ = std::fs::remove_file(project.root.join("src/orphan.rs"));
    let first = build(&project, &options()).expect("fixture builds");
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    check_good_manifest(&first);
    let artifact = std::fs::read(&first.artifact_path).expect("artifact");
    assert_eq!(artifact.len() as u64, first.artifact_size);

    // The artifact contract: sorted entries; the manifest at the root names the executable.
    let members = entries(&artifact);
    let paths: Vec<_> = members.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(paths, ["bin/", "bin/fx-good", "flash_manifest.json"]);
    let binary = std::fs::read(&first.binary).expect("binary");
    assert_eq!(members[1].1, 0o755);
    assert!(
        members[1].2 == binary,
        "bin/fx-good is the built executable"
    );
    assert_eq!(members[2].1, 0o644);
    let packed: Manifest = serde_json::from_slice(&members[2].2).expect("packed manifest is JSON");
    assert_eq!(&packed, &first.manifest);

    // Reproducible: a second build gives the same bytes.
    let second = build(&project, &options()).expect("second build");
    let again = std::fs::read(&second.artifact_path).expect("artifact");
    assert!(artifact == again, "two builds give identical artifacts");
    assert_eq!(first.manifest, second.manifest);

    // A #[remote] function in a file never declared with `mod`: not in the binary.
    let orphan = project.root.join("src/orphan.rs");
    std::fs::write(
        &orphan,
        "use runpod_flash::{FlashError, remote};\n\n#[remote(crate::GPU)]\nasync fn lost() -> Result<(), FlashError> {\n    Ok(())\n}\n",
    )
    .expect("write orphan");
    let error = build(&project, &options());
    let _ = std::fs::remove_file(&orphan);
    match error {
        Err(BuildError::NotCompiled { functions }) => {
            assert_eq!(functions.len(), 1);
            assert_eq!(
                (functions[0].file.as_str(), functions[0].line),
                ("src/orphan.rs", 3)
            );
            assert!(functions[0].message.contains("`lost`"));
        }
        other => panic!("expected NotCompiled, got {other:?}"),
    }
}

/// Two consts declare resource `fx-gpu` with different options.
#[test]
fn conflicting_resource_options_name_both_functions() {
    let mut files = good_files();
    files[0].1.push_str(
        r#"
mod other {
    use runpod_flash::{FlashError, Resource, remote};

    const GPU_AGAIN: Resource = Resource::queue("fx-gpu").workers(0, 5);

    #[remote(GPU_AGAIN)]
    async fn quad(x: i64) -> Result<i64, FlashError> {
        Ok(x * x * x * x)
    }
}
"#,
    );
    let project = fixture("fx-conflict", &files);
    let error = build(&project, &options()).expect_err("conflict");
    let line = MAIN_HEAD.lines().count() + 7;
    match &error {
        BuildError::Conflict {
            resource,
            first,
            second,
            field,
        } => {
            assert_eq!(resource, "fx-gpu");
            assert_eq!(
                (first.function.as_str(), first.file.as_str()),
                ("cube", "src/helpers.rs")
            );
            assert_eq!(second.function, "quad");
            assert_eq!(
                (second.file.as_str(), second.line as usize),
                ("src/main.rs", line)
            );
            assert_eq!(field, "workersMax");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("conflicting options among functions of one resource"),
        "{text}"
    );
    assert!(
        text.contains(&format!("`quad` (src/main.rs:{line})")),
        "{text}"
    );
}

/// A compile error: cargo's diagnostics, and a typed error naming the package, file and line.
#[test]
fn compile_errors_are_cargo_errors() {
    let mut files = good_files();
    files[0]
        .1
        .push_str("\nfn broken() -> i64 {\n    \"not a number\"\n}\n");
    let project = fixture("fx-broken", &files);
    match build(&project, &options()) {
        Err(BuildError::Cargo { package, errors }) => {
            assert_eq!(package, "fx-broken");
            let line = MAIN_HEAD.lines().count() as u32 + 3;
            assert!(
                errors
                    .iter()
                    .any(|e| e.file == "src/main.rs" && e.line == line),
                "{errors:?}"
            );
        }
        other => panic!("expected a cargo error, got {other:?}"),
    }
}

/// `flash init`'s app builds and has three resources, the LB one calling the two workers.
#[test]
fn init_app_builds() {
    let temp = tempfile::tempdir().expect("temp dir");
    let fresh = temp.path().join("fx-init");
    flash_cli::init::init(&fresh, &flash_path()).expect("init");
    // Copy into the stable fixture dir (unchanged files keep their mtimes).
    let root = target_dir().join("flash-cli-fixtures").join("fx-init");
    for rel in ["Cargo.toml", "src/main.rs", "README.md", ".gitignore"] {
        let text = std::fs::read_to_string(fresh.join(rel)).expect("generated file");
        sync(&root.join(rel), &text);
    }
    seed_lock(&root);
    let out = build(&Project::at(&root), &options()).expect("the init app builds");
    let m = &out.manifest;
    assert!(m.problems().is_empty(), "{:?}", m.problems());
    let names: Vec<_> = m.resources.keys().map(String::as_str).collect();
    assert_eq!(names, ["api", "cpu-worker", "gpu-worker"]);
    assert_eq!(m.resources["api"].makes_remote_calls, Some(true));
    assert_eq!(m.resources["cpu-worker"].makes_remote_calls, Some(false));
    assert_eq!(m.resources["gpu-worker"].makes_remote_calls, Some(false));
    assert!(m.resources["gpu-worker"].gpu_ids.is_some());
    assert!(m.resources["cpu-worker"].instance_ids.is_some());
    assert_eq!(
        m.routes.as_ref().expect("routes")["api"]["POST /analyze"],
        "analyze"
    );
    assert!(out.artifact_size > 0);
}
