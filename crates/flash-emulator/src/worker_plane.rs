//! The worker job plane, `/v2/{endpoint_id}/job-take/...` etc. (docs/wire-formats.md, "Workers").
//!
//! Auth: `Authorization: <aiKey>`, the endpoint's raw key with no `Bearer ` prefix; otherwise
//! 401. A worker id the emulator did not start is accepted and tracked as an external worker, so
//! a worker run by hand (ours or the official Python SDK's) can serve an endpoint.
//!
//! job-take and job-take-batch are long polls held open up to the take timeout (builder setting,
//! default 30 s), then 204. job-stop is a long poll of the same length. job-done and job-stream
//! bodies are JSON whatever their `Content-Type` says; results for jobs no longer held by the
//! posting worker (cancelled, timed out, requeued) are accepted and discarded.

// Handlers return `Result<Response, Response>` so `?` can short-circuit with an HTTP error reply;
// the error is a response going straight to the client, not a value worth boxing.
#![allow(clippy::result_large_err)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::{Core, EndpointRt, Worker, WorkerPhase, wait_for};
use crate::http::{error, raw_key_ok};

/// The worker-plane routes, relative to `/v2`.
pub(crate) fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/{ep}/job-take/{pod}", get(take))
        .route("/{ep}/job-take-batch/{pod}", get(take_batch))
        .route("/{ep}/job-done/{pod}/{job}", post(done))
        .route("/{ep}/job-stream/{pod}/{job}", post(stream))
        .route("/{ep}/ping/{pod}", get(ping))
        .route("/{ep}/job-stop/{pod}", get(stop))
}

type Reply = Result<Response, Response>;

fn endpoint(core: &Core, headers: &HeaderMap, ep: &str) -> Result<Arc<EndpointRt>, Response> {
    let Some(rt) = core.endpoint(ep) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("endpoint {ep} not found"),
        ));
    };
    let key = rt.lock().cfg.ai_key.clone();
    if !raw_key_ok(headers, &key) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            format!("endpoint {ep}: Unauthorized worker"),
        ));
    }
    Ok(rt)
}

/// Marks `pod` as seen (registering an external worker); returns false when it is being stopped.
fn seen(rt: &EndpointRt, pod: &str) -> bool {
    let mut st = rt.lock();
    let version = st.cfg.version;
    let lb = st.cfg.load_balanced();
    let w = st.workers.entry(pod.to_owned()).or_insert_with(|| {
        let now = Instant::now();
        tracing::info!(endpoint = %rt.id, worker = %pod, "external worker joined");
        Worker {
            id: pod.to_owned(),
            pid: None,
            version,
            state: WorkerPhase::Idle,
            started: now,
            last_active: now,
            last_ping: None,
            polls: 0,
            port: None,
            managed: false,
            lb_inflight: 0,
            kill: None,
        }
    });
    w.last_ping = Some(Instant::now());
    let ready = w.state == WorkerPhase::Initializing && !lb;
    if ready {
        w.state = WorkerPhase::Idle;
    }
    let serving = w.state != WorkerPhase::Stopping;
    if ready {
        st.worker_ready();
    }
    serving
}

/// Counts a job-take long poll in flight for its worker (alive while it is held).
struct Polling<'a> {
    rt: &'a EndpointRt,
    pod: &'a str,
}

impl<'a> Polling<'a> {
    fn start(rt: &'a EndpointRt, pod: &'a str) -> Self {
        if let Some(w) = rt.lock().workers.get_mut(pod) {
            w.polls += 1;
        }
        Self { rt, pod }
    }
}

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.rt.lock().workers.get_mut(self.pod) {
            w.polls = w.polls.saturating_sub(1);
            w.last_ping = Some(Instant::now());
        }
    }
}

async fn take_n(core: &Core, rt: &EndpointRt, pod: &str, n: usize) -> Option<Vec<Value>> {
    if !seen(rt, pod) {
        return None;
    }
    let _polling = Polling::start(rt, pod);
    let deadline = tokio::time::Instant::now() + core.settings.take_timeout;
    let got = wait_for(&rt.job_ready, deadline, || {
        if core.is_shutting_down() || !seen(rt, pod) {
            return None;
        }
        let mut st = rt.lock();
        let jobs = st.jobs.take(pod, n);
        if jobs.is_empty() {
            return None;
        }
        if let Some(w) = st.workers.get_mut(pod) {
            w.state = WorkerPhase::Running;
            w.last_active = Instant::now();
        }
        Some(jobs)
    })
    .await;
    if got.is_some() {
        rt.changed.notify_waiters();
    }
    got
}

