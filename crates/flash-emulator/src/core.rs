//! The shared state behind every route and task: settings, control-plane records and the runtime
//! of each endpoint (its jobs and workers).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use runpod_flash::ApiKey;
use tokio::sync::{Notify, broadcast, watch};

use crate::jobs::JobBook;
use crate::state_store::{Endpoint, Store};
use crate::{EmulatorError, LogLine};

/// Settings fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) api_key: ApiKey,
    pub(crate) state_dir: PathBuf,
    /// Whether `state.json` is written (a state dir was given).
    pub(crate) persist: bool,
    /// Whether the state dir is a temporary one removed at shutdown.
    pub(crate) temp_dir: bool,
    pub(crate) take_timeout: Duration,
    pub(crate) tick: Duration,
    pub(crate) ping_interval_ms: u64,
    pub(crate) lb_wait: Duration,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub(crate) base_url: String,
    /// The job plane's base URL as workers are given it (the emulator's own unless a test
    /// interposes a proxy), no trailing slash.
    pub(crate) worker_plane_url: String,
    /// What starts Flash-for-Rust images (`None`: not found; such endpoints report it).
    pub(crate) boot: Option<crate::launch::BootCommand>,
    /// What runs Python Flash images (found at first use, shared by clones).
    pub(crate) python: Arc<crate::launch::PythonFinder>,
    /// Pause between the attempts of a webhook delivery.
    pub(crate) webhook_retry: Duration,
    pub(crate) retention: Retention,
}

/// How long finished jobs stay readable (runpod-wire.md §2.3: 30 min after `/run`, 1 min after
/// `/runsync`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    pub(crate) run: Duration,
    pub(crate) runsync: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            run: Duration::from_secs(30 * 60),
            runsync: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// How long a queue worker may go unheard before it is taken for gone: three heartbeat
    /// periods (Runpod's workers ping every `RUNPOD_PING_INTERVAL`), at least 3 s.
    pub(crate) fn silence(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.saturating_mul(3)).max(Duration::from_secs(3))
    }

    /// How long after job-take a worker's pings may leave a job unlisted before the take's
    /// response is taken for lost: one heartbeat period (a ping sent while the response was on
    /// its way legitimately omits it), at least 2 s.
    pub(crate) fn take_lease(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms).max(Duration::from_secs(2))
    }
}

/// Lock a mutex, recovering from poisoning (a panicked holder cannot leave these structures in a
/// state worse than stale).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerPhase {
    /// Started; has not asked for a job (queue) or passed its health check (LB) yet.
    Initializing,
    /// Ready and holding no job.
    Idle,
    /// Holding at least one job (queue) or serving a request (LB).
    Running,
    /// Being stopped.
    Stopping,
}

/// One worker process (or an external worker that called the job plane).
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: String,
    pub(crate) pid: Option<u32>,
    pub(crate) version: i32,
    pub(crate) state: WorkerPhase,
    pub(crate) started: Instant,
    pub(crate) last_active: Instant,
    /// When the worker was last heard from (job-take, ping, job-done, job-stream).
    pub(crate) last_ping: Option<Instant>,
    /// Job-take long polls of this worker in flight (it is alive while one is held).
    pub(crate) polls: usize,
    pub(crate) port: Option<u16>,
    pub(crate) managed: bool,
    pub(crate) lb_inflight: usize,
    pub(crate) kill: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Load-balancer bookkeeping of an LB endpoint.
#[derive(Debug)]
pub(crate) struct LbState {
    pub(crate) url: Option<String>,
    pub(crate) inflight: usize,
    pub(crate) last_request: Instant,
    pub(crate) next: usize,
    /// Stops the endpoint's listener.
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Mutable state of one endpoint.
#[derive(Debug)]
pub(crate) struct EpState {
    pub(crate) cfg: Endpoint,
    pub(crate) jobs: JobBook,
    pub(crate) workers: IndexMap<String, Worker>,
    pub(crate) lb: LbState,
    pub(crate) last_crash: Option<Instant>,
    /// Workers in a row that exited before they were ready.
    pub(crate) boot_failures: u32,
    pub(crate) provision_error: Option<String>,
    /// After a failed worker start, none is tried again before this (cleared by a change that
    /// may fix it: `saveEndpoint`, `deployBuildToEnvironment`).
    pub(crate) launch_retry_at: Option<Instant>,
    pub(crate) deleted: bool,
}

/// The runtime of one endpoint.
#[derive(Debug)]
pub(crate) struct EndpointRt {
    pub(crate) id: String,
    pub(crate) state: Mutex<EpState>,
    /// Woken when jobs are queued.
    pub(crate) job_ready: Notify,
    /// Woken when a job changes state.
    pub(crate) changed: Notify,
    /// Woken when a stop request is added.
    pub(crate) stop_ready: Notify,
    /// Woken when an LB worker becomes healthy.
    pub(crate) healthy: Notify,
}

impl EpState {
    /// A change that may fix a failing start (`saveEndpoint`, `deployBuildToEnvironment`): the
    /// next start is tried at once, with the boot back-off reset.
    pub(crate) fn retry_start_now(&mut self) {
        self.launch_retry_at = None;
        if self.boot_failures > 0 {
            self.boot_failures = 0;
            self.last_crash = None;
        }
    }

