//! The client data plane of queue endpoints, `/v2/{endpoint_id}/...` (docs/wire-formats.md, "Queue calls").
//!
//! Auth: `Authorization: Bearer KEY` (or the bare key) with the emulator's API key; otherwise
//! 401 `{"error": "Unauthorized"}`. Unknown endpoint or job: 404 `{"error": "..."}`. A body that
//! is not JSON, a `/run` body without `input`, a `policy` out of Runpod's bounds or a webhook
//! that is not a loopback http(s) URL: 400 naming the field. Finished jobs are kept for the
//! retention window of their route (`/run` 30 min, `/runsync` 1 min), then 404.

// Handlers return `Result<Response, Response>` so `?` can short-circuit with an HTTP error reply;
// the error is a response going straight to the client, not a value worth boxing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::core::{Core, EndpointRt, WorkerPhase, wait_for};
use crate::http::{bearer_ok, error, unauthorized};
use crate::ids;
use crate::jobs::Limits;
use crate::policy::{DEFAULT_EXECUTION_TIMEOUT, Policy};

/// Largest `/runsync` body (Runpod: 20 MB).
pub(crate) const MAX_BODY_BYTES: usize = 20 * 1024 * 1024;

/// The data-plane routes, relative to `/v2`: by endpoint id, and by name through the Flash
/// dispatcher (`/flash/...`). The dispatcher's static `flash` segment wins over `{ep}` (axum
/// matches static segments first), and no endpoint id can be `flash` (ids are generated).
pub(crate) fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/{ep}/run", post(run))
        .route("/{ep}/runsync", post(runsync))
        .route("/{ep}/status/{job}", get(status).post(status))
        .route("/{ep}/stream/{job}", get(stream).post(stream))
        .route("/{ep}/cancel/{job}", post(cancel))
        .route("/{ep}/retry/{job}", post(retry))
        .route("/{ep}/health", get(health))
        .route("/{ep}/purge-queue", post(purge))
        .merge(crate::dispatch::routes())
}

pub(crate) type Reply = Result<Response, Response>;

/// The endpoint a request addresses, and how replies name it.
pub(crate) struct Target {
    pub(crate) rt: Arc<EndpointRt>,
    /// The endpoint id (`/v2/{id}/...`) or `app/environment/resource` (the dispatcher).
    pub(crate) label: String,
}

fn endpoint(core: &Core, headers: &HeaderMap, ep: &str) -> Result<Arc<EndpointRt>, Response> {
    if !bearer_ok(headers, &core.settings.api_key) {
        return Err(unauthorized());
    }
    match core.endpoint(ep) {
        Some(rt) if !rt.lock().deleted => Ok(rt),
        _ => Err(error(
            StatusCode::NOT_FOUND,
            format!("endpoint {ep} not found"),
        )),
    }
}

fn by_id(core: &Core, headers: &HeaderMap, ep: String) -> Result<Target, Response> {
    let rt = endpoint(core, headers, &ep)?;
    Ok(Target { rt, label: ep })
}

fn job_missing(ep: &str, job: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("job {job} not found on endpoint {ep}"),
    )
}

/// How a request's job is kept once it ends.
#[derive(Clone, Copy)]
enum Route {
    Run,
    RunSync,
}
fn submit(
    core: &Core,
    rt: &EndpointRt,
    ep: &str,
    body: &Bytes,
    id: String,
    route: Route,
) -> Result<String, Response> {
    let size = body.len();
    let mut body: Value = serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("endpoint {ep}: request body is not JSON: {e}"),
        )
    })?;
    // Moved out, not cloned: an input may be 20 MB.
    let Some(input) = body.as_object_mut().and_then(|o| o.remove("input")) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("endpoint {ep}: request body has no \"input\""),
        ));
    };
    let webhook = match body.get(flash_contract::jobs::WEBHOOK) {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => match crate::webhooks::refusal(url) {
            Some(why) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("endpoint {ep}: {why}"),
                ));
            }
            None => Some(url.clone()),
        },
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("endpoint {ep}: webhook must be a string URL, got {other}"),
            ));
        }
    };
    let policy = Policy::parse(&body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("endpoint {ep}: {e}")))?;
    let retention = match route {
        Route::Run => core.settings.retention.run,
        Route::RunSync => core.settings.retention.runsync,
    };
    {
        let mut st = rt.lock();
        if st.cfg.load_balanced() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!(
                    "endpoint {ep} is load-balanced; call its own URL instead of the queue API"
                ),
            ));
        }
        let endpoint_timeout = u64::try_from(st.cfg.execution_timeout_ms)
            .ok()
            .filter(|t| *t > 0)
            .map(Duration::from_millis);
        let timeout = policy
            .execution_timeout
            .or(endpoint_timeout)
            .unwrap_or(DEFAULT_EXECUTION_TIMEOUT);
        if !st.jobs.has_room(size) {
            return Err(error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "endpoint {ep}: {} bytes of job input are waiting or running, the most it holds is {}; retry when jobs finish",
                    st.jobs.live_bytes(),
                    crate::jobs::MAX_LIVE_INPUT_BYTES
                ),
            ));
        }
        st.jobs.submit_sized(
            id.clone(),
            input,
            size,
            webhook,
            Limits {
                execution_timeout: timeout,
                ttl: policy.ttl(),
            },
        );
        st.jobs.set_terms(&id, policy.low_priority, retention);
    }
    rt.job_ready.notify_waiters();
    Ok(id)
}

