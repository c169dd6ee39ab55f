//! Row 5: a worker's cold start (process spawn to its first job's result posted) and its idle
//! memory, against a job plane on 127.0.0.1. The worker is this benchmark's own binary, started
//! with the environment Runpod gives a queue worker.
//!
//! Row 5b: the same through the worker image's boot step, as on Runpod: the release artifact of
//! examples/03_mixed_workers present at `FLASH_BUILD_ARTIFACT_PATH` -> unpacked into a fresh
//! `FLASH_APP_DIR` -> entrypoint exec'd -> first job-done. Both rows run side by side here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::{Mutex, Notify};

use crate::{Row, median};

struct Plane {
    input: serde_json::Value,
    handed_out: Mutex<bool>,
    done: Notify,
    /// The posted result, so a failed job is not measured as a cold start.
    result: Mutex<Option<String>>,
}

async fn take(State(plane): State<Arc<Plane>>) -> Response {
    let mut handed_out = plane.handed_out.lock().await;
    if *handed_out {
        drop(handed_out);
        tokio::time::sleep(Duration::from_secs(5)).await;
        return StatusCode::NO_CONTENT.into_response();
    }
    *handed_out = true;
    axum::Json(serde_json::json!({"id": "cold-1", "input": plane.input})).into_response()
}

async fn done(State(plane): State<Arc<Plane>>, body: String) -> StatusCode {
    *plane.result.lock().await = Some(body);
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

/// How a cold start is launched.
enum Launch<'a> {
    /// The worker binary itself, as resource `bench_worker`.
    Direct(&'a std::path::Path),
    /// The boot step on an artifact, as resource `mixed_workers_cpu`.
    Boot {
        boot: &'a flash_emulator::BootCommand,
        artifact: &'a std::path::Path,
    },
}

async fn once(
    launch: &Launch<'_>,
    scratch: &std::path::Path,
) -> Result<(f64, Option<u64>), String> {
    let input = match launch {
        Launch::Direct(_) => serde_json::json!({"a": 1, "b": 2}),
        Launch::Boot { .. } => serde_json::json!({"text": "A cold start"}),
    };
    let plane = Arc::new(Plane {
        input,
        handed_out: Mutex::new(false),
        done: Notify::new(),
        result: Mutex::new(None),
    });
    let app = axum::Router::new()
        .route("/v2/ep/job-take/{pod}", axum::routing::get(take))
        .route("/v2/ep/job-done/{pod}/{job}", axum::routing::post(done))
        .with_state(Arc::clone(&plane));
    let (base, server) = crate::serve_loopback(app).await?;
    let base = format!("{base}/v2/ep");
    let app_dir = scratch.join("app");
    let _ = std::fs::remove_dir_all(&app_dir);
    let (mut command, resource) = match launch {
        Launch::Direct(binary) => {
            let mut command = tokio::process::Command::new(binary);
            command.env_clear();
            (command, "bench_worker")
        }
        Launch::Boot { boot, artifact } => {
            let mut command = tokio::process::Command::new(&boot.program);
            command
                .env_clear()
                .args(&boot.args)
                .env(flash_contract::env::FLASH_BUILD_ARTIFACT_PATH, artifact)
                .env(flash_contract::env::FLASH_APP_DIR, &app_dir);
            (command, "mixed_workers_cpu")
        }
    };
    let started = Instant::now();
    let mut child = command
        .current_dir(scratch)
        .env("FLASH_RESOURCE_NAME", resource)
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
    let result = plane.result.lock().await.take().unwrap_or_default();
    if !result.contains("\"output\"") {
        return Err(format!("the first job failed: {result}"));
    }
    Ok((elapsed, rss))
}

/// Builds the release artifact of examples/03_mixed_workers.
fn mixed_workers_artifact() -> Result<std::path::PathBuf, String> {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/03_mixed_workers");
    let options = flash_cli::build::BuildOptions {
        profile: "release".into(),
        ..flash_cli::build::BuildOptions::default()
    };
    let built = flash_cli::build::build(&flash_cli::project::Project::at(root), &options)
        .map_err(|e| e.to_string())?;
    Ok(built.artifact_path)
}

/// Measures five cold starts of each kind, interleaved.
pub(crate) async fn measure() -> Result<Vec<Row>, String> {
    let binary = std::env::current_exe().map_err(|e| e.to_string())?;
    let boot = crate::boot_command()?;
    let artifact = tokio::task::spawn_blocking(mixed_workers_artifact)
        .await
        .map_err(|e| e.to_string())??;
    let artifact_bytes = std::fs::metadata(&artifact)
        .map_err(|e| e.to_string())?
        .len();
    let scratch = std::env::temp_dir().join(format!("flash-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut booted = Vec::new();
    let mut rss = Vec::new();
    let direct = Launch::Direct(&binary);
    let through_boot = Launch::Boot {
        boot: &boot,
        artifact: &artifact,
    };
    for _ in 0..5 {
        let (ms, kib) = once(&direct, &scratch).await?;
        times.push(ms);
        if let Some(kib) = kib {
            rss.push(kib as f64);
        }
        booted.push(once(&through_boot, &scratch).await?.0);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let direct_ms = median(&mut times);
    let boot_ms = median(&mut booted);
    let mut rows = vec![
        Row {
            number: 5,
            measure: "worker cold start: spawn -> first job-done (median of 5)".into(),
            result: format!("{direct_ms:.1} ms"),
            baseline: "Python runpod worker: about 1.5 s process start -> first job".into(),
            ratio: "-".into(),
            target: "<= 20 ms",
        },
        Row {
            number: 5,
            measure: format!(
                "cold start through the boot step: 03_mixed_workers release artifact ({:.1} MB) unpacked -> exec -> first job-done (median of 5)",
                artifact_bytes as f64 / 1e6
            ),
            result: format!("{boot_ms:.1} ms"),
            baseline: format!("{direct_ms:.1} ms (spawn, no unpack)"),
            ratio: format!("{:.1}x", boot_ms / direct_ms),
            target: "<= 50 ms",
        },
    ];
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
