//! Row 5: a worker's cold start (process spawn to its first job's result posted) and its idle
//! memory, against a job plane on 127.0.0.1. The worker is this benchmark's own binary, started
//! with the environment Runpod gives a queue worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::{Mutex, Notify};

use crate::{Row, median};

#[derive(Default)]
struct Plane {
    handed_out: Mutex<bool>,
    done: Notify,
}

async fn take(State(plane): State<Arc<Plane>>) -> Response {
    let mut handed_out = plane.handed_out.lock().await;
    if *handed_out {
        drop(handed_out);
        tokio::time::sleep(Duration::from_secs(5)).await;
        return StatusCode::NO_CONTENT.into_response();
    }
    *handed_out = true;
    axum::Json(serde_json::json!({"id": "cold-1", "input": {"a": 1, "b": 2}})).into_response()
}

async fn done(State(plane): State<Arc<Plane>>) -> StatusCode {
    plane.done.notify_one();
    StatusCode::OK
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn once(
    binary: &std::path::Path,
    scratch: &std::path::Path,
) -> Result<(f64, Option<u64>), String> {
    let plane = Arc::new(Plane::default());
    let app = axum::Router::new()
        .route("/v2/ep/job-take/{pod}", axum::routing::get(take))
        .route("/v2/ep/job-done/{pod}/{job}", axum::routing::post(done))
        .with_state(Arc::clone(&plane));
    let (base, server) = crate::serve_loopback(app).await?;
    let base = format!("{base}/v2/ep");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .current_dir(scratch)
        .env_clear()
        .env("FLASH_RESOURCE_NAME", "bench_worker")
        .env("RUNPOD_WEBHOOK_GET_JOB", format!("{base}/job-take/$ID"))
        .env(
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{base}/job-done/$RUNPOD_POD_ID/$ID"),
        )
        .env("RUNPOD_AI_API_KEY", "bench")
        .env("RUNPOD_POD_ID", "bench-pod")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let finished = tokio::time::timeout(Duration::from_secs(20), plane.done.notified()).await;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss = child.id().and_then(rss_kib);
    let _ = child.kill().await;
    server.abort();
    finished.map_err(|_| "the worker posted no result within 20 s".to_owned())?;
    Ok((elapsed, rss))
}

/// Measures five cold starts.
pub(crate) async fn measure() -> Result<Vec<Row>, String> {
    let binary = std::env::current_exe().map_err(|e| e.to_string())?;
    let scratch = std::env::temp_dir().join(format!("flash-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..5 {
        let (ms, kib) = once(&binary, &scratch).await?;
        times.push(ms);
        if let Some(kib) = kib {
            rss.push(kib as f64);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let mut rows = vec![Row {
        number: 5,
        measure: "worker cold start: spawn -> first job-done (median of 5)".into(),
        result: format!("{:.1} ms", median(&mut times)),
        baseline: "Python runpod worker: not measured here".into(),
        ratio: "-".into(),
        target: "<= 20 ms",
    }];
    if !rss.is_empty() {
        rows.push(Row {
            number: 5,
            measure: "worker idle RSS after one job".into(),
            result: format!("{:.1} MB", median(&mut rss) / 1024.0),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "<= 15 MB",
        });
    }
    Ok(rows)
}
