//! # flash-emulator
//!
//! A local Runpod on 127.0.0.1, so that local runs take the production code path: the same
//! GraphQL operations, the same endpoint data plane, the same worker job protocol and the same
//! environment given to workers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), flash_emulator::EmulatorError> {
//! let emulator = flash_emulator::Emulator::builder().bind("127.0.0.1:0").start().await?;
//! // RUNPOD_API_BASE_URL=emulator.api_base_url(), RUNPOD_ENDPOINT_BASE_URL=emulator.endpoint_base_url()
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! One listener serves:
//!
//! - `POST /graphql`: the control plane ([`graphql`](crate::sdl) module docs: auth and errors);
//! - `/v2/{endpoint_id}/{run,runsync,status,stream,cancel,retry,health,purge-queue}`: the client
//!   data plane ([`data_plane`]);
//! - `/v2/flash/{run,runsync,status,stream,cancel,retry}` with `X-Flash-App`,
//!   `X-Flash-Environment`, `X-Flash-Endpoint`: the same queue routes of an endpoint named by
//!   app, environment and resource (Runpod's Flash dispatcher; `flash_contract::dispatch`);
//! - `/v2/{endpoint_id}/{job-take,job-take-batch,job-done,job-stream,ping,job-stop}`: the worker
//!   job plane ([`worker_plane`]);
//! - `PUT /emulator/uploads/{object_key}`: artifact uploads ([`artifacts`] has the artifact
//!   contract);
//! - `GET /emulator/state`: introspection ([`Snapshot`]);
//! - `GET /emulator/logs`: what workers printed, kept per worker ([`worker_logs`]);
//! - `GET /emulator/console`: a web page showing all of it ([`console`]).
//!
//! - `/lb/{endpoint_id}/{*rest}`: load-balanced endpoint `endpoint_id`, path `/{rest}`
//!   ([`EmulatorHandle::lb_url_template`]);
//! - any request for host `flash.localhost:{port}` with the `X-Flash-*` headers: the
//!   load-balanced endpoint they name, at its path (Runpod's `https://flash.{domain}{path}`;
//!   [`EmulatorHandle::flash_lb_host_url`]), and the same at `/flash-lb/{*rest}`, path `/{rest}`
//!   ([`EmulatorHandle::flash_lb_url`]).
//!
//! Load-balanced endpoints also each get their own listener ([`lb_proxy`]). Workers are real
//! processes started from the build artifact with the environment documented in [`supervisor`].

pub mod artifacts;
pub mod console;
mod core;
pub mod data_plane;
mod dispatch;
mod error;
mod graphql;
mod http;
mod ids;
pub mod introspection;
pub mod jobs;
pub mod launch;
pub mod lb_proxy;
mod policy;
mod rest;
mod state_store;
pub mod supervisor;
mod temp_state;
mod uploads;
mod webhooks;
pub mod worker_logs;
pub mod worker_plane;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post};
use runpod_flash::{ApiKey, http_server};
use tokio::sync::{broadcast, watch};

pub use crate::core::WorkerPhase;
pub use error::EmulatorError;
pub use graphql::sdl;
pub use introspection::{EndpointSnapshot, JobSnapshot, Snapshot, WorkerSnapshot};
pub use jobs::JobStatus;
pub use launch::BootCommand;

use crate::core::{Core, EndpointRt, Settings, lock};

/// Which output stream a worker log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line a worker printed. Also emitted through `tracing` (target
/// `flash_emulator::worker`) as `[endpoint-name/worker-id] line`. A worker that cannot be
/// started is reported as a stderr line with worker id [`supervisor::SUPERVISOR_LOG_ID`].
#[derive(Debug, Clone)]
pub struct LogLine {
    /// Endpoint id.
    pub endpoint_id: String,
    /// Endpoint name.
    pub endpoint_name: String,
    /// Worker id.
    pub worker_id: String,
    /// Stdout or stderr.
    pub stream: LogStream,
    /// The line, without its newline.
    pub line: String,
}

/// One GraphQL request the control plane received (see [`EmulatorHandle::graphql_log`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlCall {
    /// The request's `operationName`, else the name of the document's first operation.
    pub operation_name: Option<String>,
    /// Whether the document is a mutation (its text starts with `mutation`).
    pub mutation: bool,
}

