//! # flash-boot
//!
//! What a Flash-for-Rust worker image runs first. Runpod mounts the environment's active build
//! artifact into every worker (at [`DEFAULT_ARTIFACT_MOUNT`], or where
//! [`FLASH_BUILD_ARTIFACT_PATH`] says); this step unpacks it into the app directory
//! ([`DEFAULT_APP_DIR`] or [`FLASH_APP_DIR`]) with the checks of
//! [`flash_contract::artifact`] (traversal, links, devices, size), refuses an artifact built for
//! another OS or architecture, and then execs the manifest's entrypoint with the worker's env
//! (plus `FLASH_MANIFEST_PATH`), in the app directory.
//!
//! A missing or partial artifact (the mount may still be filling) is retried a few times with a
//! log line each; every failure ends as one line on stderr and a non-zero exit, never a hang.
//!
//! [`DEFAULT_ARTIFACT_MOUNT`]: flash_contract::files::DEFAULT_ARTIFACT_MOUNT
//! [`DEFAULT_APP_DIR`]: flash_contract::files::DEFAULT_APP_DIR
//! [`FLASH_BUILD_ARTIFACT_PATH`]: flash_contract::env::FLASH_BUILD_ARTIFACT_PATH
//! [`FLASH_APP_DIR`]: flash_contract::env::FLASH_APP_DIR

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use flash_contract::artifact::{self, ArtifactError, UnpackLimits, Unpacked};
use flash_contract::{env, files};

/// Env var overriding how many times a missing or partial artifact is tried (default 5).
pub const FLASH_BOOT_ATTEMPTS: &str = "FLASH_BOOT_ATTEMPTS";
/// Env var overriding the largest unpacked size in bytes (default [`UnpackLimits::default`]).
pub const FLASH_BOOT_MAX_UNPACKED_BYTES: &str = "FLASH_BOOT_MAX_UNPACKED_BYTES";

/// What the boot step does.
#[derive(Debug, Clone)]
pub struct BootConfig {
    /// The artifact the platform mounted.
    pub artifact: PathBuf,
    /// Where to unpack it.
    pub app_dir: PathBuf,
    /// Tries of a missing or partial artifact.
    pub attempts: u32,
    /// Pause between tries (doubled each time).
    pub retry_delay: Duration,
    /// Unpack bounds.
    pub limits: UnpackLimits,
}

impl BootConfig {
    /// From the worker's environment, with the platform's defaults.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut limits = UnpackLimits::default();
        if let Some(max) = var(FLASH_BOOT_MAX_UNPACKED_BYTES).and_then(|v| v.trim().parse().ok()) {
            limits.max_bytes = max;
        }
        Self {
            artifact: var(env::FLASH_BUILD_ARTIFACT_PATH)
                .unwrap_or_else(|| files::DEFAULT_ARTIFACT_MOUNT.to_owned())
                .into(),
            app_dir: var(env::FLASH_APP_DIR)
                .unwrap_or_else(|| files::DEFAULT_APP_DIR.to_owned())
                .into(),
            attempts: var(FLASH_BOOT_ATTEMPTS)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(5)
                .max(1),
            retry_delay: Duration::from_millis(500),
            limits,
        }
    }
}

