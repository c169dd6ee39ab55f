//! How an endpoint's workers start: its template's image decides, as on Runpod.
//!
//! | image ([`ImageKind::of`]) | what the emulator runs |
//! |---|---|
//! | a Flash-for-Rust image (`flash-rs-worker-cpu`/`-gpu`, any registry and tag) | the image's boot step ([`BootCommand`]: `flash-boot`, or `flash boot`), which unpacks the worker's mounted artifact and execs the manifest's `entrypoint` |
//! | a Python Flash queue image (`runpod/flash`, `runpod/flash-cpu`, any tag) | what the image's `python handler.py` does, with a local Python ([below](#python-flash-images)): the artifact unpacked into the app directory, then `python -m flash_emulator_handler`, which loads the build's generated `handler_<FLASH_RESOURCE_NAME>.py` and runs `runpod.serverless.start` with its `handler` |
//! | a Python Flash load-balancer image (`runpod/flash-lb`, `runpod/flash-lb-cpu`) | what the image's `uvicorn lb_handler:app` does: the artifact unpacked, then `python -m uvicorn flash_emulator_lb_handler:app --host 127.0.0.1 --port $PORT --timeout-keep-alive 600`, serving the FastAPI `app` of `handler_<FLASH_RESOURCE_NAME>.py` (plus `/ping` if it has none) |
//! | anything else | nothing: the endpoint reports "image X cannot run on this machine" and its jobs wait in the queue, as on a Runpod endpoint without capacity |
//!
//! Each worker gets its own directory under `{state_dir}/workers/{worker id}/`: the active
//! build's artifact "mounted" (hard-linked, else copied) at `artifact.tar.gz`, which
//! `FLASH_BUILD_ARTIFACT_PATH` names, and `app/` as `FLASH_APP_DIR`. So unpacking and starting
//! are the production code, a worker keeps the build it started with until it is replaced, and
//! the directory goes when the worker does.
//!
//! # Python Flash images
//!
//! Mirrored from Runpod's image sources (github.com/runpod-workers/flash, worker-flash 1.1-1.4,
//! the generated-handler releases: `Dockerfile` and `Dockerfile-lb` at 0dee75c, `Dockerfile-cpu`
//! at 161eb22, `Dockerfile-lb-cpu` at 23a6f5c, `src/handler.py` at 5446fb5, `src/lb_handler.py`
//! at 0294c6c, `src/unpack_volume.py` at 482ffc2, `src/constants.py` at 3b11e7e; all four
//! images `WORKDIR /app`, the image's own `src/` copied there) and from what runpod-flash
//! 1.21's `flash build`
//! puts in the artifact (`runpod_flash/cli/commands/build.py`,
//! `build_utils/handler_generator.py`, `build_utils/lb_handler_generator.py`): at its root the
//! app's files, `flash_manifest.json`, one generated `handler_<resource>.py` per resource, the
//! `runpod_flash` package itself and the dependencies `pip install --target` vendored.
//!
//! | step | on Runpod (the image) | in the emulator |
//! |---|---|---|
//! | unpack | `maybe_unpack()`: `tarfile` extracts `FLASH_BUILD_ARTIFACT_PATH` (default `/root/.runpod/artifact.tar.gz`) into `/app` | [`flash_contract::artifact::extract`] (the boot step's checked reader and limits, without the Rust entrypoint contract; links are refused) into `{worker dir}/app`, before the process starts |
//! | interpreter | the image's Python 3.12 (3.10-3.13 by tag) with `runpod`, `runpod-flash`, FastAPI and uvicorn installed | [`EmulatorBuilder::python`](crate::EmulatorBuilder::python), else `FLASH_EMULATOR_PYTHON`, else the first `python3` on `PATH` that can import `runpod_flash` and `runpod` (probed once, the answer kept until the emulator stops) |
//! | imports | `/app` first on `sys.path`, then the image's site-packages | working directory `app/`; `PYTHONPATH=app:image` (the app with its vendored dependencies, then the two start scripts standing in for the image's `handler.py`/`lb_handler.py`), in front of the interpreter's site-packages |
//! | queue start | `python handler.py`: load `/app/handler_<FLASH_RESOURCE_NAME>.py`, `runpod.serverless.start({"handler": async wrapper})` | the same, `python -m flash_emulator_handler` (`src/python/flash_emulator_handler.py`) |
//! | LB start | `uvicorn lb_handler:app --host 0.0.0.0 --port 80`; with `FLASH_ENDPOINT_TYPE=lb` the `app` of `handler_<FLASH_RESOURCE_NAME>.py` | the same on `127.0.0.1:$PORT` (`src/python/flash_emulator_lb_handler.py`) |
//!
//! On top of the worker contract's environment (see [`crate::supervisor`]) a Python worker gets
//! what runpod-flash reads that the emulator provides: `FLASH_MANIFEST_PATH`
//! (`app/flash_manifest.json`, `runtime/service_registry.py`), `RUNPOD_REST_API_URL`
//! (`{base}/rest/v1`, `core/urls.py`), `RUNPOD_URL_MIXED_OK=1` (the emulator serves no HAPI or
//! console, whose URLs stay at their defaults), and `PYTHONUNBUFFERED=1` so its log lines arrive
//! as they are printed. Like every worker it leads a process group of its own, which is stopped
//! whole (see [`crate::supervisor`]): the runpod SDK's heartbeat is a process of its own that
//! would otherwise outlive its worker and keep pinging.
//!
//! Without an interpreter the endpoint's `provisionError` names the image and what to install or
//! set, and its jobs wait in the queue. A queue image on a load-balanced endpoint (or the
//! reverse) is refused the same way: it could never become ready. An interpreter of another
//! Python version than the build's `target_python_version` is used anyway, with a log line
//! (vendored compiled packages may then not import). Left out: the image's on-the-fly
//! `pip install` of packages missing from the artifact, the Live Serverless paths (`flash run`:
//! no `FLASH_RESOURCE_NAME`, or an LB image without `FLASH_ENDPOINT_TYPE=lb`), and a template's
//! `dockerArgs` overriding the image command.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use flash_contract::artifact::{self, UnpackLimits};
use flash_contract::images::{self, ImageKind};
use flash_contract::{env, files};

