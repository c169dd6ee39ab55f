//! A queue worker's local test API, like the Python SDK's `--rp_serve_api`: try one worker with
//! curl, no platform needed. Routes: `POST /run` (queues; a background task runs the job),
//! `POST /runsync`, `GET|POST /status/{id}`, `GET /health`. No auth: it listens on loopback.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::dispatch::FunctionTable;

#[derive(Default)]
struct Counters {
    completed: u64,
    failed: u64,
    in_progress: u64,
    in_queue: u64,
}

/// Finished `/run` results kept for `/status` (the oldest go first beyond it).
const KEEP_RESULTS: usize = 1000;

/// `/run` jobs by id, with the finished ones in the order they finished.
#[derive(Default)]
struct Jobs {
    by_id: HashMap<String, Value>,
    finished: VecDeque<String>,
}

impl Jobs {
    fn set(&mut self, id: String, status: Value) {
        self.by_id.insert(id, status);
    }

    /// Records a final result and forgets the oldest beyond [`KEEP_RESULTS`].
    fn finish(&mut self, id: String, result: Value) {
        self.by_id.insert(id.clone(), result);
        self.finished.push_back(id);
        while self.finished.len() > KEEP_RESULTS {
            if let Some(old) = self.finished.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

#[derive(Clone)]
struct LocalApi {
    table: Arc<FunctionTable>,
    jobs: Arc<Mutex<Jobs>>,
    counters: Arc<Mutex<Counters>>,
    permits: Arc<tokio::sync::Semaphore>,
}

/// The router of the local test API for `table`, running up to `concurrency` jobs at once.
pub fn router(table: FunctionTable, concurrency: usize) -> axum::Router {
    let api = LocalApi {
        table: Arc::new(table),
        jobs: Arc::default(),
        counters: Arc::default(),
        permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
    };
    axum::Router::new()
        .route("/run", post(run))
        .route("/runsync", post(runsync))
        .route("/status/{id}", get(status).post(status))
        .route("/health", get(health))
        .layer(axum::extract::DefaultBodyLimit::max(
            crate::config::MAX_PAYLOAD_BYTES,
        ))
        .with_state(api)
}

fn job_id(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::random::<u128>())
}

impl LocalApi {
    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.counters.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn execute(&self, id: &str, input: Value) -> Value {
        let Ok(_permit) = self.permits.acquire().await else {
            return json!({"id": id, "status": "FAILED", "error": "worker shutting down"});
        };
        self.count(|c| c.in_progress += 1);
        let started = std::time::Instant::now();
        let result = self.table.run_job(input).await;
        let execution_time = started.elapsed().as_millis() as u64;
        self.count(|c| {
            c.in_progress -= 1;
            if result.is_ok() {
                c.completed += 1;
            } else {
                c.failed += 1;
            }
        });
        match result {
            Ok(output) => {
                json!({"id": id, "status": "COMPLETED", "output": output, "executionTime": execution_time})
            }
            Err(error) => json!({
                "id": id,
                "status": "FAILED",
                "error": serde_json::to_string(&error).unwrap_or(error.error_message),
                "executionTime": execution_time,
            }),
        }
    }
}

fn missing_input() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "the body must be {\"input\": {...arguments by name...}}"})),
    )
        .into_response()
}

async fn run(State(api): State<LocalApi>, Json(body): Json<Value>) -> Response {
    let Some(input) = body.get("input").cloned() else {
        return missing_input();
    };
    let id = job_id("test");
    api.jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .set(id.clone(), json!({"id": id, "status": "IN_QUEUE"}));
    api.count(|c| c.in_queue += 1);
    let worker = api;
    let job = id.clone();
    tokio::spawn(async move {
        worker.count(|c| c.in_queue -= 1);
        worker
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set(job.clone(), json!({"id": job, "status": "IN_PROGRESS"}));
        let done = worker.execute(&job, input).await;
        worker
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finish(job, done);
    });
    Json(json!({"id": id, "status": "IN_QUEUE"})).into_response()
}

async fn runsync(State(api): State<LocalApi>, Json(body): Json<Value>) -> Response {
    match body.get("input").cloned() {
        Some(input) => Json(api.execute(&job_id("sync"), input).await).into_response(),
        None => missing_input(),
    }
}

async fn status(State(api): State<LocalApi>, Path(id): Path<String>) -> Response {
    match api
        .jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .by_id
        .get(&id)
    {
        Some(status) => Json(status.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no job {id}")})),
        )
            .into_response(),
    }
}

async fn health(State(api): State<LocalApi>) -> Json<Value> {
    let c = api.counters.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!({
        "jobs": {"completed": c.completed, "failed": c.failed, "inProgress": c.in_progress, "inQueue": c.in_queue, "retried": 0},
        "workers": {"idle": u64::from(c.in_progress == 0), "running": u64::from(c.in_progress > 0)},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_results_are_kept_up_to_the_limit_oldest_first_out() {
        let mut jobs = Jobs::default();
        jobs.set("running".into(), json!({"status": "IN_PROGRESS"}));
        for i in 0..KEEP_RESULTS + 5 {
            jobs.finish(format!("j{i}"), json!({"status": "COMPLETED"}));
        }
        assert_eq!(jobs.by_id.len(), KEEP_RESULTS + 1);
        assert!(!jobs.by_id.contains_key("j4"));
        assert!(jobs.by_id.contains_key("j5"));
        assert!(
            jobs.by_id.contains_key("running"),
            "an unfinished job is never evicted"
        );
    }
}