/// Entry point: [`Emulator::builder`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// Settings of an emulator to start.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    api_key: Option<ApiKey>,
    state_dir: Option<PathBuf>,
    bind: String,
    take_timeout: Duration,
    tick: Duration,
    ping_interval: Duration,
    lb_wait: Duration,
    boot: Option<BootCommand>,
    python: Option<PathBuf>,
    worker_plane_url: Option<String>,
    webhook_retry: Duration,
    retention: core::Retention,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            api_key: None,
            state_dir: None,
            bind: "127.0.0.1:0".to_owned(),
            take_timeout: Duration::from_secs(30),
            tick: Duration::from_millis(100),
            ping_interval: Duration::from_secs(10),
            lb_wait: Duration::from_secs(120),
            boot: None,
            python: None,
            worker_plane_url: None,
            webhook_retry: webhooks::RETRY_INTERVAL,
            retention: core::Retention::default(),
        }
    }
}

impl EmulatorBuilder {
    /// The API key clients must send. Default: a random key (see [`EmulatorHandle::api_key`]).
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Keep state (`state.json`, artifacts, unpacked builds, volumes) in `dir`, and reload it on
    /// start. Default: a temporary directory removed at shutdown, nothing persisted.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Address to listen on. Default `127.0.0.1:0` (a free port).
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.bind = addr.into();
        self
    }

    /// How long job-take and job-stop long polls are held before 204. Default 30 s.
    pub fn take_timeout(mut self, d: Duration) -> Self {
        self.take_timeout = d;
        self
    }

    /// Supervisor period (scaling, timeouts). Default 100 ms.
    pub fn tick(mut self, d: Duration) -> Self {
        self.tick = d;
        self
    }

    /// `RUNPOD_PING_INTERVAL` given to workers. Default 10 s.
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.ping_interval = d;
        self
    }

    /// Pause between the attempts of a webhook delivery. Default 10 s, as Runpod documents.
    pub fn webhook_retry_interval(mut self, d: Duration) -> Self {
        self.webhook_retry = d;
        self
    }

    /// How long a finished job's result stays readable before `/status` answers 404: `run`
    /// for jobs submitted with `/run`, `runsync` for `/runsync`. Default 30 min and 1 min, as
    /// Runpod documents.
    pub fn result_retention(mut self, run: Duration, runsync: Duration) -> Self {
        self.retention = core::Retention { run, runsync };
        self
    }

    /// How long an LB request waits for a healthy worker. Default 120 s.
    pub fn lb_wait(mut self, d: Duration) -> Self {
        self.lb_wait = d;
        self
    }

    /// What runs a Flash-for-Rust image's boot step (see [`launch`]). Default: the program named
    /// by `FLASH_BOOT`, else a `flash-boot` beside the running executable (or in its parent
    /// directory), else on `PATH`; the `flash` CLI passes itself (`flash boot`).
    pub fn boot_command(mut self, boot: BootCommand) -> Self {
        self.boot = Some(boot);
        self
    }

    /// The Python interpreter that runs Runpod's Python Flash images (`runpod/flash`,
    /// `runpod/flash-cpu`, `runpod/flash-lb`, `runpod/flash-lb-cpu`; see [`launch`]); it needs
    /// `runpod-flash` installed (`pip install 'runpod-flash==1.21.*'` in a virtualenv, whose
    /// `bin/python` this is). Default: the one named by [`launch::FLASH_EMULATOR_PYTHON`], else
    /// the first `python3` on `PATH` that can import `runpod_flash`, found when a Python image
    /// first needs it.
    pub fn python(mut self, path: impl Into<PathBuf>) -> Self {
        self.python = Some(path.into());
        self
    }

    /// The base URL workers are given for the job plane (`RUNPOD_WEBHOOK_GET_JOB`,
    /// `..._POST_OUTPUT`, `..._POST_STREAM`, `..._PING`), `http://HOST:PORT` with no trailing
    /// slash. Default: the emulator's own. A test puts a proxy here that injects the faults of
    /// a real network between workers and Runpod; every other URL stays the emulator's.
    pub fn worker_plane_url(mut self, url: impl Into<String>) -> Self {
        self.worker_plane_url = Some(url.into());
        self
    }

    /// Binds, loads persisted state, restarts persisted endpoints and serves.
    pub async fn start(self) -> Result<EmulatorHandle, EmulatorError> {
        if self.take_timeout.is_zero() || self.tick.is_zero() {
            return Err(EmulatorError::Config {
                field: "take_timeout/tick",
                message: "must be greater than zero".to_owned(),
            });
        }
        let (state_dir, persist) = match self.state_dir {
            Some(d) => {
                std::fs::create_dir_all(&d).map_err(|e| EmulatorError::io("create", &d, e))?;
                (d, true)
            }
            None => {
                for dir in temp_state::sweep(&std::env::temp_dir()) {
                    tracing::info!(dir = %dir.display(), "removed the temporary state of an emulator that is no longer running");
                }
                let dir = temp_state::create()
                    .map_err(|e| EmulatorError::io("create", std::env::temp_dir(), e))?;
                (dir, false)
            }
        };
        let state_dir = state_dir
            .canonicalize()
            .map_err(|e| EmulatorError::io("resolve", &state_dir, e))?;
        let mut store = state_store::Store::load(&state_dir)?;
        let listener = tokio::net::TcpListener::bind(&self.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: self.bind.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: self.bind.clone(),
                source,
            })?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            addr.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", addr.port());
        // A persisted state keeps its key unless another is given: the records (templates'
        // RUNPOD_API_KEY, callers' config) were written with it.
        let persisted_key = store
            .emulator
            .as_ref()
            .filter(|_| persist)
            .and_then(|id| ApiKey::new(id.api_key.clone()));
        let api_key = self
            .api_key
            .or(persisted_key)
            .or_else(|| ApiKey::new(format!("emu_{}", ids::short(32))))
            .ok_or(EmulatorError::Config {
                field: "api_key",
                message: "empty".to_owned(),
            })?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_idle_timeout(runpod_flash::config::POOL_IDLE_TIMEOUT)
            .build()
            .map_err(|e| EmulatorError::Config {
                field: "http client",
                message: e.to_string(),
            })?;
        if persist {
            if let Some(old) = store.emulator.as_ref().map(|id| id.base_url.clone())
                && old != base_url
            {
                let changed = store.rebase_urls(&old, &base_url);
                tracing::info!(%old, new = %base_url, changed, "the emulator moved: URLs in its records rewritten");
            }
            store.emulator = Some(state_store::Identity {
                base_url: base_url.clone(),
                api_key: api_key.expose().to_owned(),
            });
        }
        let (shutdown, _) = watch::channel(false);
        let endpoints: Vec<state_store::Endpoint> = store.endpoints.values().cloned().collect();
        let core = Arc::new(Core {
            settings: Settings {
                api_key,
                state_dir: state_dir.clone(),
                persist,
                temp_dir: !persist,
                take_timeout: self.take_timeout,
                tick: self.tick,
                ping_interval_ms: u64::try_from(self.ping_interval.as_millis()).unwrap_or(u64::MAX),
                lb_wait: self.lb_wait,
                worker_plane_url: self
                    .worker_plane_url
                    .map(|u| u.trim_end_matches('/').to_owned())
                    .unwrap_or_else(|| base_url.clone()),
                base_url,
                boot: self.boot.or_else(BootCommand::discover),
                python: Arc::new(launch::PythonFinder::new(self.python)),
                webhook_retry: self.webhook_retry,
                retention: self.retention,
            },
            store: Mutex::new(store),
            endpoints: Mutex::new(Default::default()),
            logs: broadcast::channel(1024).0,
            worker_logs: worker_logs::LogStore::default(),
            auth_requests: graphql::login::AuthRequests::default(),
            shutdown,
            http,
            tasks: Mutex::new(Vec::new()),
            graphql_log: Mutex::new(Vec::new()),
            volumes: Mutex::new(Vec::new()),
            persist_turn: Mutex::new(()),
        });
        for ep in endpoints {
            let rt = Arc::new(EndpointRt::new(ep.clone()));
            lock(&core.endpoints).insert(ep.id.clone(), Arc::clone(&rt));
            if ep.load_balanced()
                && let Err(message) = lb_proxy::start(&core, &rt).await
            {
                tracing::warn!(endpoint = %ep.name, "{message}");
            }
        }
        // The identity (and any rewritten URL) is on disk before anyone is served.
        core.persist();
        let schema = graphql::schema(Some(Arc::clone(&core)));
        let gql = Router::new()
            .route("/graphql", post(graphql::handler))
            .with_state((Arc::clone(&core), schema));
        let app = Router::new()
            .nest("/v2", data_plane::routes().merge(worker_plane::routes()))
            .layer(DefaultBodyLimit::max(data_plane::MAX_BODY_BYTES))
            .merge(uploads::routes())
            .route("/emulator/state", get(introspection::route))
            .route(worker_logs::LOGS_PATH, get(worker_logs::route))
            .route(console::CONSOLE_PATH, get(console::page))
            .route(console::CONSOLE_SCRIPT_PATH, get(console::script))
            .route(
                "/rest/v1/networkvolumes",
                get(rest::list).post(rest::create),
            )
            .route(dispatch::LB_PREFIX, any(dispatch::lb))
            .route(
                &format!("{}/{{*rest}}", dispatch::LB_PREFIX),
                any(dispatch::lb),
            )
            .route("/lb/{endpoint_id}", any(lb_proxy::path_proxy_root))
            .route("/lb/{endpoint_id}/{*rest}", any(lb_proxy::path_proxy))
            .with_state(Arc::clone(&core))
            .merge(gql)
            // Explicit, so that `by_host` sees requests no route matches too.
            .fallback(|| async { axum::http::StatusCode::NOT_FOUND })
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&core),
                dispatch::by_host,
            ));
        let mut stop = core.shutdown.subscribe();
        let server = tokio::spawn(async move {
            let stopped = async move {
                let () = core::stopped(&mut stop).await;
            };
            if let Err(e) =
                http_server::serve(listener, app, http_server::Limits::default(), stopped).await
            {
                tracing::warn!(error = %e, "emulator server stopped");
            }
        });
        let core2 = Arc::clone(&core);
        let mut stop = core.shutdown.subscribe();
        let ticker = tokio::spawn(async move {
            loop {
                supervisor::tick(&core2).await;
                lock(&core2.endpoints).retain(|_, rt| {
                    let st = rt.lock();
                    !(st.deleted && st.workers.is_empty())
                });
                tokio::select! {
                    () = tokio::time::sleep(core2.settings.tick) => {}
                    () = core::stopped(&mut stop) => return,
                }
            }
        });
        tracing::info!(url = %core.settings.base_url, "flash emulator listening");
        Ok(EmulatorHandle {
            core,
            addr,
            server: Some(server),
            ticker: Some(ticker),
        })
    }
}

