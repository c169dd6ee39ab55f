//! Worker processes: what they are started with, scaling, crash handling and timeouts.
//!
//! # The worker environment
//!
//! A worker is started the way its image starts it (see [`crate::launch`]): for a
//! Flash-for-Rust image, the boot step, which unpacks the worker's own mounted copy of the
//! active build and execs the manifest's `entrypoint`; for a Python Flash image, a local Python
//! running the build's generated handler once the emulator has unpacked the artifact (the
//! worker is initializing meanwhile; an artifact that cannot be unpacked is a boot failure).
//! Its environment is **cleared** and holds only `PATH`, `HOME`, `TMPDIR`, `LANG`, `RUST_LOG`
//! and `RUST_BACKTRACE` from the emulator's own, then the template's `env`, then these (which
//! win over the template's, except `FLASH_RESOURCE_NAME`):
//!
//! | Variable | Value |
//! |---|---|
//! | `FLASH_RESOURCE_NAME` | the template env's value if it has one, else the endpoint name |
//! | `RUNPOD_ENDPOINT_ID` | the endpoint id |
//! | `RUNPOD_POD_ID`, `RUNPOD_POD_HOSTNAME` | the worker id |
//! | `RUNPOD_WEBHOOK_GET_JOB` | `{base}/v2/{EP}/job-take/$ID?gpu=emulator` |
//! | `RUNPOD_WEBHOOK_POST_OUTPUT` | `{base}/v2/{EP}/job-done/$RUNPOD_POD_ID/$ID?gpu=emulator` |
//! | `RUNPOD_WEBHOOK_POST_STREAM` | `{base}/v2/{EP}/job-stream/$RUNPOD_POD_ID/$ID?gpu=emulator` |
//! | `RUNPOD_WEBHOOK_PING` | `{base}/v2/{EP}/ping/$RUNPOD_POD_ID?gpu=emulator` |
//! | `RUNPOD_AI_API_KEY` | the endpoint's `aiKey` |
//! | `RUNPOD_PING_INTERVAL` | heartbeat period in ms (builder setting, default 10000) |
//! | `FLASH_ENVIRONMENT_ID`, `FLASH_APP`, `FLASH_ENV` | the environment id, app name, environment name |
//! | `FLASH_BUILD_ARTIFACT_PATH` | the worker's mounted artifact, `{state_dir}/workers/{worker id}/artifact.tar.gz` |
//! | `FLASH_APP_DIR` | `{state_dir}/workers/{worker id}/app` (the boot step then sets `FLASH_MANIFEST_PATH`) |
//! | `FLASH_BIND_ADDRESS` | `127.0.0.1`: a worker's listeners are never reachable from the network |
//! | `RUNPOD_API_BASE_URL` | `{base}` (GraphQL at `{base}/graphql`) |
//! | `RUNPOD_ENDPOINT_BASE_URL` | `{base}/v2` |
//! | `PORT`, `PORT_HEALTH` | LB endpoints only: a free loopback port (both the same) |
//! | `FLASH_VOLUME_PATH` | only with a network volume: its directory (Runpod mounts it at `/runpod-volume`) |
//! | `RUNPOD_SKIP_AUTO_SYSTEM_CHECKS`, `RUNPOD_SKIP_GPU_CHECK` | `true` (emulator only: keeps the Python SDK worker offline) |
//!
//! `RUNPOD_API_KEY` is present only when the template env has it. Python workers also get
//! `PYTHONPATH`, `PYTHONUNBUFFERED`, `FLASH_MANIFEST_PATH`, `RUNPOD_REST_API_URL` and
//! `RUNPOD_URL_MIXED_OK` ([`crate::launch`] says why).
//!
//! # Scaling
//!
//! Every tick the supervisor wants `clamp(max(workersMin, demand), 0, workersMax)` workers, where
//! demand is queued + in-progress jobs (queue endpoints) or in-flight requests (LB endpoints). A
//! worker idle for `idleTimeout` seconds is stopped while there are more than wanted. A worker
//! that exits unasked is a crash: its jobs go back to the front of the queue and a new worker is
//! started on a later tick (at least 500 ms after the crash). A worker that exits before it is
//! ready (before its first job-take or ping, or its first healthy `/ping` for LB endpoints)
//! failed to boot: the endpoint's `provisionError` carries its exit status and last stderr
//! line, the next start waits twice as long each time (500 ms up to 30 s), and after
//! [`BOOT_GIVE_UP`] boot failures in a row the endpoint's queued jobs end `FAILED` with that
//! reason (callers get an answer instead of waiting forever); jobs submitted later wait for the
//! next start and fail the same way if it fails too. A worker that becomes ready resets the
//! count. Jobs past their execution timeout
//! (`policy.executionTimeout`, else the endpoint's `executionTimeoutMs`, else 600 s) end as
//! `TIMED_OUT` and are sent to the worker's job-stop.
//!
//! # Builds and rolling releases
//!
//! A worker runs the build that is its environment's active build when it starts: its boot step
//! (or the emulator, for a Python image) unpacks it then, not when it is activated.
//! `deployBuildToEnvironment` does not restart workers, as on Runpod; a version-triggering change
//! of the endpoint (its template, or what and where its workers run) replaces them: idle workers
//! of an older version are stopped at once, busy ones when their job is done, and new ones start
//! from the active build. When a worker cannot be started (no build, an image this machine cannot
//! run, no boot step, no Python), the endpoint's `provisionError` says why, the failure is logged
//! once (a `tracing` warning and a stderr log line with worker id `supervisor`), and the start is
//! retried a second later or after the next `saveEndpoint` / `deployBuildToEnvironment`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flash_contract::env;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::artifacts;
use crate::core::{Core, EndpointRt, Worker, WorkerPhase};
use crate::launch::{self, Launcher, WorkerDir};
use crate::state_store::Endpoint;
use crate::{LogLine, LogStream, ids};

