//! Worker throughput (issue 4's benchmarks): jobs per second through one queue worker at
//! concurrency 1 and 16 against a job plane on 127.0.0.1 that never makes it wait, and
//! load-balanced requests per second at 16 connections against a bare axum handler serving the
//! same answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use runpod_flash::worker::{FunctionTable, JobPlane, lb_router, run_queue_worker};
use runpod_flash::{FlashError, Resource, remote};

use crate::Row;

const LB: Resource = Resource::load_balanced("bench_lb");

#[remote(LB, method = "POST", path = "/add")]
async fn lb_add(a: u64, b: u64) -> Result<u64, FlashError> {
    Ok(a.wrapping_add(b))
}

#[derive(Default)]
struct Plane {
    next: AtomicUsize,
    done: AtomicUsize,
}

async fn take(
    State(plane): State<Arc<Plane>>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let size: usize = query
        .get("batch_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let jobs: Vec<serde_json::Value> = (0..size)
        .map(|_| {
            let id = plane.next.fetch_add(1, Ordering::Relaxed);
            serde_json::json!({"id": format!("j{id}"), "input": {"a": id, "b": 1}})
        })
        .collect();
    if query.contains_key("batch_size") {
        axum::Json(serde_json::Value::Array(jobs))
    } else {
        axum::Json(jobs.into_iter().next().unwrap_or_default())
    }
}

async fn done(State(plane): State<Arc<Plane>>) -> &'static str {
    plane.done.fetch_add(1, Ordering::Relaxed);
    "{}"
}

async fn jobs_per_second(concurrency: usize) -> Result<f64, String> {
    let plane = Arc::new(Plane::default());
    let app = axum::Router::new()
        .route("/v2/ep/{kind}/{pod}", axum::routing::get(take))
        .route("/v2/ep/job-done/{pod}/{job}", axum::routing::post(done))
        .with_state(Arc::clone(&plane));
    let (base, server) = crate::serve_loopback(app).await?;
    let base = format!("{base}/v2/ep");
    let vars = HashMap::from([
        ("RUNPOD_WEBHOOK_GET_JOB", format!("{base}/job-take/$ID")),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{base}/job-done/$RUNPOD_POD_ID/$ID"),
        ),
        ("RUNPOD_AI_API_KEY", "bench".to_owned()),
        ("RUNPOD_POD_ID", "bench".to_owned()),
    ]);
    let plane_env = JobPlane::from_vars(|name| vars.get(name).cloned()).ok_or("no job plane")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(run_queue_worker(
        plane_env,
        FunctionTable::for_resource("bench_worker"),
        concurrency,
        stopped,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (start_count, start) = (plane.done.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rate =
        (plane.done.load(Ordering::Relaxed) - start_count) as f64 / start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = worker.await;
    server.abort();
    Ok(rate)
}

async fn requests_per_second(router: axum::Router, connections: usize) -> Result<f64, String> {
    let (base, server) = crate::serve_loopback(router).await?;
    let url = format!("{base}/add");
    let count = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(2);
    let clients: Vec<_> = (0..connections)
        .map(|_| {
            let (url, count) = (url.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while Instant::now() < deadline {
                    let ok = client
                        .post(&url)
                        .json(&serde_json::json!({"a": 1, "b": 2}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    if ok {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    for client in clients {
        let _ = client.await;
    }
    server.abort();
    Ok(count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// The worker throughput rows.
pub(crate) async fn measure() -> Vec<Row> {
    let mut rows = Vec::new();
    for concurrency in [1, 16] {
        let result = jobs_per_second(concurrency).await;
        rows.push(Row {
            number: 4,
            measure: format!("queue worker, trivial job, concurrency {concurrency}"),
            result: result.map_or_else(|e| format!("failed: {e}"), |r| format!("{r:.0} jobs/s")),
            baseline: "Python Flash queue handler: 1.7k req/s at 16 (reference)".into(),
            ratio: "-".into(),
            target: "report",
        });
    }
    let table = FunctionTable::for_resource("bench_lb");
    let ours = requests_per_second(lb_router(&table), 16).await;
    let bare = requests_per_second(
        axum::Router::new().route(
            "/add",
            axum::routing::post(|axum::Json(v): axum::Json<serde_json::Value>| async move {
                axum::Json(
                    v["a"]
                        .as_u64()
                        .unwrap_or(0)
                        .wrapping_add(v["b"].as_u64().unwrap_or(0)),
                )
            }),
        ),
        16,
    )
    .await;
    let (result, baseline, ratio) = match (ours, bare) {
        (Ok(ours), Ok(bare)) => (
            format!("{ours:.0} req/s"),
            format!("bare axum {bare:.0} req/s"),
            format!("{:.2}x", ours / bare),
        ),
        (ours, bare) => (format!("{ours:?}"), format!("{bare:?}"), "-".into()),
    };
    rows.push(Row {
        number: 4,
        measure: "load-balanced worker, 16 connections".into(),
        result,
        baseline,
        ratio,
        target: ">= 0.8x bare axum (Python Flash LB: 8.9k req/s)",
    });
    rows
}
