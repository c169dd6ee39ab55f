//! Worker processes: what they are started with, scaling, crash handling and timeouts.
//!
//! # The worker environment
//!
//! A worker is the build's entrypoint (see [`crate::artifacts`]) run with the unpacked build as
//! its working directory and a **cleared** environment holding only `PATH`, `HOME`, `TMPDIR`,
//! `LANG`, `RUST_LOG` and `RUST_BACKTRACE` from the emulator's own, then the template's `env`,
//! then these (which win over the template's, except `FLASH_RESOURCE_NAME`):
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
//! | `FLASH_MANIFEST_PATH` | `{unpacked}/flash_manifest.json` |
//! | `RUNPOD_API_BASE_URL` | `{base}` (GraphQL at `{base}/graphql`) |
//! | `RUNPOD_ENDPOINT_BASE_URL` | `{base}/v2` |
//! | `PORT`, `PORT_HEALTH` | LB endpoints only: a free loopback port (both the same) |
//! | `FLASH_VOLUME_PATH` | only with a network volume: its directory (Runpod mounts it at `/runpod-volume`) |
//! | `RUNPOD_SKIP_AUTO_SYSTEM_CHECKS`, `RUNPOD_SKIP_GPU_CHECK` | `true` (emulator only: keeps the Python SDK worker offline) |
//!
//! `RUNPOD_API_KEY` is present only when the template env has it.
//!
//! # Scaling
//!
//! Every tick the supervisor wants `clamp(max(workersMin, demand), 0, workersMax)` workers, where
//! demand is queued + in-progress jobs (queue endpoints) or in-flight requests (LB endpoints). A
//! worker idle for `idleTimeout` seconds is stopped while there are more than wanted. A worker
//! that exits unasked is a crash: its jobs go back to the front of the queue and a new worker is
//! started on a later tick (at least 500 ms after the crash). Jobs past their execution timeout
//! (`policy.executionTimeout`, else the endpoint's `executionTimeoutMs`, else 600 s) end as
//! `TIMED_OUT` and are sent to the worker's job-stop.
//!
//! # Builds and rolling releases
//!
//! A worker runs the build that is its environment's active build when it starts: the build is
//! unpacked then (once per build), not when it is activated. `deployBuildToEnvironment` does not
//! restart workers, as on Runpod; a version-triggering change of the endpoint (its template, or
//! what and where its workers run) replaces them: idle workers of an older version are stopped
//! at once, busy ones when their job is done, and new ones start from the active build. When a
//! worker cannot be started (no build, an artifact that breaks the contract, a missing
//! entrypoint), the endpoint's `provisionError` says why, the failure is logged once (a
//! `tracing` warning and a stderr log line with worker id `supervisor`), and the start is retried
//! a second later or after the next `saveEndpoint` / `deployBuildToEnvironment`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flash_contract::artifact::Unpacked;
use flash_contract::env;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::artifacts;
use crate::core::{Core, EndpointRt, Worker, WorkerPhase};
use crate::state_store::Endpoint;
use crate::{LogLine, LogStream, ids};

/// Variables copied from the emulator's own environment into workers.
const PASSTHROUGH_ENV: [&str; 6] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "RUST_LOG",
    "RUST_BACKTRACE",
];
/// Minimum delay between a crash and the replacement worker.
const CRASH_BACKOFF: Duration = Duration::from_millis(500);
/// Minimum delay between a failed worker start (e.g. a broken artifact) and the next attempt.
const LAUNCH_RETRY: Duration = Duration::from_secs(1);
/// `LogLine::worker_id` of the lines the supervisor itself emits (worker start failures).
pub const SUPERVISOR_LOG_ID: &str = "supervisor";

/// What a worker of an endpoint is started from.
#[derive(Debug, Clone)]
pub(crate) struct LaunchSpec {
    pub(crate) unpacked: Unpacked,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) endpoint_name: String,
    pub(crate) version: i32,
    pub(crate) load_balanced: bool,
}