/// Why the boot step stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum BootError {
    /// No artifact at the path after every try.
    Missing {
        /// Where it was looked for.
        path: PathBuf,
        /// How many tries.
        attempts: u32,
    },
    /// The artifact is unreadable or breaks the contract.
    Artifact {
        /// The artifact.
        path: PathBuf,
        /// What is wrong.
        source: ArtifactError,
    },
    /// The artifact was built for another OS or architecture.
    WrongTarget {
        /// The target triple the manifest records.
        artifact: String,
        /// This machine's OS and architecture.
        host: String,
    },
    /// The entrypoint could not be started.
    Exec {
        /// The entrypoint.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { path, attempts } => write!(
                f,
                "no build artifact at {} after {attempts} tries (set {} to where the platform mounts it)",
                path.display(),
                env::FLASH_BUILD_ARTIFACT_PATH
            ),
            Self::Artifact { path, source } => {
                write!(f, "build artifact {}: {source}", path.display())
            }
            Self::WrongTarget { artifact, host } => write!(
                f,
                "the build artifact is for {artifact}, but this worker is {host}: rebuild with `flash build --target` for the worker image's platform"
            ),
            Self::Exec { path, source } => {
                write!(f, "cannot start entrypoint {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for BootError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Artifact { source, .. } => Some(source),
            Self::Exec { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// This machine as `{arch}-{os}` (`x86_64-linux`).
pub fn host() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// Whether a target triple (`x86_64-unknown-linux-gnu`) runs on this machine.
pub fn runs_here(triple: &str) -> bool {
    let mut parts = triple.split('-');
    let arch = parts.next().unwrap_or_default();
    arch == std::env::consts::ARCH && triple.contains(std::env::consts::OS)
}

/// Unpacks and checks the artifact, retrying while it is missing or partial; `log` gets one
/// line per retry.
///
/// # Errors
/// [`BootError`] naming the artifact, entrypoint or targets involved.
pub fn prepare(config: &BootConfig, log: &mut dyn FnMut(&str)) -> Result<Unpacked, BootError> {
    let mut delay = config.retry_delay;
    for attempt in 1..=config.attempts {
        let last = attempt == config.attempts;
        if !config.artifact.is_file() {
            if last {
                return Err(BootError::Missing {
                    path: config.artifact.clone(),
                    attempts: config.attempts,
                });
            }
            log(&format!(
                "no build artifact at {} yet (try {attempt} of {}); waiting {} ms",
                config.artifact.display(),
                config.attempts,
                delay.as_millis()
            ));
        } else {
            match artifact::unpack(&config.artifact, &config.app_dir, config.limits) {
                Ok(unpacked) => {
                    if let Some(target) = unpacked.target()
                        && !runs_here(target)
                    {
                        return Err(BootError::WrongTarget {
                            artifact: target.to_owned(),
                            host: host(),
                        });
                    }
                    return Ok(unpacked);
                }
                Err(error) if error.is_incomplete() && !last => log(&format!(
                    "build artifact {} is incomplete ({error}; try {attempt} of {}); waiting {} ms",
                    config.artifact.display(),
                    config.attempts,
                    delay.as_millis()
                )),
                Err(source) => {
                    return Err(BootError::Artifact {
                        path: config.artifact.clone(),
                        source,
                    });
                }
            }
        }
        std::thread::sleep(delay);
        delay = delay.saturating_mul(2).min(Duration::from_secs(5));
    }
    Err(BootError::Missing {
        path: config.artifact.clone(),
        attempts: config.attempts,
    })
}

/// Replaces this process with the entrypoint of `unpacked` (its working directory the app
/// directory, `FLASH_MANIFEST_PATH` set, the rest of the env as it is). Returns only on failure.
pub fn exec(unpacked: &Unpacked) -> BootError {
    let mut command = std::process::Command::new(&unpacked.entrypoint);
    command
        .current_dir(&unpacked.dir)
        .env(env::FLASH_MANIFEST_PATH, &unpacked.manifest_path);
    #[cfg(unix)]
    let source = {
        use std::os::unix::process::CommandExt;
        command.exec()
    };
    #[cfg(not(unix))]
    let source = match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(error) => error,
    };
    BootError::Exec {
        path: unpacked.entrypoint.clone(),
        source,
    }
}

/// The whole boot step, as the image's entrypoint runs it (`flash-boot`, or `flash boot`):
/// [`BootConfig::from_env`], [`prepare`], [`exec`]. Returns only on failure, after printing one
/// `flash-boot: ...` line per retry and one for the failure on stderr.
pub fn run() -> std::process::ExitCode {
    if let Err(message) = exit_with_parent() {
        eprint_line(&format!("flash-boot: {message}"));
        return std::process::ExitCode::FAILURE;
    }
    let config = BootConfig::from_env();
    let mut log = |line: &str| eprint_line(&format!("flash-boot: {line}"));
    let error = match prepare(&config, &mut log) {
        Ok(unpacked) => exec(&unpacked),
        Err(error) => error,
    };
    eprint_line(&format!("flash-boot: {error}"));
    std::process::ExitCode::FAILURE
}

/// With [`env::FLASH_EXIT_WITH_PARENT`] set to the pid of the process that started us, asks
/// the kernel for SIGTERM when that process dies (the request survives the `exec` of the
/// worker), then checks it is still our parent: had it died before the request, no signal
/// would ever come.
fn exit_with_parent() -> Result<(), String> {
    let Some(value) = std::env::var(env::FLASH_EXIT_WITH_PARENT)
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(());
    };
    let parent: u32 = value.trim().parse().map_err(|_| {
        format!(
            "{} must be a process id, got {value:?}",
            env::FLASH_EXIT_WITH_PARENT
        )
    })?;
    #[cfg(target_os = "linux")]
    {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
            .map_err(|e| format!("cannot tie this worker to process {parent}: {e}"))?;
        let actual =
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get().unsigned_abs());
        if actual != parent {
            return Err(format!(
                "the process that started this worker ({parent}) is gone; not starting"
            ));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    Ok(())
}

/// One line on stderr; a closed stderr is not a reason to panic (the boot step's only channel).
fn eprint_line(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