/// A running emulator. Dropping it stops every worker process; [`EmulatorHandle::shutdown`]
/// does so and also waits for them to exit.
pub struct EmulatorHandle {
    core: Arc<Core>,
    addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl EmulatorHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `RUNPOD_API_BASE_URL` should be (GraphQL at `{base}/graphql`).
    pub fn api_base_url(&self) -> &str {
        &self.core.settings.base_url
    }

    /// The GraphQL URL.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.core.settings.base_url)
    }

    /// What `RUNPOD_ENDPOINT_BASE_URL` should be (`{base}/{endpoint_id}/run` etc.).
    pub fn endpoint_base_url(&self) -> String {
        format!("{}/v2", self.core.settings.base_url)
    }

    /// The API key clients must send.
    pub fn api_key(&self) -> &ApiKey {
        &self.core.settings.api_key
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.core.settings.state_dir
    }

    /// The base URL of load-balanced endpoint `endpoint_id` (stand-in for
    /// `https://{id}.api.runpod.ai`).
    pub fn lb_url(&self, endpoint_id: &str) -> Option<String> {
        self.core
            .endpoint(endpoint_id)
            .and_then(|rt| rt.lock().lb.url.clone())
    }

    /// The URL template of load-balanced endpoints on the main listener:
    /// `{base}/lb/{endpoint_id}`, with `{endpoint_id}` left in for the caller to replace (the
    /// emulator's stand-in for `https://{endpoint_id}.api.runpod.ai`).
    pub fn lb_url_template(&self) -> String {
        format!("{}/lb/{{endpoint_id}}", self.core.settings.base_url)
    }

    /// Where load-balanced endpoints are reached by name, `{base}/flash-lb` (Runpod's
    /// `https://flash.{endpoint domain}`): a request to `{this}{path}` with `X-Flash-App`,
    /// `X-Flash-Environment` and `X-Flash-Endpoint` reaches path `{path}` of the endpoint they
    /// name.
    pub fn flash_lb_url(&self) -> String {
        format!("{}{}", self.core.settings.base_url, dispatch::LB_PREFIX)
    }

    /// Where load-balanced endpoints are reached by name as Runpod serves them, on a host of
    /// their own: `http://flash.localhost:{port}` (Runpod's `https://flash.{endpoint domain}`),
    /// with the `X-Flash-*` headers. `flash.localhost` is loopback by RFC 6761, but not every
    /// resolver knows it: `runpod_flash`'s client resolves it itself, another client may need
    /// it pointed at 127.0.0.1 (reqwest's `resolve`, curl's `--resolve`) or the Host header set.
    pub fn flash_lb_host_url(&self) -> String {
        format!("http://{}:{}", dispatch::LB_HOST, self.addr.port())
    }

    /// What `RUNPOD_REST_API_URL` should be: `{base}/rest/v1` (network volumes).
    pub fn rest_api_url(&self) -> String {
        format!("{}/rest/v1", self.core.settings.base_url)
    }

    /// Every authorized GraphQL request received so far, oldest first.
    pub fn graphql_log(&self) -> Vec<GraphqlCall> {
        lock(&self.core.graphql_log).clone()
    }

    /// The local console's URL, the key in its fragment ([`console`]).
    pub fn console_url(&self) -> String {
        console::console_url(&self.core.settings.base_url, &self.core.settings.api_key)
    }

    /// Endpoints, workers and recent jobs.
    pub fn snapshot(&self) -> Snapshot {
        introspection::snapshot(&self.core)
    }

    /// Worker output, line by line, from now on.
    pub fn subscribe_logs(&self) -> broadcast::Receiver<LogLine> {
        self.core.logs.subscribe()
    }

    /// Stops serving, kills every worker process and waits for them to exit.
    pub async fn shutdown(mut self) {
        self.core.shutdown.send_replace(true);
        for rt in self.core.all_endpoints() {
            rt.job_ready.notify_waiters();
            rt.stop_ready.notify_waiters();
            rt.changed.notify_waiters();
            rt.healthy.notify_waiters();
        }
        if let Some(t) = self.ticker.take() {
            let _ = t.await;
        }
        let tasks: Vec<_> = std::mem::take(&mut *lock(&self.core.tasks));
        let wait_all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), wait_all)
            .await
            .is_err()
        {
            tracing::warn!("some emulator tasks did not stop within 10 s");
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if self.core.settings.temp_dir {
            let _ = std::fs::remove_dir_all(&self.core.settings.state_dir);
        }
    }
}

/// Only where it listens and keeps state: the records behind it hold endpoint keys, upload
/// tokens and template env (a user's `RUNPOD_API_KEY`), which `Debug` output must never show.
impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .field("state_dir", &self.core.settings.state_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        // Worker tasks kill their children when they see this (or, if the runtime is going away,
        // when their `Child` is dropped: children are spawned with kill_on_drop).
        self.core.shutdown.send_replace(true);
        if let Some(t) = self.server.take() {
            t.abort();
        }
        if let Some(t) = self.ticker.take() {
            t.abort();
            // Dropped without `shutdown` (a panicking test, say): the temporary state goes
            // anyway, best effort, as workers die with their tasks.
            if self.core.settings.temp_dir {
                let _ = std::fs::remove_dir_all(&self.core.settings.state_dir);
            }
        }
    }
}