/// Variables copied from the emulator's own environment into workers.
pub(crate) const PASSTHROUGH_ENV: [&str; 8] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "RUST_LOG",
    "RUST_BACKTRACE",
    // Local workers export their spans where the local run does.
    env::OTEL_EXPORTER_OTLP_ENDPOINT,
    env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
];
/// Minimum delay between a crash and the replacement worker.
const CRASH_BACKOFF: Duration = Duration::from_millis(500);
/// Longest delay between boot failures (the delay doubles from [`CRASH_BACKOFF`]).
const MAX_BOOT_BACKOFF: Duration = Duration::from_secs(30);
/// Boot failures in a row after which an endpoint's queued jobs fail.
pub const BOOT_GIVE_UP: u32 = 5;
/// Longest worker log line kept; the rest of a longer line is cut (and counted).
pub const MAX_LOG_LINE: usize = 64 * 1024;
/// Minimum delay between a failed worker start (e.g. a broken artifact) and the next attempt.
const LAUNCH_RETRY: Duration = Duration::from_secs(1);
/// `LogLine::worker_id` of the lines the supervisor itself emits (worker start failures).
pub const SUPERVISOR_LOG_ID: &str = "supervisor";

/// What a worker of an endpoint is started from.
#[derive(Debug, Clone)]
pub(crate) struct LaunchSpec {
    pub(crate) launcher: Launcher,
    /// The active build's uploaded artifact, mounted into each worker.
    pub(crate) artifact: std::path::PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) endpoint_name: String,
    pub(crate) version: i32,
    pub(crate) load_balanced: bool,
}