#[derive(Deserialize)]
struct BatchQuery {
    batch_size: Option<usize>,
}

async fn take(
    State(core): State<Arc<Core>>,
    Path((ep, pod)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    Ok(
        match take_n(&core, &rt, &pod, 1).await.and_then(|mut v| v.pop()) {
            Some(job) => axum::Json(job).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

async fn take_batch(
    State(core): State<Arc<Core>>,
    Path((ep, pod)): Path<(String, String)>,
    Query(q): Query<BatchQuery>,
    headers: HeaderMap,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    let n = q.batch_size.unwrap_or(1).clamp(1, 1000);
    Ok(match take_n(&core, &rt, &pod, n).await {
        Some(jobs) => axum::Json(Value::Array(jobs)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

fn parse(body: &Bytes, what: &str, job: &str) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("{what} body for job {job} is not JSON: {e}"),
        )
    })
}

async fn done(
    State(core): State<Arc<Core>>,
    Path((ep, pod, job)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    let body = parse(&body, "job-done", &job)?;
    let stop_pod = body.get("stopPod").and_then(Value::as_bool) == Some(true);
    let kill = {
        let mut st = rt.lock();
        let changed = st.jobs.done(&pod, &job, &body);
        if !changed {
            tracing::debug!(endpoint = %ep, worker = %pod, job = %job, "result discarded: job not held by this worker");
        }
        let still_holding = st.jobs.holds(&pod) > 0;
        match st.workers.get_mut(&pod) {
            Some(w) => {
                w.last_active = Instant::now();
                w.last_ping = Some(w.last_active);
                if w.state == WorkerPhase::Running && !still_holding {
                    w.state = WorkerPhase::Idle;
                }
                if stop_pod {
                    w.state = WorkerPhase::Stopping;
                    w.kill.take()
                } else {
                    None
                }
            }
            None => None,
        }
    };
    if let Some(k) = kill {
        let _ = k.send(());
    }
    rt.changed.notify_waiters();
    Ok(axum::Json(json!({})).into_response())
}

async fn stream(
    State(core): State<Arc<Core>>,
    Path((ep, pod, job)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    let body = parse(&body, "job-stream", &job)?;
    {
        let mut st = rt.lock();
        st.jobs.stream(&pod, &job, &body);
        if let Some(w) = st.workers.get_mut(&pod) {
            w.last_ping = Some(Instant::now());
        }
    }
    rt.changed.notify_waiters();
    Ok(axum::Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct PingQuery {
    /// The jobs the worker holds, comma-separated; absent when it holds none.
    job_id: Option<String>,
}

async fn ping(
    State(core): State<Arc<Core>>,
    Path((ep, pod)): Path<(String, String)>,
    Query(q): Query<PingQuery>,
    headers: HeaderMap,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    seen(&rt, &pod);
    let listed: HashSet<&str> = q
        .job_id
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|id| !id.is_empty())
        .collect();
    let lost = rt
        .lock()
        .jobs
        .heartbeat(&pod, &listed, Instant::now(), core.settings.take_lease());
    if !lost.is_empty() {
        tracing::warn!(endpoint = %ep, worker = %pod, jobs = ?lost, "the worker's heartbeat does not list jobs it was handed; the job-take response was lost, so they were requeued");
        rt.job_ready.notify_waiters();
        rt.changed.notify_waiters();
    }
    Ok(axum::Json(json!({})).into_response())
}

async fn stop(
    State(core): State<Arc<Core>>,
    Path((ep, pod)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    let deadline = tokio::time::Instant::now() + core.settings.take_timeout;
    let ids = wait_for(&rt.stop_ready, deadline, || {
        if core.is_shutting_down() {
            return None;
        }
        let mut st = rt.lock();
        st.jobs.stops.remove(&pod).filter(|v| !v.is_empty())
    })
    .await;
    Ok(match ids {
        Some(ids) => axum::Json(json!({"jobsToStop": ids})).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}
