//! Row 4: a queue call through the local Runpod (runsync -> emulator -> worker -> result) at 1,
//! 16 and 64 concurrent callers, for a Rust worker (examples/00_standalone_worker, built and
//! deployed with `flash run`'s code) and, side by side, the official Python `runpod` SDK worker
//! deployed to the same kind of emulator with the same deploy code and called the same way.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{LocalApp, RunOptions};
use serde_json::{Value, json};

use crate::{Row, percentile};

const CALLERS: [usize; 3] = [1, 16, 64];

/// calls/s, p50 us, p99 us.
type Stats = (f64, f64, f64);

async fn drive(url: &str, key: &str, body: &Value, callers: usize) -> Result<Stats, String> {
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let _ = client.post(url).bearer_auth(key).json(body).send().await;
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (client, url, key, body, latencies) = (
                client.clone(),
                url.to_owned(),
                key.to_owned(),
                body.clone(),
                Arc::clone(&latencies),
            );
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let start = Instant::now();
                    let ok = match client.post(&url).bearer_auth(&key).json(&body).send().await {
                        Ok(response) => response
                            .json::<Value>()
                            .await
                            .is_ok_and(|v| v["status"] == "COMPLETED"),
                        Err(_) => false,
                    };
                    if ok {
                        let us = start.elapsed().as_secs_f64() * 1e6;
                        latencies.lock().unwrap_or_else(|p| p.into_inner()).push(us);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    if samples.is_empty() {
        return Err(format!("no call completed at {callers} callers"));
    }
    let rate = samples.len() as f64 / elapsed;
    Ok((
        rate,
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    ))
}

async fn rust_side() -> Result<Vec<Stats>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/00_standalone_worker");
    let options = RunOptions {
        build: BuildOptions {
            profile: "release".into(),
            ..BuildOptions::default()
        },
        app: Some("bench".into()),
        env: "bench".into(),
        port: 0,
        boot: Some(crate::boot_command()?),
    };
    let app = LocalApp::start(&Project::at(root), &options)
        .await
        .map_err(|e| e.to_string())?;
    let url = app
        .report
        .endpoints
        .iter()
        .find(|e| e.resource == "standalone_worker")
        .map(|e| format!("{}/runsync", e.url))
        .ok_or("no standalone_worker endpoint")?;
    let key = app.emulator.api_key().expose().to_owned();
    let body = json!({"input": {"name": "bench", "times": 1}});
    let mut stats = Vec::new();
    for callers in CALLERS {
        stats.push(drive(&url, &key, &body, callers).await?);
    }
    app.stop().await;
    Ok(stats)
}

async fn python_side() -> Result<Vec<Stats>, String> {
    let python = crate::python::interpreter()?;
    let scratch = std::env::temp_dir().join(format!("flash-bench-python-{}", std::process::id()));
    let (emulator, url, key) = crate::python::deploy_python_worker(&python, &scratch).await?;
    let body = json!({"input": {"a": 1, "b": 2}});
    let mut stats = Vec::new();
    for callers in CALLERS {
        match drive(&url, &key, &body, callers).await {
            Ok(found) => stats.push(found),
            Err(error) => {
                emulator.shutdown().await;
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(error);
            }
        }
    }
    emulator.shutdown().await;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(stats)
}

/// Measures both sides and returns one row per concurrency.
pub(crate) async fn measure() -> Result<Vec<Row>, String> {
    let rust = rust_side().await?;
    let python = python_side().await;
    if let Err(error) = &python {
        eprintln!("python side of the queue path: skipped: {error}");
    }
    Ok(CALLERS
        .iter()
        .enumerate()
        .map(|(i, callers)| {
            let (rate, p50, p99) = rust[i];
            let (baseline, ratio) = match &python {
                Ok(python) => {
                    let (prate, pp50, pp99) = python[i];
                    (
                        format!("Python runpod worker: {prate:.0} calls/s, p50 {pp50:.0} us, p99 {pp99:.0} us"),
                        format!("{:.1}x calls/s", rate / prate),
                    )
                }
                Err(_) => ("Python: skipped (see stderr)".into(), "-".into()),
            };
            Row {
                number: 4,
                measure: format!("queue call through the emulator, {callers} caller(s)"),
                result: format!("{rate:.0} calls/s, p50 {p50:.0} us, p99 {p99:.0} us"),
                baseline,
                ratio,
                target: ">= 10x Python's calls/s at 16",
            }
        })
        .collect())
}