/// Resolves endpoint → image → launcher, and endpoint → environment → active build → artifact,
/// and the env vars common to all its workers.
pub(crate) fn launch_spec(core: &Core, ep: &Endpoint) -> Result<LaunchSpec, String> {
    let image = {
        let store = core.store();
        ep.template_id
            .as_ref()
            .and_then(|t| store.templates.get(t))
            .and_then(|t| t.image_name.clone())
    };
    // Outside the store lock: finding a Python interpreter may run one.
    let ctx = launch::LaunchContext {
        boot: core.settings.boot.as_ref(),
        python: &core.settings.python,
        base_url: &core.settings.base_url,
    };
    let launcher = launch::launcher(image.as_deref(), ep.load_balanced(), &ctx)
        .map_err(|e| format!("endpoint {}: {e}", ep.name))?;
    let (object_key, build_id, mut env, env_id) = {
        let store = core.store();
        let template = ep.template_id.as_ref().and_then(|t| store.templates.get(t));
        let env_id = ep.flash_environment_id.clone().ok_or_else(|| {
            format!(
                "endpoint {} ({}) has no flashEnvironmentId, so no build to run",
                ep.name, ep.id
            )
        })?;
        let environment = store.environments.get(&env_id).ok_or_else(|| {
            format!(
                "endpoint {}: flash environment {env_id} does not exist",
                ep.name
            )
        })?;
        let build_id = environment.active_build_id.clone().ok_or_else(|| {
            format!(
                "endpoint {}: flash environment {env_id} has no active build",
                ep.name
            )
        })?;
        let build = store
            .builds
            .get(&build_id)
            .ok_or_else(|| format!("endpoint {}: build {build_id} does not exist", ep.name))?;
        let app_name = store
            .apps
            .get(&environment.app_id)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let template_env = template.map(|t| t.env.clone()).unwrap_or_default();
        let mut env: Vec<(String, String)> = template_env;
        let resource_name = env
            .iter()
            .find(|(k, _)| k == env::FLASH_RESOURCE_NAME)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| ep.name.clone());
        set(&mut env, env::FLASH_RESOURCE_NAME, resource_name);
        set(&mut env, env::FLASH_APP, app_name);
        set(&mut env, env::FLASH_ENV, environment.name.clone());
        (build.object_key.clone(), build_id, env, env_id)
    };
    let artifact = artifacts::upload_path(&core.settings.state_dir, &object_key);
    if !artifact.is_file() {
        return Err(format!(
            "endpoint {}: build {build_id}: its artifact {} is missing",
            ep.name,
            artifact.display()
        ));
    }
    let base = &core.settings.base_url;
    let plane = &core.settings.worker_plane_url;
    let epid = &ep.id;
    let vars = [
        (env::RUNPOD_ENDPOINT_ID, epid.clone()),
        (
            env::RUNPOD_WEBHOOK_GET_JOB,
            format!("{plane}/v2/{epid}/job-take/$ID?gpu=emulator"),
        ),
        (
            env::RUNPOD_WEBHOOK_POST_OUTPUT,
            format!("{plane}/v2/{epid}/job-done/$RUNPOD_POD_ID/$ID?gpu=emulator"),
        ),
        (
            env::RUNPOD_WEBHOOK_POST_STREAM,
            format!("{plane}/v2/{epid}/job-stream/$RUNPOD_POD_ID/$ID?gpu=emulator"),
        ),
        (
            env::RUNPOD_WEBHOOK_PING,
            format!("{plane}/v2/{epid}/ping/$RUNPOD_POD_ID?gpu=emulator"),
        ),
        (env::RUNPOD_AI_API_KEY, ep.ai_key.clone()),
        (
            env::RUNPOD_PING_INTERVAL,
            core.settings.ping_interval_ms.to_string(),
        ),
        (env::FLASH_ENVIRONMENT_ID, env_id),
        (env::FLASH_BIND_ADDRESS, "127.0.0.1".to_owned()),
        (env::FLASH_EXIT_WITH_PARENT, std::process::id().to_string()),
        (env::RUNPOD_API_BASE_URL, base.clone()),
        (env::RUNPOD_ENDPOINT_BASE_URL, format!("{base}/v2")),
        (env::RUNPOD_SKIP_AUTO_SYSTEM_CHECKS, "true".to_owned()),
        (env::RUNPOD_SKIP_GPU_CHECK, "true".to_owned()),
    ];
    for (k, v) in vars {
        set(&mut env, k, v);
    }
    if let Some(vol) = ep.network_volume_ids.first() {
        let dir = core
            .volume_dir(vol)
            .map_err(|e| format!("endpoint {}: {e}", ep.name))?;
        set(&mut env, env::FLASH_VOLUME_PATH, dir.display().to_string());
    }
    Ok(LaunchSpec {
        launcher,
        artifact,
        env,
        endpoint_name: ep.name.clone(),
        version: ep.version,
        load_balanced: ep.load_balanced(),
    })
}

