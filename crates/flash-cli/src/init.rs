//! `flash init NAME`: a new Flash app with a GPU queue worker, a CPU queue worker and a
//! load-balanced endpoint that calls both.

use std::path::{Path, PathBuf};

/// Where `runpod-flash` is in the checkout this `flash` was built from: its `crates/flash`.
pub fn default_flash_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), |crates| crates.join("flash"))
}

/// How a new app depends on `runpod-flash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlashDependency {
    /// A checkout's `crates/flash`, by path (`--flash-path`, or a `flash` built in a checkout).
    Path(PathBuf),
    /// A registry version (a `flash` installed from a registry: its sources have no checkout
    /// beside them).
    Version(String),
}

impl FlashDependency {
    /// A path to the checkout this `flash` was built from while that checkout is there, else
    /// this `flash`'s own version (the workspace versions its crates together).
    pub fn detect() -> Self {
        Self::detect_in(&default_flash_path())
    }

    fn detect_in(flash_dir: &Path) -> Self {
        let is_runpod_flash = std::fs::read_to_string(flash_dir.join("Cargo.toml"))
            .is_ok_and(|text| text.contains("name = \"runpod-flash\""));
        if is_runpod_flash {
            Self::Path(flash_dir.to_owned())
        } else {
            Self::Version(env!("CARGO_PKG_VERSION").to_owned())
        }
    }

    /// The dependency's value in `Cargo.toml`.
    fn toml(&self) -> String {
        match self {
            // TOML basic strings escape `\` and `"`.
            Self::Path(path) => format!(
                "{{ path = \"{}\" }}",
                path.display()
                    .to_string()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
            ),
            Self::Version(version) => format!("\"{version}\""),
        }
    }

    /// What the README says about it.
    fn note(&self) -> String {
        match self {
            Self::Path(path) => format!(
                "`Cargo.toml` depends on `runpod-flash` by path, on the flash-rs checkout at\n\
                 `{}`. Change that path if you move the app or the checkout\n\
                 (`flash init --flash-path PATH` sets it when creating an app).",
                path.display()
            ),
            Self::Version(version) => format!(
                "`Cargo.toml` depends on `runpod-flash` {version} from crates.io, the version of the\n\
                 `flash` command that created it."
            ),
        }
    }
}

/// Why `flash init` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The directory's name is not a valid Cargo package name.
    #[error(
        "`{name}` is not a valid package name: use letters, digits, `-` and `_`, starting with a letter"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// The directory exists and is not empty.
    #[error("{} already exists and is not empty; pick another name or remove it", dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What `flash init` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOutput {
    /// The new app's directory.
    pub dir: PathBuf,
    /// The package name.
    pub package: String,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
}

/// Creates the app in `dir` (its last component is the package name), depending on
/// `runpod-flash` as `dependency` says. An existing empty directory is used; a non-empty one
/// is refused.
///
/// # Errors
/// [`InitError`].
pub fn init(dir: &Path, dependency: &FlashDependency) -> Result<InitOutput, InitError> {
    let package = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let valid = package
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && package
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(InitError::BadName { name: package });
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(InitError::NotEmpty {
            dir: dir.to_owned(),
        });
    }
    let dependency = match dependency {
        FlashDependency::Path(path) => {
            FlashDependency::Path(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
        }
        version @ FlashDependency::Version(_) => version.clone(),
    };
    let files = [
        (
            "Cargo.toml",
            CARGO_TOML
                .replace("{package}", &package)
                .replace("{flash_dependency}", &dependency.toml()),
        ),
        ("src/main.rs", MAIN_RS.replace("{package}", &package)),
        (
            "README.md",
            README
                .replace("{package}", &package)
                .replace("{flash_dependency_note}", &dependency.note()),
        ),
        (".gitignore", GITIGNORE.to_owned()),
    ];
    let io = |path: &Path, source| InitError::Io {
        path: path.to_owned(),
        source,
    };
    for (rel, text) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    }
    Ok(InitOutput {
        dir: dir.to_owned(),
        package,
        files: files.iter().map(|(rel, _)| (*rel).to_owned()).collect(),
    })
}

