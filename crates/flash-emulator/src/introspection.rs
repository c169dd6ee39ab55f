//! What the emulator is running: endpoints, workers and recent jobs, as a Rust value
//! ([`crate::EmulatorHandle::snapshot`]) and as JSON at `GET /emulator/state` (Bearer auth).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::core::{Core, WorkerPhase};
use crate::http::{bearer_ok, unauthorized};
use crate::jobs::JobStatus;

/// How many of an endpoint's most recent jobs a snapshot lists.
const RECENT_JOBS: usize = 50;

/// Everything the emulator is running.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Every live endpoint.
    pub endpoints: Vec<EndpointSnapshot>,
}

/// One endpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSnapshot {
    /// Endpoint id.
    pub id: String,
    /// Endpoint name.
    pub name: String,
    /// `QB` or `LB`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The Flash environment it was saved in.
    pub flash_environment_id: Option<String>,
    /// The load balancer's base URL (LB endpoints).
    pub url: Option<String>,
    /// Why workers cannot be started, if they cannot.
    pub provision_error: Option<String>,
    /// The build its environment has active (what a worker started now runs).
    pub active_build_id: Option<String>,
    /// Jobs waiting for a worker.
    pub queued: usize,
    /// Its workers.
    pub workers: Vec<WorkerSnapshot>,
    /// Most recent jobs, oldest first.
    pub jobs: Vec<JobSnapshot>,
}

/// One worker.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSnapshot {
    /// Worker id (`RUNPOD_POD_ID`).
    pub id: String,
    /// OS process id; `None` for external workers.
    pub pid: Option<u32>,
    /// The endpoint version it was started for (a template or config change rolls workers
    /// to a new one).
    pub version: i32,
    /// What it is doing.
    pub state: WorkerPhase,
    /// Whether the emulator started it.
    pub managed: bool,
    /// Milliseconds since it started (or joined).
    pub age_ms: u128,
    /// The LB port (LB endpoints).
    pub port: Option<u16>,
    /// Jobs it holds.
    pub jobs: Vec<String>,
}

/// One job.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSnapshot {
    /// Job id.
    pub id: String,
    /// Status.
    pub status: JobStatus,
    /// Worker that ran (or runs) it.
    pub worker_id: Option<String>,
    /// Milliseconds in the queue before a worker took it.
    pub delay_ms: Option<u128>,
    /// Milliseconds running (so far, or in total once finished).
    pub execution_ms: Option<u128>,
    /// Times it was requeued after its worker died.
    pub requeues: u32,
}

pub(crate) fn snapshot(core: &Core) -> Snapshot {
    let now = Instant::now();
    // Read first, not under an endpoint's lock: locks are never taken store-after-endpoint.
    let active_builds: std::collections::HashMap<String, Option<String>> = core
        .store()
        .environments
        .values()
        .map(|e| (e.id.clone(), e.active_build_id.clone()))
        .collect();
    let mut endpoints: Vec<EndpointSnapshot> = core
        .all_endpoints()
        .into_iter()
        .filter_map(|rt| {
            let st = rt.lock();
            if st.deleted {
                return None;
            }
            let workers = st
                .workers
                .values()
                .map(|w| WorkerSnapshot {
                    id: w.id.clone(),
                    pid: w.pid,
                    version: w.version,
                    state: w.state,
                    managed: w.managed,
                    age_ms: now.duration_since(w.started).as_millis(),
                    port: w.port,
                    jobs: st.jobs.held_by(&w.id),
                })
                .collect();
            let skip = st.jobs.jobs.len().saturating_sub(RECENT_JOBS);
            let jobs = st
                .jobs
                .jobs
                .values()
                .skip(skip)
                .map(|j| JobSnapshot {
                    id: j.id.clone(),
                    status: j.status,
                    worker_id: j.worker_id.clone(),
                    delay_ms: j.delay_ms,
                    execution_ms: j
                        .started
                        .map(|s| j.finished.unwrap_or(now).duration_since(s).as_millis()),
                    requeues: j.requeues,
                })
                .collect();
            Some(EndpointSnapshot {
                id: st.cfg.id.clone(),
                name: st.cfg.name.clone(),
                kind: st.cfg.kind.clone(),
                flash_environment_id: st.cfg.flash_environment_id.clone(),
                url: st.lb.url.clone(),
                provision_error: st.provision_error.clone(),
                active_build_id: st
                    .cfg
                    .flash_environment_id
                    .as_ref()
                    .and_then(|env| active_builds.get(env).cloned().flatten()),
                queued: st.jobs.queued(),
                workers,
                jobs,
            })
        })
        .collect();
    endpoints.sort_by(|a, b| a.name.cmp(&b.name));
    Snapshot { endpoints }
}

/// `GET /emulator/state`.
pub(crate) async fn route(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&headers, &core.settings.api_key) {
        return unauthorized();
    }
    axum::Json(snapshot(&core)).into_response()
}