fn set(env: &mut Vec<(String, String)>, key: &str, value: String) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_owned(), value));
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts one worker of `rt` from `spec`. A launcher with work to do first (a Python image
/// unpacking its artifact) does it in the worker's own task, the worker initializing meanwhile;
/// if that fails, the worker failed to boot.
pub(crate) fn spawn_worker(
    core: &Arc<Core>,
    rt: &Arc<EndpointRt>,
    spec: &LaunchSpec,
) -> Result<(), String> {
    let pod = ids::short(14);
    let fail = |e: String| format!("endpoint {}: worker {pod}: {e}", spec.endpoint_name);
    let dir = WorkerDir::mount(&core.settings.state_dir, &pod, &spec.artifact).map_err(fail)?;
    let port = if spec.load_balanced {
        match free_port() {
            Ok(p) => Some(p),
            Err(e) => {
                launch::remove_worker_dir(&dir.root);
                return Err(fail(format!("no free port: {e}")));
            }
        }
    } else {
        None
    };
    let mut cmd = spec.launcher.command(&dir, port);
    // Its own process group: a stop reaches whatever the worker started, and the terminal's
    // Ctrl-C reaches the emulator only, which then stops workers in order.
    #[cfg(unix)]
    cmd.process_group(0);
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in PASSTHROUGH_ENV {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, v);
        }
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    cmd.envs(spec.launcher.env(&dir));
    cmd.env(env::RUNPOD_POD_ID, &pod)
        .env(env::RUNPOD_POD_HOSTNAME, &pod);
    if let Some(p) = port {
        cmd.env(env::PORT, p.to_string())
            .env(env::PORT_HEALTH, p.to_string());
    }
    if !spec.launcher.prepares() {
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                launch::remove_worker_dir(&dir.root);
                return Err(fail(format!("cannot start {}: {e}", spec.launcher)));
            }
        };
        let kill_rx = register(rt, spec, &pod, child.id(), port);
        let started = Started {
            child,
            kill_rx,
            port,
        };
        supervise(core, rt, &spec.endpoint_name, pod, dir.root, started);
        return Ok(());
    }
    let mut kill_rx = register(rt, spec, &pod, None, port);
    let resource = spec
        .env
        .iter()
        .find(|(k, _)| k == env::FLASH_RESOURCE_NAME)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let (core2, rt2, launcher, name) = (
        Arc::clone(core),
        Arc::clone(rt),
        spec.launcher.clone(),
        spec.endpoint_name.clone(),
    );
    core.track(tokio::spawn(async move {
        let (launcher2, dir2) = (launcher.clone(), dir.clone());
        let prepared = tokio::task::spawn_blocking(move || launcher2.prepare(&dir2, &resource))
            .await
            .unwrap_or_else(|e| Err(format!("preparing the worker failed: {e}")));
        let asked = !matches!(
            kill_rx.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Empty)
        ) || core2.is_shutting_down();
        let not_started = |status: &str, asked: bool, reason: Option<String>| {
            on_exit(&core2, &rt2, &pod, &name, status, asked, reason.as_deref());
            let root = dir.root.clone();
            tokio::task::spawn_blocking(move || launch::remove_worker_dir(&root))
        };
        if asked {
            let _ = not_started("stopped before it started", true, None).await;
            return;
        }
        let notes = match prepared {
            Ok(notes) => notes,
            Err(reason) => {
                let _ = not_started("not started", false, Some(reason)).await;
                return;
            }
        };
        for note in notes {
            tracing::warn!(endpoint = %name, worker = %pod, "{note}");
            supervisor_line(&core2, &rt2, &name, format!("worker {pod}: {note}"));
        }
        match cmd.spawn() {
            Ok(child) => {
                if let Some(w) = rt2.lock().workers.get_mut(&pod) {
                    w.pid = child.id();
                }
                tracing::info!(endpoint = %name, worker = %pod, pid = ?child.id(), "worker process started");
                let started = Started {
                    child,
                    kill_rx,
                    port,
                };
                supervise(&core2, &rt2, &name, pod.clone(), dir.root.clone(), started);
            }
            Err(e) => {
                let reason = format!("cannot start {launcher}: {e}");
                let _ = not_started("not started", false, Some(reason)).await;
            }
        }
    }));
    Ok(())
}

/// Adds an initializing worker of `spec` to `rt`; returns what tells it to stop.
fn register(
    rt: &EndpointRt,
    spec: &LaunchSpec,
    pod: &str,
    pid: Option<u32>,
    port: Option<u16>,
) -> tokio::sync::oneshot::Receiver<()> {
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let mut st = rt.lock();
    let now = Instant::now();
    st.workers.insert(
        pod.to_owned(),
        Worker {
            id: pod.to_owned(),
            pid,
            version: spec.version,
            state: WorkerPhase::Initializing,
            started: now,
            last_active: now,
            last_ping: None,
            polls: 0,
            port,
            managed: true,
            lb_inflight: 0,
            kill: Some(kill_tx),
        },
    );
    drop(st);
    tracing::info!(endpoint = %spec.endpoint_name, worker = %pod, pid = ?pid, "worker started");
    kill_rx
}