/// Env var naming the boot step program when the builder was given none.
pub const FLASH_BOOT: &str = "FLASH_BOOT";
/// Env var naming the Python interpreter of Python Flash images when the builder was given none
/// ([`EmulatorBuilder::python`](crate::EmulatorBuilder::python)).
pub const FLASH_EMULATOR_PYTHON: &str = "FLASH_EMULATOR_PYTHON";
/// File name of the boot step binary.
const BOOT_BINARY: &str = "flash-boot";
/// The module standing in for the Python queue images' `handler.py`.
const PYTHON_QUEUE_MODULE: &str = "flash_emulator_handler";
/// The module standing in for the Python load-balancer images' `lb_handler.py`.
const PYTHON_LB_MODULE: &str = "flash_emulator_lb_handler";
/// The start scripts written into each Python worker's `image/` directory.
const PYTHON_SCRIPTS: [(&str, &str); 3] = [
    (
        "flash_emulator_parent.py",
        include_str!("python/flash_emulator_parent.py"),
    ),
    (
        "flash_emulator_handler.py",
        include_str!("python/flash_emulator_handler.py"),
    ),
    (
        "flash_emulator_lb_handler.py",
        include_str!("python/flash_emulator_lb_handler.py"),
    ),
];
/// Prints the interpreter's `major.minor`, then the modules a Python Flash worker needs that it
/// cannot find (without importing them: a probe must be quick and do nothing).
const PROBE: &str = "import importlib.util, sys\nprint('%d.%d' % sys.version_info[:2])\nprint(' '.join(m for m in ('runpod_flash', 'runpod') if importlib.util.find_spec(m) is None))";
/// Longest wait for the probe of one interpreter.
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

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

/// A Python interpreter that can run Python Flash workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Python {
    /// The program, absolute when it was given as a relative path.
    pub(crate) program: PathBuf,
    /// Its `major.minor` version.
    pub(crate) version: String,
}

/// Finds the interpreter of Python Flash images, once: the builder's, else
/// [`FLASH_EMULATOR_PYTHON`] (read when the emulator starts), else the first `python3` on `PATH`
/// that can import `runpod_flash` and `runpod`. The answer, found or not, is kept until the
/// emulator stops.
#[derive(Debug)]
pub(crate) struct PythonFinder {
    /// The interpreter named, and by what.
    configured: Option<(PathBuf, &'static str)>,
    found: OnceLock<Result<Python, String>>,
}

impl PythonFinder {
    pub(crate) fn new(explicit: Option<PathBuf>) -> Self {
        let configured = explicit
            .map(|p| (p, "EmulatorBuilder::python"))
            .or_else(|| {
                std::env::var_os(FLASH_EMULATOR_PYTHON)
                    .filter(|p| !p.is_empty())
                    .map(|p| (PathBuf::from(p), FLASH_EMULATOR_PYTHON))
            });
        Self {
            configured,
            found: OnceLock::new(),
        }
    }

