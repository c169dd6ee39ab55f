//! Row 4: a queue call through the local Runpod (runsync -> emulator -> worker -> result) at 1,
//! 16 and 64 concurrent callers. The app is examples/00_standalone_worker, built and deployed
//! with `flash run`'s code.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{LocalApp, RunOptions};

use crate::{Row, percentile};

/// Measures the emulator path at each concurrency.
pub(crate) async fn measure() -> Result<Vec<Row>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/00_standalone_worker");
    let options = RunOptions {
        build: BuildOptions {
            profile: "release".into(),
            ..BuildOptions::default()
        },
        app: Some("bench".into()),
        env: "bench".into(),
        port: 0,
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
    let client = reqwest::Client::new();
    let body = serde_json::json!({"input": {"name": "bench", "times": 1}});
    // Warm up: a worker is running and the connection pool is open.
    for _ in 0..20 {
        let _ = client.post(&url).bearer_auth(&key).json(&body).send().await;
    }
    let mut rows = Vec::new();
    for callers in [1usize, 16, 64] {
        let deadline = Instant::now() + Duration::from_secs(3);
        let latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (client, url, key, body, latencies) = (
                    client.clone(),
                    url.clone(),
                    key.clone(),
                    body.clone(),
                    Arc::clone(&latencies),
                );
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let start = Instant::now();
                        let ok = match client.post(&url).bearer_auth(&key).json(&body).send().await
                        {
                            Ok(response) => response
                                .json::<serde_json::Value>()
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
        let (p50, p99) = (
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.99),
        );
        rows.push(Row {
            number: 4,
            measure: format!("queue call through the emulator, {callers} concurrent caller(s)"),
            result: format!("{rate:.0} calls/s, p50 {p50:.0} us, p99 {p99:.0} us"),
            baseline: "Python Flash: p50 728 us, 1.7k req/s at 16 (reference)".into(),
            ratio: if callers == 16 {
                format!("{:.1}x Python's calls/s", rate / 1700.0)
            } else {
                "-".into()
            },
            target: ">= 10x Python's calls/s at 16",
        });
    }
    app.stop().await;
    Ok(rows)
}