const CARGO_TOML: &str = r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
runpod-flash = {flash_dependency}
serde = { version = "1", features = ["derive"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }

# This app is its own workspace, even when created inside another one.
[workspace]
"#;

const MAIN_RS: &str = r#"//! {package}: a Flash app with three endpoints.
//!
//! - `gpu-worker`: a queue endpoint on a GPU that turns text into a (toy) embedding;
//! - `cpu-worker`: a queue endpoint on CPUs that splits text into tokens;
//! - `api`: a load-balanced HTTP endpoint whose `POST /analyze` route calls both.
//!
//! One binary holds every function. Deployed, each endpoint runs it as a worker for its own
//! resource (`serve_if_worker` below), and calls to another resource's functions go over the
//! network; run directly, the calls stay in this process.

use runpod_flash::resource::GpuGroup;
use runpod_flash::{FlashError, Resource, remote};
use serde::{Deserialize, Serialize};

/// A GPU queue worker: scales from zero to two workers.
const GPU: Resource = Resource::queue("gpu-worker")
    .gpu(&[GpuGroup::Any])
    .workers(0, 2);

/// A CPU queue worker.
const CPU: Resource = Resource::queue("cpu-worker")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 2);

/// A load-balanced HTTP endpoint on CPUs.
const API: Resource = Resource::load_balanced("api")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 2);