/// Resolves endpoint → environment → active build → unpacked artifact, and the env vars common
/// to all its workers.
pub(crate) fn launch_spec(core: &Core, ep: &Endpoint) -> Result<LaunchSpec, String> {
    let (object_key, build_id, mut env, env_id) = {
        let store = core.store();
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
        let template_env = ep
            .template_id
            .as_ref()
            .and_then(|t| store.templates.get(t))
            .map(|t| t.env.clone())
            .unwrap_or_default();
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
    let dest = artifacts::build_dir(&core.settings.state_dir, &build_id);
    let unpacked = artifacts::unpack(&core.settings.state_dir, &object_key, &dest)
        .map_err(|e| format!("endpoint {}: build {build_id}: {e}", ep.name))?;
    let base = &core.settings.base_url;
    let epid = &ep.id;
    let vars = [
        (env::RUNPOD_ENDPOINT_ID, epid.clone()),
        (
            env::RUNPOD_WEBHOOK_GET_JOB,
            format!("{base}/v2/{epid}/job-take/$ID?gpu=emulator"),
        ),
        (
            env::RUNPOD_WEBHOOK_POST_OUTPUT,
            format!("{base}/v2/{epid}/job-done/$RUNPOD_POD_ID/$ID?gpu=emulator"),
        ),
        (
            env::RUNPOD_WEBHOOK_POST_STREAM,
            format!("{base}/v2/{epid}/job-stream/$RUNPOD_POD_ID/$ID?gpu=emulator"),
        ),
        (
            env::RUNPOD_WEBHOOK_PING,
            format!("{base}/v2/{epid}/ping/$RUNPOD_POD_ID?gpu=emulator"),
        ),
        (env::RUNPOD_AI_API_KEY, ep.ai_key.clone()),
        (
            env::RUNPOD_PING_INTERVAL,
            core.settings.ping_interval_ms.to_string(),
        ),
        (env::FLASH_ENVIRONMENT_ID, env_id),
        (
            env::FLASH_MANIFEST_PATH,
            unpacked.manifest_path.display().to_string(),
        ),
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
        unpacked,
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

/// Starts one worker of `rt` from `spec`.
pub(crate) fn spawn_worker(
    core: &Arc<Core>,
    rt: &Arc<EndpointRt>,
    spec: &LaunchSpec,
) -> Result<(), String> {
    let pod = ids::short(14);
    let mut cmd = tokio::process::Command::new(&spec.unpacked.entrypoint);
    cmd.current_dir(&spec.unpacked.dir)
        .env_clear()
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
    cmd.env(env::RUNPOD_POD_ID, &pod)
        .env(env::RUNPOD_POD_HOSTNAME, &pod);
    let port = if spec.load_balanced {
        let p = free_port()
            .map_err(|e| format!("endpoint {}: no free port: {e}", spec.endpoint_name))?;
        cmd.env(env::PORT, p.to_string())
            .env(env::PORT_HEALTH, p.to_string());
        Some(p)
    } else {
        None
    };
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "endpoint {}: cannot start {}: {e}",
            spec.endpoint_name,
            spec.unpacked.entrypoint.display()
        )
    })?;
    let pid = child.id();
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let mut st = rt.lock();
        let now = Instant::now();
        st.workers.insert(
            pod.clone(),
            Worker {
                id: pod.clone(),
                pid,
                version: spec.version,
                state: WorkerPhase::Initializing,
                started: now,
                last_active: now,
                last_ping: None,
                port,
                managed: true,
                lb_inflight: 0,
                kill: Some(kill_tx),
            },
        );
    }
    tracing::info!(endpoint = %spec.endpoint_name, worker = %pod, pid = ?pid, "worker started");
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
        let core2 = Arc::clone(core);
        let (ep_id, ep_name, pod2) = (rt.id.clone(), spec.endpoint_name.clone(), pod.clone());
        core.track(tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "flash_emulator::worker", "[{ep_name}/{pod2}] {line}");
                let _ = core2.logs.send(LogLine {
                    endpoint_id: ep_id.clone(),
                    endpoint_name: ep_name.clone(),
                    worker_id: pod2.clone(),
                    stream,
                    line,
                });
            }
        }));
    }
    let (core2, rt2, pod2, name) = (
        Arc::clone(core),
        Arc::clone(rt),
        pod.clone(),
        spec.endpoint_name.clone(),
    );
    let mut shutdown = core.shutdown.subscribe();
    core.track(tokio::spawn(async move {
        let (status, asked) = tokio::select! {
            s = child.wait() => (s, false),
            _ = kill_rx => { let _ = child.start_kill(); (child.wait().await, true) }
            () = crate::core::stopped(&mut shutdown) => { let _ = child.start_kill(); (child.wait().await, true) }
        };
        let status = status.map_or_else(|e| format!("unknown ({e})"), |s| s.to_string());
        on_exit(&core2, &rt2, &pod2, &name, &status, asked);
    }));
    if let Some(port) = port {
        let (core2, rt2, pod2) = (Arc::clone(core), Arc::clone(rt), pod);
        core.track(tokio::spawn(async move {
            health_loop(core2, rt2, pod2, port).await
        }));
    }
    Ok(())
}

fn on_exit(core: &Core, rt: &EndpointRt, pod: &str, name: &str, status: &str, asked: bool) {
    let requeued = {
        let mut st = rt.lock();
        st.workers.shift_remove(pod);
        let reason = if asked {
            format!("worker {pod} was stopped")
        } else {
            format!("worker {pod} exited ({status})")
        };
        if !asked {
            st.last_crash = Some(Instant::now());
        }
        st.jobs.requeue_worker(pod, &reason)
    };
    if asked || core.is_shutting_down() {
        tracing::info!(endpoint = %name, worker = %pod, %status, "worker stopped");
    } else {
        tracing::warn!(endpoint = %name, worker = %pod, %status, requeued = requeued.len(), "worker crashed; its jobs were requeued");
    }
    rt.job_ready.notify_waiters();
    rt.changed.notify_waiters();
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
            healthy && before == WorkerPhase::Initializing
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
        let (expired, spawn, kills, cfg) = plan(&rt);
        if !expired.is_empty() {
            tracing::info!(endpoint = %rt.id, jobs = ?expired, "jobs timed out");
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
            st.provision_error = None;
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
        let _ = core.logs.send(LogLine {
            endpoint_id: rt.id.clone(),
            endpoint_name,
            worker_id: SUPERVISOR_LOG_ID.to_owned(),
            stream: LogStream::Stderr,
            line,
        });
    }
}

type Kill = tokio::sync::oneshot::Sender<()>;

/// Decides, under the endpoint lock, what to expire, start and stop.
fn plan(rt: &EndpointRt) -> (Vec<String>, usize, Vec<Kill>, Endpoint) {
    let mut st = rt.lock();
    let expired = st.jobs.expire();
    let cfg = st.cfg.clone();
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
        .map(|id| (id.clone(), st.jobs.held_by(id).len()))
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
    let backoff = st
        .last_crash
        .is_some_and(|t| now.duration_since(t) < CRASH_BACKOFF);
    let spawn = if backoff {
        0
    } else {
        wanted.saturating_sub(current)
    };
    (expired, spawn, kills, cfg)
}