/// A worker process just started, leading its own process group.
struct Started {
    child: tokio::process::Child,
    /// Tells it to stop.
    kill_rx: tokio::sync::oneshot::Receiver<()>,
    /// Its port, if it is load-balanced.
    port: Option<u16>,
}

/// Reads a started worker's output, waits for it to exit (or stops it when asked or at
/// shutdown), then removes its directory; health-checks it if it is load-balanced.
fn supervise(
    core: &Arc<Core>,
    rt: &Arc<EndpointRt>,
    endpoint_name: &str,
    pod: String,
    root: std::path::PathBuf,
    started: Started,
) {
    let Started {
        mut child,
        kill_rx,
        port,
    } = started;
    let pid = child.id();
    let last_stderr = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut readers = Vec::new();
    for (stream, reader) in [
        (
            LogStream::Stdout,
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ),
        (
            LogStream::Stderr,
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ),
    ] {
        let Some(reader) = reader else { continue };
        let source = LogSource {
            core: Arc::clone(core),
            endpoint_id: rt.id.clone(),
            endpoint_name: endpoint_name.to_owned(),
            worker_id: pod.clone(),
            stream,
            last: (stream == LogStream::Stderr).then(|| Arc::clone(&last_stderr)),
        };
        readers.push(tokio::spawn(source.read(reader)));
    }
    let (core2, rt2, pod2, name) = (
        Arc::clone(core),
        Arc::clone(rt),
        pod.clone(),
        endpoint_name.to_owned(),
    );
    let mut shutdown = core.shutdown.subscribe();
    core.track(tokio::spawn(async move {
        let (status, asked) = tokio::select! {
            s = child.wait() => (s, false),
            _ = kill_rx => (stop(&mut child, pid).await, true),
            () = crate::core::stopped(&mut shutdown) => (stop(&mut child, pid).await, true),
        };
        // Whatever the worker left running in its group goes with it.
        signal_group(pid, Signal::Kill);
        // The last lines explain an exit; a grandchild holding the pipes open must not hold
        // this up for long.
        for reader in readers {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        let status = status.map_or_else(|e| format!("unknown ({e})"), |s| s.to_string());
        let last = crate::core::lock(&last_stderr).take();
        on_exit(&core2, &rt2, &pod2, &name, &status, asked, last.as_deref());
        let _ = tokio::task::spawn_blocking(move || launch::remove_worker_dir(&root)).await;
    }));
    if let Some(port) = port {
        let (core2, rt2) = (Arc::clone(core), Arc::clone(rt));
        core.track(tokio::spawn(async move {
            health_loop(core2, rt2, pod, port).await
        }));
    }
}

/// How long a worker has between SIGTERM and SIGKILL (Docker's `stop` gives 10 s; the worker
/// runtime finishes or fails its jobs within its own grace period).
pub const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Sends `signal` to the process group the worker `pid` leads; a group already gone is fine.
fn signal_group(pid: Option<u32>, signal: Signal) {
    #[cfg(unix)]
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let signal = match signal {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
        };
        let _ = rustix::process::kill_process_group(pid, signal);
    }
    #[cfg(not(unix))]
    let _ = (pid, signal);
}

