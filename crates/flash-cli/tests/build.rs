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

use flash_cli::build::{BuildError, BuildOptions, BuildOutput, DEFAULT_TARGET, ImageConfig, build};
use flash_cli::project::Project;
use flash_contract::artifact::TARGET_FIELD;
use flash_contract::images::default_image;
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
        // Hermetic: a developer's FLASH_IMAGE_REGISTRY must not change what is asserted.
        image_env: ImageConfig::default(),
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
    fixture_with(name, files, "")
}

/// [`fixture`] with `extra` appended to its Cargo.toml.
fn fixture_with(name: &str, files: &[(&str, String)], extra: &str) -> Project {
    let root = target_dir().join("flash-cli-fixtures").join(name);
    let cargo_toml = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nrunpod-flash = {{ path = \"{}\" }}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\n\
         [workspace]\n{extra}",
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

    // Built for the host, which is what Runpod runs here; a dev build keeps its symbols; no
    // project config: the default images without a registry.
    assert_eq!(m.target.as_deref(), Some(DEFAULT_TARGET));
    assert_eq!(out.target, DEFAULT_TARGET);
    assert!(!out.stripped, "dev builds are not stripped");
    assert_eq!(
        m.resources["fx-gpu"].image_name,
        Some(default_image(true, None))
    );
    for cpu in ["fx-cpu", "fx-api"] {
        assert_eq!(
            m.resources[cpu].image_name,
            Some(default_image(false, None)),
            "{cpu}"
        );
    }

    // The file on disk is the same manifest, and it loads with validation.
    let saved = Manifest::from_path(&out.manifest_path).expect("valid manifest on disk");
    assert_eq!(&saved, m);
}

/// The names of an ELF64 little-endian file's sections.
fn elf_sections(bytes: &[u8]) -> Vec<String> {
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().expect("2 bytes"));
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| {
        usize::try_from(u64::from_le_bytes(
            bytes[at..at + 8].try_into().expect("8 bytes"),
        ))
        .expect("fits")
    };
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!((bytes[4], bytes[5]), (2, 1), "ELF64, little-endian");
    let (shoff, shentsize, shnum, shstrndx) = (
        u64_at(0x28),
        usize::from(u16_at(0x3a)),
        usize::from(u16_at(0x3c)),
        usize::from(u16_at(0x3e)),
    );
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(header(shstrndx) + 0x18);
    (0..shnum)
        .map(|i| {
            let start = strtab + u32_at(header(i)) as usize;
            let end = bytes[start..]
                .iter()
                .position(|&b| b == 0)
                .map_or(bytes.len(), |n| start + n);
            String::from_utf8_lossy(&bytes[start..end]).into_owned()
        })
        .collect()
}

fn packed_binary(out: &BuildOutput, name: &str) -> Vec<u8> {
    let artifact = std::fs::read(&out.artifact_path).expect("artifact");
    entries(&artifact)
        .into_iter()
        .find(|(path, _, _)| path == &format!("bin/{name}"))
        .map(|(_, _, bytes)| bytes)
        .expect("the executable is packed")
}

/// What `flash build` (release, the default) of examples/01_hello_world packs is what a Runpod
/// worker runs: an x86_64 Linux executable without a symbol table, a manifest recording that
/// target and the image the endpoint gets. Built into the shared target dir, so `cargo build
/// --release` of the examples (or `flash-bench sizes`) reuses its dependencies.
#[test]
fn hello_world_release_build_is_what_runpod_runs() {
    let root = manifest_dir().join("../../examples/01_hello_world");
    let project = Project::at(std::fs::canonicalize(root).expect("the example exists"));
    let out = build(
        &project,
        &BuildOptions {
            profile: "release".to_owned(),
            ..options()
        },
    )
    .expect("01_hello_world builds");
    assert_eq!(out.target, "x86_64-unknown-linux-gnu");
    assert!(out.stripped);
    let m = &out.manifest;
    assert_eq!(m.target.as_deref(), Some("x86_64-unknown-linux-gnu"));
    let gpu_image = default_image(true, None);
    assert_eq!(
        m.resources["gpu_worker"].image_name.as_deref(),
        Some(gpu_image.as_str())
    );

    // The packed manifest says the same, under the key the boot step reads.
    let artifact = std::fs::read(&out.artifact_path).expect("artifact");
    let packed = entries(&artifact)
        .into_iter()
        .find(|(path, _, _)| path == "flash_manifest.json")
        .expect("manifest packed");
    let packed: serde_json::Value = serde_json::from_slice(&packed.2).expect("JSON");
    assert_eq!(packed[TARGET_FIELD], "x86_64-unknown-linux-gnu");
    assert_eq!(packed["resources"]["gpu_worker"]["imageName"], gpu_image);

    let binary = packed_binary(&out, "flash-example-hello-world");
    assert_eq!(binary.len() as u64, out.binary_size);
    assert_eq!(
        u16::from_le_bytes([binary[18], binary[19]]),
        62,
        "e_machine x86_64"
    );
    let sections = elf_sections(&binary);
    assert!(sections.iter().any(|s| s == ".text"), "{sections:?}");
    assert!(
        !sections.iter().any(|s| s == ".symtab"),
        "stripped: no symbol table in {sections:?}"
    );
}

const IMAGES_MAIN: &str = r#"use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("img-gpu");
const CPU: Resource = Resource::queue("img-cpu").cpu(&["cpu3c-1-2"]);
const OWN: Resource = Resource::queue("img-own").cpu(&["cpu3c-1-2"]).image("me/own:1");

#[remote(GPU)]
async fn on_gpu() -> Result<(), FlashError> {
    Ok(())
}

#[remote(CPU)]
async fn on_cpu() -> Result<(), FlashError> {
    Ok(())
}

#[remote(OWN)]
async fn on_own() -> Result<(), FlashError> {
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    std::process::ExitCode::SUCCESS
}
"#;

/// `[package.metadata.flash]` decides the images of resources that name none; the environment
/// (`BuildOptions::image_env`) wins over it; a resource's own image wins over both; an unknown
/// key is a warning naming it. The symbols of a dev build stay.
#[test]
fn project_config_and_environment_decide_the_images() {
    let project = fixture_with(
        "fx-images",
        &[("src/main.rs", IMAGES_MAIN.to_owned())],
        "\n[package.metadata.flash]\nimage-registry = \"docker.io/me\"\ngpu-image = \"ghcr.io/me/gpu:7\"\nimage_registry = \"typo\"\n",
    );
    let out = build(&project, &options()).expect("builds");
    let image = |out: &BuildOutput, resource: &str| {
        out.manifest.resources[resource]
            .image_name
            .clone()
            .expect("every resource has an image")
    };
    let tag = flash_contract::images::DEFAULT_TAG;
    assert_eq!(image(&out, "img-gpu"), "ghcr.io/me/gpu:7");
    assert_eq!(
        image(&out, "img-cpu"),
        format!("docker.io/me/flash-rs-worker-cpu:{tag}")
    );
    assert_eq!(image(&out, "img-own"), "me/own:1");
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(
        out.warnings[0].contains("Cargo.toml")
            && out.warnings[0].contains("`image_registry`")
            && out.warnings[0].contains("did you mean `image-registry`?"),
        "{:?}",
        out.warnings
    );
    let sections = elf_sections(&packed_binary(&out, "fx-images"));
    assert!(sections.iter().any(|s| s == ".symtab"), "{sections:?}");

    let env = BuildOptions {
        image_env: ImageConfig {
            registry: Some("quay.io/env".to_owned()),
            ..ImageConfig::default()
        },
        ..options()
    };
    let out = build(&project, &env).expect("builds again");
    assert_eq!(
        image(&out, "img-cpu"),
        format!("quay.io/env/flash-rs-worker-cpu:{tag}"),
        "FLASH_IMAGE_REGISTRY wins over image-registry"
    );
    assert_eq!(
        image(&out, "img-gpu"),
        "ghcr.io/me/gpu:7",
        "a full name wins over a registry"
    );
    assert_eq!(image(&out, "img-own"), "me/own:1");
}

/// A value of the wrong type under `[package.metadata.flash]` stops the build before cargo
/// compiles anything, naming Cargo.toml and the key.
#[test]
fn a_wrong_config_type_fails_before_compiling() {
    let project = fixture_with(
        "fx-bad-config",
        &[("src/main.rs", IMAGES_MAIN.to_owned())],
        "\n[package.metadata.flash]\ncpu-image = 3\n",
    );
    let error = build(&project, &options()).expect_err("a number is not an image");
    match &error {
        BuildError::Config { manifest, key, .. } => {
            assert!(
                manifest.ends_with("fx-bad-config/Cargo.toml"),
                "{manifest:?}"
            );
            assert_eq!(key, "package.metadata.flash.cpu-image");
        }
        other => panic!("expected Config, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .contains("must be a string, not an integer")
    );
    assert!(
        !target_dir().join("debug").join("fx-bad-config").exists(),
        "nothing was compiled"
    );
}

/// A target whose standard library is not installed is refused before compiling, with the
/// rustup command that installs it.
#[test]
fn a_target_not_installed_names_the_rustup_command() {
    let project = fixture("fx-target", &[("src/main.rs", IMAGES_MAIN.to_owned())]);
    let target = "riscv64gc-unknown-linux-gnu";
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .expect("rustc runs");
    if sysroot.join("lib/rustlib").join(target).exists() {
        return; // Installed here: nothing to refuse.
    }
    let error = build(
        &project,
        &BuildOptions {
            target: target.to_owned(),
            ..options()
        },
    )
    .expect_err("not installed");
    assert!(
        matches!(&error, BuildError::TargetNotInstalled { target: t, .. } if t == target),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("rustup target add riscv64gc-unknown-linux-gnu"),
        "{error}"
    );
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
    flash_cli::init::init(
        &fresh,
        &flash_cli::init::FlashDependency::Path(flash_path()),
    )
    .expect("init");
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