    /// A worker became ready: whatever stopped workers from booting is over.
    pub(crate) fn worker_ready(&mut self) {
        if self.boot_failures > 0 {
            self.boot_failures = 0;
            self.provision_error = None;
        }
    }
}

impl EndpointRt {
    pub(crate) fn new(cfg: Endpoint) -> Self {
        Self {
            id: cfg.id.clone(),
            state: Mutex::new(EpState {
                cfg,
                jobs: JobBook::default(),
                workers: IndexMap::new(),
                lb: LbState {
                    url: None,
                    inflight: 0,
                    last_request: Instant::now(),
                    next: 0,
                    stop: None,
                },
                last_crash: None,
                boot_failures: 0,
                provision_error: None,
                launch_retry_at: None,
                deleted: false,
            }),
            job_ready: Notify::new(),
            changed: Notify::new(),
            stop_ready: Notify::new(),
            healthy: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, EpState> {
        lock(&self.state)
    }
}

/// Everything shared.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) settings: Settings,
    pub(crate) store: Mutex<Store>,
    pub(crate) endpoints: Mutex<HashMap<String, Arc<EndpointRt>>>,
    pub(crate) logs: broadcast::Sender<LogLine>,
    /// What workers printed, kept for `GET /emulator/logs`.
    pub(crate) worker_logs: crate::worker_logs::LogStore,
    /// Open `flash login` requests.
    pub(crate) auth_requests: crate::graphql::login::AuthRequests,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) http: reqwest::Client,
    pub(crate) tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Every authorized GraphQL request, in arrival order.
    pub(crate) graphql_log: Mutex<Vec<crate::GraphqlCall>>,
    /// Network volumes created through the REST API.
    pub(crate) volumes: Mutex<Vec<serde_json::Value>>,
    /// Held while `state.json` is written.
    pub(crate) persist_turn: Mutex<()>,
}

impl Core {
    /// Keeps a worker's line and hands it to live subscribers.
    pub(crate) fn publish_log(&self, line: LogLine) {
        self.worker_logs.record(&line);
        let _ = self.logs.send(line);
    }

    pub(crate) fn endpoint(&self, id: &str) -> Option<Arc<EndpointRt>> {
        lock(&self.endpoints).get(id).cloned()
    }

    pub(crate) fn all_endpoints(&self) -> Vec<Arc<EndpointRt>> {
        lock(&self.endpoints).values().cloned().collect()
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Writes `state.json` when persistence is on. Failures are logged, not returned: the
    /// in-memory state stays authoritative.
    pub(crate) fn persist(&self) {
        if !self.settings.persist {
            return;
        }
        // One save at a time, each of the state as it is when its turn comes: a save never
        // overwrites a newer one (concurrent saveEndpoint calls of a parallel deploy).
        let _turn = lock(&self.persist_turn);
        let snapshot = self.store().clone();
        if let Err(e) = snapshot.save(&self.settings.state_dir) {
            tracing::warn!(error = %e, "cannot persist emulator state");
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) fn track(&self, handle: tokio::task::JoinHandle<()>) {
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    /// Directory of network volume `id`.
    pub(crate) fn volume_dir(&self, id: &str) -> Result<PathBuf, EmulatorError> {
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.settings.state_dir.join("volumes").join(safe);
        std::fs::create_dir_all(&dir).map_err(|e| EmulatorError::io("create", &dir, e))?;
        Ok(dir)
    }
}

/// Waits until `check` returns `Some`, re-checking whenever `notify` fires, up to `deadline`.
pub(crate) async fn wait_for<T>(
    notify: &Notify,
    deadline: tokio::time::Instant,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(v) = check() {
            return Some(v);
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return check();
        }
    }
}

/// Resolves once the emulator is shutting down.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