    /// The interpreter, probed on the first call (blocking; call it from a blocking task).
    pub(crate) fn get(&self) -> Result<&Python, &str> {
        self.found
            .get_or_init(|| self.find())
            .as_ref()
            .map_err(String::as_str)
    }

    fn find(&self) -> Result<Python, String> {
        if let Some((program, source)) = &self.configured {
            let program = if program.components().count() > 1 {
                std::path::absolute(program).unwrap_or_else(|_| program.clone())
            } else {
                program.clone()
            };
            return probe(&program)
                .map_err(|e| format!("{} (from {source}) {e}", program.display()));
        }
        let mut tried: Vec<String> = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        let dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        for dir in dirs {
            let candidate = dir.join("python3");
            if !candidate.is_file() || seen.contains(&candidate) {
                continue;
            }
            seen.push(candidate.clone());
            match probe(&candidate) {
                Ok(python) => return Ok(python),
                Err(e) => tried.push(format!("{} {e}", candidate.display())),
            }
        }
        if tried.is_empty() {
            Err(format!(
                "{FLASH_EMULATOR_PYTHON} is not set and there is no python3 on PATH"
            ))
        } else {
            Err(format!(
                "{FLASH_EMULATOR_PYTHON} is not set, and no python3 on PATH will do: {}",
                tried.join("; ")
            ))
        }
    }
}

/// Runs [`PROBE`] with `program`, in the environment workers get from the emulator's own.
fn probe(program: &Path) -> Result<Python, String> {
    let mut cmd = std::process::Command::new(program);
    cmd.args(["-c", PROBE])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in crate::supervisor::PASSTHROUGH_ENV {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot be run: {e}"))?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot be waited for: {e}")),
        }
    };
    let read = |pipe: Option<&mut dyn Read>| {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    };
    let out = read(child.stdout.as_mut().map(|p| p as &mut dyn Read));
    let err = read(child.stderr.as_mut().map(|p| p as &mut dyn Read));
    if !status.success() {
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("failed ({status}): {last}"));
    }
    let mut lines = out.lines();
    let version = lines.next().unwrap_or_default().trim().to_owned();
    let missing: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "(Python {version}) cannot import {}",
            missing.join(" or ")
        ));
    }
    Ok(Python {
        program: program.to_path_buf(),
        version,
    })
}

/// A Python Flash image's start, with a local interpreter.
#[derive(Debug, Clone)]
pub(crate) struct PythonWorker {
    python: Python,
    /// A load-balancer image: uvicorn serves the generated FastAPI app.
    http: bool,
    /// `{base}/rest/v1`.
    rest_api_url: String,
}

/// How the workers of one endpoint start.
#[derive(Debug, Clone)]
pub(crate) enum Launcher {
    /// The Flash-for-Rust boot step.
    Boot(BootCommand),
    /// A Python Flash image's start sequence (see the module docs).
    Python(PythonWorker),
}

impl Launcher {
    /// The command that starts a worker in `dir`, listening on `port` if it is load-balanced
    /// (its environment is set by the caller, then extended with [`Launcher::env`]).
    pub(crate) fn command(&self, dir: &WorkerDir, port: Option<u16>) -> tokio::process::Command {
        match self {
            Self::Boot(boot) => {
                let mut cmd = tokio::process::Command::new(&boot.program);
                cmd.args(&boot.args).current_dir(&dir.root);
                cmd
            }
            Self::Python(py) => {
                let mut cmd = tokio::process::Command::new(&py.python.program);
                cmd.current_dir(&dir.app);
                if py.http {
                    // The image: `uvicorn lb_handler:app --host 0.0.0.0 --port 80
                    // --timeout-keep-alive 600`; here on loopback and the worker's port.
                    let port = port.map_or_else(|| "80".to_owned(), |p| p.to_string());
                    cmd.args(["-m", "uvicorn", &format!("{PYTHON_LB_MODULE}:app")])
                        .args(["--host", "127.0.0.1", "--port", &port])
                        .args(["--timeout-keep-alive", "600"]);
                } else {
                    // The image: `python handler.py` in /app.
                    cmd.args(["-m", PYTHON_QUEUE_MODULE]);
                }
                cmd
            }
        }
    }