/// `POST .../run`: queues the job, answers at once.
pub(crate) fn do_run(core: &Core, t: &Target, body: &Bytes) -> Reply {
    let id = submit(
        core,
        &t.rt,
        &t.label,
        body,
        format!("{}-u1", ids::uuid()),
        Route::Run,
    )?;
    Ok(axum::Json(json!({"id": id, "status": "IN_QUEUE"})).into_response())
}

#[derive(Deserialize)]
pub(crate) struct WaitQuery {
    wait: Option<u64>,
}

/// `POST .../runsync?wait=MS`: queues the job and answers when it ends or the wait passes.
pub(crate) async fn do_runsync(core: &Core, t: &Target, q: &WaitQuery, body: &Bytes) -> Reply {
    let rt = &t.rt;
    let id = submit(
        core,
        rt,
        &t.label,
        body,
        format!("sync-{}", ids::uuid()),
        Route::RunSync,
    )?;
    let wait = Duration::from_millis(q.wait.unwrap_or(90_000).clamp(1000, 300_000));
    let deadline = tokio::time::Instant::now() + wait;
    let done = wait_for(&rt.changed, deadline, || {
        let st = rt.lock();
        let job = st.jobs.jobs.get(&id)?;
        job.status.is_final().then(|| job.status_object())
    })
    .await;
    let reply = done.unwrap_or_else(|| {
        let st = rt.lock();
        st.jobs.jobs.get(&id).map_or_else(
            || json!({"id": id, "status": "IN_QUEUE"}),
            |j| json!({"id": id, "status": j.status.as_str()}),
        )
    });
    Ok(axum::Json(reply).into_response())
}

pub(crate) fn do_status(t: &Target, job: &str) -> Reply {
    let st = t.rt.lock();
    let obj = st.jobs.jobs.get(job).map(crate::jobs::Job::status_object);
    obj.map(|o| axum::Json(o).into_response())
        .ok_or_else(|| job_missing(&t.label, job))
}

pub(crate) fn do_stream(t: &Target, job: &str) -> Reply {
    let obj = t.rt.lock().jobs.read_stream(job);
    obj.map(|o| axum::Json(o).into_response())
        .ok_or_else(|| job_missing(&t.label, job))
}

pub(crate) fn do_cancel(t: &Target, job: &str) -> Reply {
    let rt = &t.rt;
    let obj = rt.lock().jobs.cancel(job);
    rt.changed.notify_waiters();
    rt.stop_ready.notify_waiters();
    obj.map(|o| axum::Json(o).into_response())
        .ok_or_else(|| job_missing(&t.label, job))
}

pub(crate) fn do_retry(t: &Target, job: &str) -> Reply {
    let rt = &t.rt;
    let res = rt.lock().jobs.retry(job);
    match res {
        None => Err(job_missing(&t.label, job)),
        Some(Err(status)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "job {job} is {}; only FAILED or TIMED_OUT jobs can be retried",
                status.as_str()
            ),
        )),
        Some(Ok(obj)) => {
            rt.job_ready.notify_waiters();
            rt.changed.notify_waiters();
            Ok(axum::Json(obj).into_response())
        }
    }
}

async fn run(
    State(core): State<Arc<Core>>,
    Path(ep): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    do_run(&core, &by_id(&core, &headers, ep)?, &body)
}

async fn runsync(
    State(core): State<Arc<Core>>,
    Path(ep): Path<String>,
    Query(q): Query<WaitQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    do_runsync(&core, &by_id(&core, &headers, ep)?, &q, &body).await
}

async fn status(
    State(core): State<Arc<Core>>,
    Path((ep, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    do_status(&by_id(&core, &headers, ep)?, &job)
}

async fn stream(
    State(core): State<Arc<Core>>,
    Path((ep, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    do_stream(&by_id(&core, &headers, ep)?, &job)
}

async fn cancel(
    State(core): State<Arc<Core>>,
    Path((ep, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    do_cancel(&by_id(&core, &headers, ep)?, &job)
}

async fn retry(
    State(core): State<Arc<Core>>,
    Path((ep, job)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    do_retry(&by_id(&core, &headers, ep)?, &job)
}

async fn health(
    State(core): State<Arc<Core>>,
    Path(ep): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    let st = rt.lock();
    let count = |s: WorkerPhase| st.workers.values().filter(|w| w.state == s).count();
    let held = |id: &str| st.jobs.holds(id) > 0;
    let running = st
        .workers
        .values()
        .filter(|w| {
            w.state == WorkerPhase::Running || (w.state != WorkerPhase::Stopping && held(&w.id))
        })
        .count();
    let idle = st
        .workers
        .values()
        .filter(|w| w.state == WorkerPhase::Idle && !held(&w.id))
        .count();
    let c = st.jobs.counters;
    Ok(axum::Json(json!({
        "jobs": {
            "completed": c.completed,
            "failed": c.failed,
            "inProgress": st.jobs.in_progress(),
            "inQueue": st.jobs.queued(),
            "retried": c.retried,
        },
        "workers": {
            "idle": idle,
            "running": running,
            "initializing": count(WorkerPhase::Initializing),
        },
    }))
    .into_response())
}

async fn purge(State(core): State<Arc<Core>>, Path(ep): Path<String>, headers: HeaderMap) -> Reply {
    let rt = endpoint(&core, &headers, &ep)?;
    let removed = rt.lock().jobs.purge();
    rt.changed.notify_waiters();
    Ok(axum::Json(json!({"removed": removed, "status": "completed"})).into_response())
}