/// Stops a worker as a container is stopped: SIGTERM to its group, then SIGKILL after
/// [`STOP_GRACE`].
async fn stop(
    child: &mut tokio::process::Child,
    pid: Option<u32>,
) -> std::io::Result<std::process::ExitStatus> {
    signal_group(pid, Signal::Term);
    #[cfg(not(unix))]
    let _ = child.start_kill();
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(pid, Signal::Kill);
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// One output pipe of a worker, read into [`LogLine`]s.
struct LogSource {
    core: Arc<Core>,
    endpoint_id: String,
    endpoint_name: String,
    worker_id: String,
    stream: LogStream,
    /// Keeps the last non-empty line (stderr: what explains an exit).
    last: Option<Arc<std::sync::Mutex<Option<String>>>>,
}

impl LogSource {
    /// Reads to the end of the pipe, whatever it carries: bytes that are not UTF-8 are replaced
    /// (never a reason to stop reading: a closed pipe makes the worker's next write fail), and a
    /// line is cut at [`MAX_LOG_LINE`] bytes.
    async fn read(self, reader: impl tokio::io::AsyncRead + Unpin) {
        let mut reader = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let mut cut = 0usize;
            let done = loop {
                let chunk = match reader.fill_buf().await {
                    Ok([]) | Err(_) => break true,
                    Ok(chunk) => chunk,
                };
                let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i + 1, true),
                    None => (chunk.len(), false),
                };
                let room = MAX_LOG_LINE.saturating_sub(buf.len());
                let keep = take.min(room);
                buf.extend_from_slice(&chunk[..keep]);
                cut += take - keep;
                reader.consume(take);
                if end {
                    break false;
                }
            };
            if buf.is_empty() && cut == 0 {
                if done {
                    return;
                }
                continue;
            }
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            let mut line = String::from_utf8_lossy(&buf).into_owned();
            if cut > 0 {
                line.push_str(&format!(" [... {cut} more bytes cut]"));
            }
            self.emit(line);
            if done {
                return;
            }
        }
    }

    fn emit(&self, line: String) {
        let (ep_name, pod) = (&self.endpoint_name, &self.worker_id);
        tracing::info!(target: "flash_emulator::worker", "[{ep_name}/{pod}] {line}");
        if let Some(last) = &self.last
            && !line.trim().is_empty()
        {
            *crate::core::lock(last) = Some(line.clone());
        }
        self.core.publish_log(LogLine {
            endpoint_id: self.endpoint_id.clone(),
            endpoint_name: self.endpoint_name.clone(),
            worker_id: self.worker_id.clone(),
            stream: self.stream,
            line,
        });
    }
}

fn on_exit(
    core: &Core,
    rt: &EndpointRt,
    pod: &str,
    name: &str,
    status: &str,
    asked: bool,
    last_stderr: Option<&str>,
) {
    let (requeued, boot_failure) = {
        let mut st = rt.lock();
        let booting = st
            .workers
            .shift_remove(pod)
            .is_some_and(|w| w.state == WorkerPhase::Initializing);
        let reason = if asked {
            format!("worker {pod} was stopped")
        } else {
            format!("worker {pod} exited ({status})")
        };
        let mut boot_failure = None;
        if !asked && !core.is_shutting_down() {
            st.last_crash = Some(Instant::now());
            if booting {
                st.boot_failures += 1;
                let message = match last_stderr {
                    Some(line) => {
                        format!(
                            "endpoint {name}: worker {pod} exited during boot ({status}): {line}"
                        )
                    }
                    None => format!("endpoint {name}: worker {pod} exited during boot ({status})"),
                };
                let failures = st.boot_failures;
                let failed = if failures >= BOOT_GIVE_UP {
                    st.jobs.fail_queued(&format!(
                        "{message}; gave up after {failures} boot failures in a row"
                    ))
                } else {
                    Vec::new()
                };
                st.provision_error = Some(message.clone());
                boot_failure = Some((message, st.boot_failures, failed));
            }
        }
        (st.jobs.requeue_worker(pod, &reason), boot_failure)
    };
    if asked || core.is_shutting_down() {
        tracing::info!(endpoint = %name, worker = %pod, %status, "worker stopped");
    } else if let Some((message, failures, failed)) = boot_failure {
        tracing::warn!(endpoint = %name, worker = %pod, failures, failed_jobs = failed.len(), "{message}");
        supervisor_line(
            core,
            rt,
            name,
            format!("worker boot failed ({failures} in a row): {message}"),
        );
        if !failed.is_empty() {
            supervisor_line(
                core,
                rt,
                name,
                format!("{} queued jobs failed: no worker could start", failed.len()),
            );
        }
    } else {
        tracing::warn!(endpoint = %name, worker = %pod, %status, requeued = requeued.len(), "worker crashed; its jobs were requeued");
    }
    rt.job_ready.notify_waiters();
    rt.changed.notify_waiters();
}

/// A line of the supervisor's own to log subscribers (worker id [`SUPERVISOR_LOG_ID`]).
fn supervisor_line(core: &Core, rt: &EndpointRt, endpoint_name: &str, line: String) {
    core.publish_log(LogLine {
        endpoint_id: rt.id.clone(),
        endpoint_name: endpoint_name.to_owned(),
        worker_id: SUPERVISOR_LOG_ID.to_owned(),
        stream: LogStream::Stderr,
        line,
    });
}