    /// The env vars this kind of worker gets on top of the worker contract's.
    pub(crate) fn env(&self, dir: &WorkerDir) -> Vec<(&'static str, OsString)> {
        let mut vars: Vec<(&'static str, OsString)> = dir.env().into();
        if let Self::Python(py) = self {
            let path = std::env::join_paths([&dir.app, &dir.image()])
                .unwrap_or_else(|_| dir.app.clone().into_os_string());
            vars.extend([
                ("PYTHONPATH", path),
                ("PYTHONUNBUFFERED", "1".into()),
                (
                    env::FLASH_MANIFEST_PATH,
                    dir.app.join(files::MANIFEST_FILE).into_os_string(),
                ),
                (env::RUNPOD_REST_API_URL, py.rest_api_url.clone().into()),
                ("RUNPOD_URL_MIXED_OK", "1".into()),
            ]);
        }
        vars
    }

    /// Whether [`Launcher::prepare`] has work to do before the process starts.
    pub(crate) fn prepares(&self) -> bool {
        matches!(self, Self::Python(_))
    }

    /// What is done before the process starts, blocking (the Python images unpack the artifact
    /// before they import anything). Returns lines worth logging.
    pub(crate) fn prepare(&self, dir: &WorkerDir, resource: &str) -> Result<Vec<String>, String> {
        let Self::Python(py) = self else {
            return Ok(Vec::new());
        };
        artifact::extract(&dir.artifact, &dir.app, UnpackLimits::default())
            .map_err(|e| format!("cannot unpack the build artifact: {e}"))?;
        let image = dir.image();
        std::fs::create_dir_all(&image)
            .map_err(|e| format!("cannot create {}: {e}", image.display()))?;
        for (name, text) in PYTHON_SCRIPTS {
            let path = image.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let manifest: Option<serde_json::Value> = std::fs::read(dir.app.join(files::MANIFEST_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let target = manifest.as_ref().and_then(|m| {
            m.get("resources")
                .and_then(|r| r.get(resource))
                .and_then(|r| r.get("target_python_version"))
                .or_else(|| m.get("python_version"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        });
        Ok(match target {
            Some(target) if target != py.python.version => vec![format!(
                "the build targets Python {target}, the image's; this worker runs {} (Python {}), so vendored compiled packages may not import",
                py.python.program.display(),
                py.python.version
            )],
            _ => Vec::new(),
        })
    }
}

impl std::fmt::Display for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Boot(boot) => write!(f, "the boot step {}", boot.program.display()),
            Self::Python(py) => write!(
                f,
                "Python {} ({})",
                py.python.version,
                py.python.program.display()
            ),
        }
    }
}

/// What the launcher of an endpoint needs from the emulator's settings.
pub(crate) struct LaunchContext<'a> {
    pub(crate) boot: Option<&'a BootCommand>,
    pub(crate) python: &'a PythonFinder,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base_url: &'a str,
}

/// The launcher for `image` on a queue or load-balanced endpoint, or why this machine cannot
/// run it (for a Python image, this may probe for an interpreter: blocking).
pub(crate) fn launcher(
    image: Option<&str>,
    load_balanced: bool,
    ctx: &LaunchContext<'_>,
) -> Result<Launcher, String> {
    let image = image.unwrap_or_default();
    match ImageKind::of(image) {
        ImageKind::FlashRust => ctx.boot.cloned().map(Launcher::Boot).ok_or_else(|| {
            format!(
                "image {image} needs the boot step `{BOOT_BINARY}`, which was not found (build it with `cargo build -p flash-boot`, or set {FLASH_BOOT} to its path)"
            )
        }),
        ImageKind::FlashPython => {
            let http = images::is_python_flash_lb(image);
            if http && !load_balanced {
                return Err(format!(
                    "image {image} is a load-balancer image (it serves HTTP and takes no queue jobs), but the endpoint is a queue endpoint; use runpod/flash or runpod/flash-cpu; its jobs wait in the queue"
                ));
            }
            if !http && load_balanced {
                return Err(format!(
                    "image {image} is a queue image (it takes queue jobs and serves no HTTP), but the endpoint is load-balanced; use runpod/flash-lb or runpod/flash-lb-cpu"
                ));
            }
            let python = ctx.python.get().map_err(|e| {
                format!(
                    "image {image} runs Python Flash workers, which need a Python interpreter with runpod-flash installed: {e}. Install one (`python3 -m venv VENV && VENV/bin/pip install 'runpod-flash==1.21.*'`) and set {FLASH_EMULATOR_PYTHON}=VENV/bin/python (or pass EmulatorBuilder::python), then restart the emulator; its jobs wait in the queue"
                )
            })?;
            Ok(Launcher::Python(PythonWorker {
                python: python.clone(),
                http,
                rest_api_url: format!("{}/rest/v1", ctx.base_url),
            }))
        }
        _ => Err(format!(
            "image {image} cannot run on this machine (the emulator runs the Flash-for-Rust images {}, {} and Runpod's Python Flash images {}); its jobs wait in the queue",
            images::CPU_REPOSITORY,
            images::GPU_REPOSITORY,
            images::PYTHON_FLASH_REPOSITORIES.join(", "),
        )),
    }
}

/// A worker's directory: its mounted artifact and app directory.
#[derive(Debug, Clone)]
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

    /// Where a Python worker's start scripts go (the image's own files, beside `app/`).
    pub(crate) fn image(&self) -> PathBuf {
        self.root.join("image")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in interpreter: a script answering the probe with `answer`.
    fn fake_python(dir: &Path, name: &str, answer: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\nprintf '{answer}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn ctx(python: &PythonFinder) -> LaunchContext<'_> {
        LaunchContext {
            boot: None,
            python,
            base_url: "http://127.0.0.1:9",
        }
    }

    #[test]
    fn python_images_run_with_the_interpreter_found() {
        let dir = tempfile::tempdir().unwrap();
        let python = PythonFinder::new(Some(fake_python(dir.path(), "python", "3.12\\n\\n")));
        let queue = launcher(Some("runpod/flash-cpu:py3.12-latest"), false, &ctx(&python)).unwrap();
        let worker = WorkerDir {
            root: dir.path().join("w"),
            artifact: dir.path().join("w/artifact.tar.gz"),
            app: dir.path().join("w/app"),
        };
        let cmd = queue.command(&worker, None);
        let args: Vec<_> = cmd.as_std().get_args().collect();
        assert_eq!(args, ["-m", PYTHON_QUEUE_MODULE]);
        assert_eq!(cmd.as_std().get_current_dir(), Some(worker.app.as_path()));
        let env = queue.env(&worker);
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("PYTHONPATH"),
            Some(std::env::join_paths([worker.app.clone(), worker.image()]).unwrap())
        );
        assert_eq!(
            get(env::RUNPOD_REST_API_URL),
            Some("http://127.0.0.1:9/rest/v1".into())
        );
        assert!(get(env::FLASH_BUILD_ARTIFACT_PATH).is_some());

        let lb = launcher(Some("runpod/flash-lb:py3.12-latest"), true, &ctx(&python)).unwrap();
        let cmd = lb.command(&worker, Some(4321));
        let args: Vec<_> = cmd.as_std().get_args().collect();
        assert_eq!(
            args,
            [
                "-m",
                "uvicorn",
                "flash_emulator_lb_handler:app",
                "--host",
                "127.0.0.1",
                "--port",
                "4321",
                "--timeout-keep-alive",
                "600"
            ]
        );
    }

    #[test]
    fn a_python_image_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let image = Some("runpod/flash:py3.12-latest");
        let absent = PythonFinder::new(Some(dir.path().join("no-such-python")));
        let e = launcher(image, false, &ctx(&absent)).unwrap_err();
        assert!(
            e.contains("no-such-python (from EmulatorBuilder::python) cannot be run"),
            "{e}"
        );
        assert!(e.contains("FLASH_EMULATOR_PYTHON=VENV/bin/python"), "{e}");
        let bare = PythonFinder::new(Some(fake_python(
            dir.path(),
            "bare",
            "3.11\\nrunpod_flash runpod\\n",
        )));
        let e = launcher(image, false, &ctx(&bare)).unwrap_err();
        assert!(
            e.contains("(Python 3.11) cannot import runpod_flash or runpod"),
            "{e}"
        );
        let e = launcher(
            Some("runpod/flash-lb-cpu:py3.12-latest"),
            false,
            &ctx(&bare),
        )
        .unwrap_err();
        assert!(e.contains("is a load-balancer image"), "{e}");
        let e = launcher(image, true, &ctx(&bare)).unwrap_err();
        assert!(e.contains("is a queue image"), "{e}");
    }
}