/// A fixed-size embedding of `text` (a stand-in for a model running on the GPU).
#[remote(GPU)]
async fn embed(text: String) -> Result<Vec<f32>, FlashError> {
    let mut vector = vec![0.0_f32; 8];
    for (i, byte) in text.bytes().enumerate() {
        vector[i % 8] += f32::from(byte) / 255.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    Ok(vector.into_iter().map(|x| x / norm).collect())
}

/// Lower-case words of `text`.
#[remote(CPU)]
async fn tokenize(text: String) -> Result<Vec<String>, FlashError> {
    Ok(text.split_whitespace().map(str::to_lowercase).collect())
}

/// What `POST /analyze` answers.
#[derive(Debug, Serialize, Deserialize)]
struct Analysis {
    tokens: Vec<String>,
    embedding: Vec<f32>,
}

/// `POST /analyze` with `{"text": "..."}`: tokens from the CPU worker, an embedding from the
/// GPU worker, fetched at the same time.
#[remote(API, method = "POST", path = "/analyze")]
async fn analyze(text: String) -> Result<Analysis, FlashError> {
    let (tokens, embedding) = tokio::try_join!(tokenize(text.clone()), embed(text))?;
    Ok(Analysis { tokens, embedding })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // On a worker (FLASH_RESOURCE_NAME set) this serves that resource and never returns.
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    // Run directly: a small client. `cargo run -- some text`.
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let text = if text.is_empty() { "Hello from Flash".to_owned() } else { text };
    match analyze(text).await {
        Ok(analysis) => {
            println!("{analysis:?}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
"#;

const README: &str = r#"# {package}

A [Flash](https://github.com/runpod/flash-rs) app: Rust functions that run on Runpod
serverless endpoints. `src/main.rs` declares three endpoints (resources):

| Resource | Kind | Functions |
|---|---|---|
| `gpu-worker` | queue, GPU | `embed(text)` |
| `cpu-worker` | queue, CPU | `tokenize(text)` |
| `api` | load-balanced (HTTP) | `POST /analyze` -> `analyze(text)`, which calls both workers |

{flash_dependency_note}

## Try it in-process

```sh
cargo run -- some text to analyze
```

Every call stays in this process: no Runpod account needed.

## `flash build`

```sh
flash build              # release build; --profile dev for a faster debug build
```

Compiles the app, asks the binary which `#[remote]` functions it contains, checks them against
the sources, and writes `.flash/flash_manifest.json` (resources, functions, routes, which
resources call others) and `.flash/artifact.tar.gz` (the binary and the manifest: what gets
deployed).

## `flash run`

```sh
flash run
```

Builds, starts a local Runpod emulator, deploys the app to it and prints each endpoint's URL.
Worker logs are streamed with the endpoint's name; Ctrl-C stops everything.

## `flash deploy`

```sh
export RUNPOD_API_KEY=...   # or log in with the Python SDK: ~/.runpod/config.toml
flash deploy
```

Uploads the artifact and creates (or updates) one Runpod endpoint per resource. The `api`
endpoint calls the two workers, so it gets your API key; the workers do not.

## Calling the endpoints

With `URL` the address `flash run` or `flash deploy` printed for each endpoint:

```sh
# The load-balanced endpoint: an HTTP route.
curl -X POST "$API_URL/analyze" \
  -H "Authorization: Bearer $RUNPOD_API_KEY" -H 'Content-Type: application/json' \
  -d '{"text": "Hello from Flash"}'

# A queue endpoint: Runpod's job API, arguments by name under "input".
curl -X POST "$CPU_WORKER_URL/runsync" \
  -H "Authorization: Bearer $RUNPOD_API_KEY" -H 'Content-Type: application/json' \
  -d '{"input": {"text": "Hello from Flash"}}'
```
"#;

const GITIGNORE: &str = "/target\n/.flash\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_names_and_non_empty_directories() {
        let temp = tempfile::tempdir().expect("temp dir");
        let x = FlashDependency::Path("/x".into());
        let bad = init(&temp.path().join("1app"), &x);
        assert!(matches!(bad, Err(InitError::BadName { .. })), "{bad:?}");
        let dir = temp.path().join("app");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("keep.txt"), "mine").expect("write");
        let taken = init(&dir, &x);
        assert!(
            matches!(taken, Err(InitError::NotEmpty { .. })),
            "{taken:?}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).expect("kept"),
            "mine"
        );
    }

    #[test]
    fn writes_the_skeleton() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("my-app");
        let dependency = FlashDependency::Path("/opt/flash-rs/crates/flash".into());
        let out = init(&dir, &dependency).expect("init");
        assert_eq!(out.package, "my-app");
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(cargo.contains("name = \"my-app\""));
        assert!(cargo.contains("runpod-flash = { path = \"/opt/flash-rs/crates/flash\" }"));
        let main = std::fs::read_to_string(dir.join("src/main.rs")).expect("main.rs");
        assert!(main.contains("serve_if_worker"));
        assert_eq!(main.matches("#[remote(").count(), 3);
        let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
        for needle in [
            "flash build",
            "flash run",
            "flash deploy",
            "curl",
            "/opt/flash-rs",
        ] {
            assert!(readme.contains(needle), "{needle}");
        }
        assert!(dir.join(".gitignore").is_file());
        assert!(default_flash_path().join("Cargo.toml").is_file());
    }

    #[test]
    fn a_checkout_gives_a_path_and_a_registry_install_a_version() {
        assert_eq!(
            FlashDependency::detect(),
            FlashDependency::Path(default_flash_path()),
            "built in this checkout"
        );
        // Installed from a registry: the sources sit in `…/flash-cli-0.1.0`, no `flash` beside.
        let registry = tempfile::tempdir().expect("temp dir");
        let version = FlashDependency::detect_in(&registry.path().join("flash"));
        assert_eq!(
            version,
            FlashDependency::Version(env!("CARGO_PKG_VERSION").to_owned())
        );
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().join("from-registry");
        init(&dir, &version).expect("init");
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            cargo.contains(&format!(
                "runpod-flash = \"{}\"\n",
                env!("CARGO_PKG_VERSION")
            )),
            "{cargo}"
        );
        assert!(!cargo.contains("path ="), "{cargo}");
        let readme = std::fs::read_to_string(dir.join("README.md")).expect("README");
        assert!(readme.contains("from crates.io"), "{readme}");
    }
}