async fn health_loop(core: Arc<Core>, rt: Arc<EndpointRt>, pod: String, port: u16) {
    let url = format!("http://127.0.0.1:{port}/ping");
    let mut shutdown = core.shutdown.subscribe();
    loop {
        let code = core
            .http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok();
        let healthy = code == Some(200);
        let became_ready = {
            let mut st = rt.lock();
            let Some(w) = st.workers.get_mut(&pod) else {
                return;
            };
            if w.state == WorkerPhase::Stopping {
                return;
            }
            let before = w.state;
            w.state = match (healthy, w.lb_inflight) {
                (true, 0) => WorkerPhase::Idle,
                (true, _) => WorkerPhase::Running,
                (false, _) if before == WorkerPhase::Initializing || code == Some(204) => {
                    WorkerPhase::Initializing
                }
                (false, _) => WorkerPhase::Initializing,
            };
            let ready = healthy && before == WorkerPhase::Initializing;
            if ready {
                st.worker_ready();
            }
            ready
        };
        if became_ready {
            rt.healthy.notify_waiters();
        }
        let pause = if healthy {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = crate::core::stopped(&mut shutdown) => return,
        }
    }
}

/// One supervision pass over every endpoint.
pub(crate) async fn tick(core: &Arc<Core>) {
    for rt in core.all_endpoints() {
        let (expired, spawn, kills, cfg) = plan(&rt, core.settings.silence());
        let due = {
            let mut st = rt.lock();
            st.jobs.forget_expired(Instant::now());
            std::mem::take(&mut st.jobs.webhooks)
        };
        crate::webhooks::deliver(core, &rt.id, due);
        if !expired.is_empty() {
            tracing::info!(endpoint = %rt.id, jobs = expired.len(), "jobs timed out or past their ttl");
            rt.changed.notify_waiters();
            rt.stop_ready.notify_waiters();
        }
        for k in kills {
            let _ = k.send(());
        }
        if spawn == 0 || core.is_shutting_down() {
            continue;
        }
        if rt
            .lock()
            .launch_retry_at
            .is_some_and(|t| Instant::now() < t)
        {
            continue;
        }
        let core2 = Arc::clone(core);
        let spec = tokio::task::spawn_blocking(move || launch_spec(&core2, &cfg)).await;
        let spec = match spec {
            Ok(Ok(spec)) => spec,
            Ok(Err(message)) => {
                start_failed(core, &rt, message);
                continue;
            }
            Err(e) => {
                start_failed(
                    core,
                    &rt,
                    format!("endpoint {}: provisioning task failed: {e}", rt.id),
                );
                continue;
            }
        };
        {
            let mut st = rt.lock();
            if st.boot_failures == 0 {
                st.provision_error = None;
            }
            st.launch_retry_at = None;
        }
        for _ in 0..spawn {
            if let Err(message) = spawn_worker(core, &rt, &spec) {
                start_failed(core, &rt, message);
                break;
            }
        }
    }
}

/// A worker of `rt` could not be started: recorded as the endpoint's `provision_error`, retried
/// after [`LAUNCH_RETRY`], and, once per distinct failure, logged (`tracing` warning, and a
/// stderr [`LogLine`] with worker id [`SUPERVISOR_LOG_ID`] to log subscribers).
fn start_failed(core: &Core, rt: &EndpointRt, message: String) {
    let (line, endpoint_name) = {
        let mut st = rt.lock();
        st.launch_retry_at = Some(Instant::now() + LAUNCH_RETRY);
        let new = st.provision_error.as_deref() != Some(message.as_str());
        let line = new.then(|| format!("worker start failed: {message}"));
        st.provision_error = Some(message);
        (line, st.cfg.name.clone())
    };
    if let Some(line) = line {
        tracing::warn!(endpoint = %endpoint_name, "{line}");
        supervisor_line(core, rt, &endpoint_name, line);
    }
}

type Kill = tokio::sync::oneshot::Sender<()>;

/// Queue workers that have not been heard from (no job-take in flight, and no take, ping,
/// job-done or job-stream) for `silence` are gone, as a vanished or hung pod is to Runpod:
/// their jobs go back to the queue (charged as a crash), a managed worker's process is
/// stopped, and an external worker is forgotten (it no longer counts in `/health`).
fn evict_silent(rt: &EndpointRt, st: &mut crate::core::EpState, silence: Duration) {
    let now = Instant::now();
    let silent: Vec<String> = st
        .workers
        .values()
        .filter(|w| {
            w.state != WorkerPhase::Initializing
                && w.state != WorkerPhase::Stopping
                && w.polls == 0
                && now.duration_since(w.last_ping.unwrap_or(w.started)) > silence
        })
        .map(|w| w.id.clone())
        .collect();
    for id in silent {
        let reason = format!("worker {id} was not heard from for {} s", silence.as_secs());
        let requeued = st.jobs.requeue_worker(&id, &reason);
        tracing::warn!(endpoint = %rt.id, worker = %id, requeued = requeued.len(), "{reason}; its jobs were requeued");
        let managed = st.workers.get(&id).is_some_and(|w| w.managed);
        if managed {
            if let Some(w) = st.workers.get_mut(&id) {
                w.state = WorkerPhase::Stopping;
                if let Some(kill) = w.kill.take() {
                    let _ = kill.send(());
                }
            }
        } else {
            st.workers.shift_remove(&id);
        }
        rt.job_ready.notify_waiters();
    }
}

