//! How an endpoint's workers start: its template's image decides, as on Runpod.
//!
//! | image ([`ImageKind::of`]) | what the emulator runs |
//! |---|---|
//! | a Flash-for-Rust image (`flash-rs-worker-cpu`/`-gpu`, any registry and tag) | the image's boot step ([`BootCommand`]: `flash-boot`, or `flash boot`), which unpacks the worker's mounted artifact and execs the manifest's `entrypoint` |
//! | anything else | nothing: the endpoint reports "image X cannot run on this machine" and its jobs wait in the queue, as on a Runpod endpoint without capacity |
//!
//! Each worker gets its own directory under `{state_dir}/workers/{worker id}/`: the active
//! build's artifact "mounted" (hard-linked, else copied) at `artifact.tar.gz`, which
//! `FLASH_BUILD_ARTIFACT_PATH` names, and `app/` as `FLASH_APP_DIR`. So unpacking and starting
//! are the production code, a worker keeps the build it started with until it is replaced, and
//! the directory goes when the worker does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use flash_contract::images::ImageKind;
use flash_contract::{env, files};

/// Env var naming the boot step program when the builder was given none.
pub const FLASH_BOOT: &str = "FLASH_BOOT";
/// File name of the boot step binary.
const BOOT_BINARY: &str = "flash-boot";

/// The program (and leading arguments) that runs a Flash-for-Rust image's boot step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootCommand {
    /// The program.
    pub program: PathBuf,
    /// Arguments before anything else (`["boot"]` for `flash boot`).
    pub args: Vec<OsString>,
}

impl BootCommand {
    /// `program` with no arguments (`flash-boot`).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
        }
    }

    /// Adds a leading argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Where to find the boot step when the builder was given none: [`FLASH_BOOT`], else a
    /// `flash-boot` beside the running executable or in its parent directory (cargo puts test
    /// binaries in `target/<profile>/deps/`), else on `PATH`.
    pub(crate) fn discover() -> Option<Self> {
        if let Some(program) = std::env::var_os(FLASH_BOOT).filter(|p| !p.is_empty()) {
            return Some(Self::new(program));
        }
        let exe = std::env::current_exe().ok();
        let beside = exe
            .as_deref()
            .and_then(Path::parent)
            .into_iter()
            .flat_map(|dir| [Some(dir), dir.parent()])
            .flatten()
            .map(|dir| dir.join(BOOT_BINARY));
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(BOOT_BINARY));
        beside.chain(on_path).find(|p| p.is_file()).map(Self::new)
    }
}

/// How the workers of one endpoint start.
#[derive(Debug, Clone)]
pub(crate) enum Launcher {
    /// The Flash-for-Rust boot step.
    Boot(BootCommand),
}

impl Launcher {
    /// The command that starts a worker in `dir` (its environment is set by the caller, then
    /// extended with [`Launcher::env`]).
    pub(crate) fn command(&self, dir: &WorkerDir) -> tokio::process::Command {
        match self {
            Self::Boot(boot) => {
                let mut cmd = tokio::process::Command::new(&boot.program);
                cmd.args(&boot.args).current_dir(&dir.root);
                cmd
            }
        }
    }

    /// The env vars this kind of worker gets on top of the worker contract's.
    pub(crate) fn env(&self, dir: &WorkerDir) -> Vec<(&'static str, OsString)> {
        match self {
            Self::Boot(_) => dir.env().into(),
        }
    }
}

impl std::fmt::Display for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Boot(boot) => write!(f, "the boot step {}", boot.program.display()),
        }
    }
}

/// The launcher for `image`, or why this machine cannot run it.
pub(crate) fn launcher(
    image: Option<&str>,
    boot: Option<&BootCommand>,
) -> Result<Launcher, String> {
    let image = image.unwrap_or_default();
    match ImageKind::of(image) {
        ImageKind::FlashRust => boot.cloned().map(Launcher::Boot).ok_or_else(|| {
            format!(
                "image {image} needs the boot step `{BOOT_BINARY}`, which was not found (build it with `cargo build -p flash-boot`, or set {FLASH_BOOT} to its path)"
            )
        }),
        _ => Err(format!(
            "image {image} cannot run on this machine (the emulator runs the Flash-for-Rust images {}, {}); its jobs wait in the queue",
            flash_contract::images::CPU_REPOSITORY,
            flash_contract::images::GPU_REPOSITORY,
        )),
    }
}

/// A worker's directory: its mounted artifact and app directory.
#[derive(Debug)]
pub(crate) struct WorkerDir {
    pub(crate) root: PathBuf,
    pub(crate) artifact: PathBuf,
    pub(crate) app: PathBuf,
}

impl WorkerDir {
    /// Creates `{state_dir}/workers/{pod}/` and mounts `artifact` in it.
    pub(crate) fn mount(state_dir: &Path, pod: &str, artifact: &Path) -> Result<Self, String> {
        let root = state_dir.join("workers").join(pod);
        let file = root.join(
            Path::new(files::DEFAULT_ARTIFACT_MOUNT)
                .file_name()
                .unwrap_or_else(|| "artifact.tar.gz".as_ref()),
        );
        let app = root.join("app");
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        if std::fs::hard_link(artifact, &file).is_err() {
            std::fs::copy(artifact, &file).map_err(|e| {
                format!(
                    "cannot mount {} at {}: {e}",
                    artifact.display(),
                    file.display()
                )
            })?;
        }
        Ok(Self {
            root,
            artifact: file,
            app,
        })
    }

    /// The env vars that point the boot step at this directory.
    pub(crate) fn env(&self) -> [(&'static str, OsString); 2] {
        [
            (env::FLASH_BUILD_ARTIFACT_PATH, self.artifact.clone().into()),
            (env::FLASH_APP_DIR, self.app.clone().into()),
        ]
    }
}

/// Removes a worker's directory (after it exited).
pub(crate) fn remove_worker_dir(root: &Path) {
    if let Err(e) = std::fs::remove_dir_all(root)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %root.display(), error = %e, "cannot remove a worker directory");
    }
}