/// Decides, under the endpoint lock, what to expire, start and stop.
fn plan(rt: &EndpointRt, silence: Duration) -> (Vec<String>, usize, Vec<Kill>, Endpoint) {
    let mut st = rt.lock();
    let mut expired = st.jobs.expire();
    expired.extend(st.jobs.expire_ttl(Instant::now()));
    let cfg = st.cfg.clone();
    if !cfg.load_balanced() {
        evict_silent(rt, &mut st, silence);
    }
    if st.deleted {
        let kills = st.workers.values_mut().filter_map(|w| {
            w.state = WorkerPhase::Stopping;
            w.kill.take()
        });
        let kills = kills.collect();
        return (expired, 0, kills, cfg);
    }
    let now = Instant::now();
    // Refresh queue-worker states from the jobs they hold.
    let held: Vec<(String, usize)> = st
        .workers
        .keys()
        .map(|id| (id.clone(), st.jobs.holds(id)))
        .collect();
    let lb = cfg.load_balanced();
    if !lb {
        for (id, n) in &held {
            if let Some(w) = st.workers.get_mut(id)
                && w.state != WorkerPhase::Initializing
                && w.state != WorkerPhase::Stopping
            {
                w.state = if *n > 0 {
                    WorkerPhase::Running
                } else {
                    WorkerPhase::Idle
                };
            }
        }
    }
    let demand = if lb {
        st.lb.inflight
    } else {
        st.jobs.queued() + st.jobs.in_progress()
    };
    let min = usize::try_from(cfg.workers_min.max(0)).unwrap_or(0);
    let max = usize::try_from(cfg.workers_max.max(0))
        .unwrap_or(0)
        .max(min);
    let wanted = demand.max(min).min(max);
    let idle_for = Duration::from_secs(u64::try_from(cfg.idle_timeout.max(0)).unwrap_or(0));
    let mut kills = Vec::new();
    let mut current = 0usize;
    let last_lb = st.lb.last_request;
    for w in st.workers.values_mut() {
        if !w.managed || w.state == WorkerPhase::Stopping {
            continue;
        }
        let busy = if lb {
            w.lb_inflight > 0
        } else {
            held.iter().any(|(id, n)| id == &w.id && *n > 0)
        };
        if w.version != cfg.version {
            if !busy && let Some(k) = w.kill.take() {
                w.state = WorkerPhase::Stopping;
                kills.push(k);
            }
            continue;
        }
        current += 1;
    }
    // Stop idle workers beyond what is wanted, oldest-idle first.
    if current > wanted {
        let mut surplus = current - wanted;
        for w in st.workers.values_mut() {
            if surplus == 0 {
                break;
            }
            if !w.managed || w.state == WorkerPhase::Stopping || w.version != cfg.version {
                continue;
            }
            let busy = if lb {
                w.lb_inflight > 0
            } else {
                held.iter().any(|(id, n)| id == &w.id && *n > 0)
            };
            let last = if lb {
                w.last_active.max(last_lb)
            } else {
                w.last_active
            };
            if !busy
                && now.duration_since(last) >= idle_for
                && let Some(k) = w.kill.take()
            {
                w.state = WorkerPhase::Stopping;
                kills.push(k);
                surplus -= 1;
            }
        }
    }
    let pause = match st.boot_failures {
        0 => CRASH_BACKOFF,
        n => CRASH_BACKOFF
            .saturating_mul(1 << (n - 1).min(16))
            .min(MAX_BOOT_BACKOFF),
    };
    let backoff = st.last_crash.is_some_and(|t| now.duration_since(t) < pause);
    let spawn = if backoff {
        0
    } else {
        wanted.saturating_sub(current)
    };
    (expired, spawn, kills, cfg)
}
