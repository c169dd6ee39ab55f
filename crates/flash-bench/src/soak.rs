//! Soak: 100 000 jobs queued on one endpoint of the emulator (every input held until its job
//! ends), then drained by the runtime's queue worker (concurrency 16) whose job-done posts go
//! through a proxy that answers 503 to one in a hundred, side by side with the same drain
//! without faults. Prints the process's resident memory (before, queued, peak) and the bytes
//! per queued job, the drain rates and their ratio, and the job count by final state: every
//! job must end COMPLETED once, none lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flash_emulator::{Emulator, EmulatorHandle};
use runpod_flash::ApiKey;
use runpod_flash::worker::{FunctionTable, JobPlane, run_queue_worker};
use serde_json::{Value, json};

use crate::Row;

const QUEUED: usize = 100_000;
const BASELINE_JOBS: usize = 20_000;
const SUBMITTERS: usize = 16;
const CONCURRENCY: usize = 16;
const KEY: &str = "soak-key";

/// Resident set size now and at its peak, in bytes (Linux `/proc/self/status`).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The JSON answer to `request`, sent with the emulator's key.
async fn json_of(request: reqwest::RequestBuilder) -> Result<Value, String> {
    request
        .bearer_auth(KEY)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// An endpoint with no build (the emulator starts no worker for it); returns (id, aiKey).
async fn endpoint(emu: &EmulatorHandle, name: &str) -> Result<(String, String), String> {
    let query = "mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { id aiKey } }";
    let input = json!({"name": name, "workersMin": 0, "workersMax": 1,
        "template": {"name": name, "imageName": "flash-rs-worker-cpu:soak", "containerDiskInGb": 10, "dockerArgs": "", "env": []}});
    let answer = json_of(
        reqwest::Client::new()
            .post(emu.graphql_url())
            .json(&json!({"query": query, "variables": {"input": input}})),
    )
    .await?;
    let ep = &answer["data"]["saveEndpoint"];
    match (ep["id"].as_str(), ep["aiKey"].as_str()) {
        (Some(id), Some(key)) => Ok((id.to_owned(), key.to_owned())),
        _ => Err(format!("saveEndpoint failed: {answer}")),
    }
}

/// Submits `n` jobs with `SUBMITTERS` concurrent clients; returns jobs/s.
async fn submit(base: &str, ep: &str, n: usize) -> Result<f64, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..SUBMITTERS)
        .map(|_| {
            let (next, client, url) = (
                Arc::clone(&next),
                client.clone(),
                format!("{base}/{ep}/run"),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok(());
                    }
                    let r = client
                        .post(&url)
                        .bearer_auth(KEY)
                        .json(&json!({"input": {"a": i, "b": 1}}))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if !r.status().is_success() {
                        return Err(format!("/run answered {}", r.status()));
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Forwards job-done posts to the emulator, answering 503 instead to every `fail_every`th.
#[derive(Clone)]
struct DoneProxy {
    upstream: String,
    http: reqwest::Client,
    seen: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    fail_every: usize,
}

async fn done(
    State(proxy): State<DoneProxy>,
    Path((ep, pod, job)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = proxy.seen.fetch_add(1, Ordering::Relaxed) + 1;
    if proxy.fail_every > 0 && n % proxy.fail_every == 0 {
        proxy.failed.fetch_add(1, Ordering::Relaxed);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let mut out = proxy
        .http
        .post(format!(
            "{}/v2/{ep}/job-done/{pod}/{job}?isStream=false",
            proxy.upstream
        ))
        .body(body);
    if let Some(auth) = headers.get("authorization") {
        out = out.header("authorization", auth);
    }
    match out.send().await {
        Ok(r) => StatusCode::from_u16(r.status().as_u16())
            .unwrap_or(StatusCode::BAD_GATEWAY)
            .into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// Job counts from `/health`: (completed, failed, queued + in progress).
async fn health(base: &str, ep: &str) -> Result<(u64, u64, u64), String> {
    let h = json_of(reqwest::Client::new().get(format!("{base}/{ep}/health"))).await?;
    let n = |k: &str| h["jobs"][k].as_u64().unwrap_or(0);
    Ok((n("completed"), n("failed"), n("inQueue") + n("inProgress")))
}

/// Drains endpoint `ep` (holding `n` jobs) with the runtime's queue worker, its job-done posts
/// failing one in `fail_every` (0: never). Returns (jobs/s, completed, failed, left, injected).
async fn drain(
    emu: &EmulatorHandle,
    ep: &str,
    ai_key: &str,
    n: usize,
    fail_every: usize,
) -> Result<(f64, u64, u64, u64, usize), String> {
    let base = emu.endpoint_base_url();
    let proxy = DoneProxy {
        upstream: emu.api_base_url().to_owned(),
        http: reqwest::Client::new(),
        seen: Arc::default(),
        failed: Arc::default(),
        fail_every,
    };
    let app = axum::Router::new()
        .route("/v2/{ep}/job-done/{pod}/{job}", axum::routing::post(done))
        .with_state(proxy.clone());
    let (proxy_url, server) = crate::serve_loopback(app).await?;
    let vars = HashMap::from([
        (
            "RUNPOD_WEBHOOK_GET_JOB",
            format!("{base}/{ep}/job-take/$ID?gpu=soak"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{proxy_url}/v2/{ep}/job-done/$RUNPOD_POD_ID/$ID?gpu=soak"),
        ),
        ("RUNPOD_AI_API_KEY", ai_key.to_owned()),
        ("RUNPOD_POD_ID", format!("soak-{ep}")),
    ]);
    let plane = JobPlane::from_vars(|name| vars.get(name).cloned()).ok_or("no job plane")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let worker = tokio::spawn(run_queue_worker(
        plane,
        FunctionTable::for_resource("bench_worker"),
        CONCURRENCY,
        stopped,
    ));
    let deadline = started + Duration::from_secs(900);
    let counts = loop {
        let (completed, failed, left) = health(&base, ep).await?;
        if left == 0 || Instant::now() > deadline {
            break (completed, failed, left);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = worker.await;
    server.abort();
    Ok((
        rate,
        counts.0,
        counts.1,
        counts.2,
        proxy.failed.load(Ordering::Relaxed),
    ))
}

/// The soak rows.
pub(crate) async fn measure() -> Result<Vec<Row>, String> {
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).ok_or("key")?)
        .take_timeout(Duration::from_secs(2))
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let base = emu.endpoint_base_url();
    let (baseline_ep, baseline_key) = endpoint(&emu, "soak-baseline").await?;
    let (soak_ep, soak_key) = endpoint(&emu, "soak").await?;

    submit(&base, &baseline_ep, BASELINE_JOBS).await?;
    let (clean_rate, clean_done, clean_failed, clean_left, _) =
        drain(&emu, &baseline_ep, &baseline_key, BASELINE_JOBS, 0).await?;

    let (before, _) = rss();
    let submit_rate = submit(&base, &soak_ep, QUEUED).await?;
    let (queued_rss, _) = rss();
    let per_job = queued_rss.saturating_sub(before) / QUEUED as u64;
    let (rate, completed, failed, left, injected) =
        drain(&emu, &soak_ep, &soak_key, QUEUED, 100).await?;
    let (after, peak) = rss();
    emu.shutdown().await;
    let lost = QUEUED as u64 - completed - failed;
    println!(
        "soak: {QUEUED} jobs queued at {submit_rate:.0}/s; RSS {} before, {} queued ({per_job} B per queued job), {} after the drain, {} peak",
        mib(before),
        mib(queued_rss),
        mib(after),
        mib(peak)
    );
    println!(
        "soak: drained at {rate:.0} jobs/s with {injected} job-done posts answered 503 (1 in 100); \
         completed {completed}, failed {failed}, left {left}, lost {lost}; \
         without faults ({BASELINE_JOBS} jobs): {clean_rate:.0} jobs/s, completed {clean_done}, failed {clean_failed}, left {clean_left}"
    );
    if lost != 0 || failed != 0 || left != 0 {
        return Err(format!(
            "jobs not completed: failed {failed}, left {left}, lost {lost}"
        ));
    }
    Ok(vec![
        Row {
            number: 16,
            measure: format!("soak: RSS per queued job ({QUEUED} queued), peak RSS"),
            result: format!("{per_job} B/job, peak {}", mib(peak)),
            baseline: format!("RSS before queueing {}", mib(before)),
            ratio: format!("{:.2}x peak/before", peak as f64 / before.max(1) as f64),
            target: "bounded; nothing lost",
        },
        Row {
            number: 16,
            measure:
                "soak: drain rate, 1% job-done failures vs none (runtime worker, concurrency 16)"
                    .into(),
            result: format!("{rate:.0} jobs/s, lost {lost}"),
            baseline: format!("{clean_rate:.0} jobs/s"),
            ratio: format!("{:.2}x", rate / clean_rate.max(f64::MIN_POSITIVE)),
            target: "lost = 0",
        },
    ])
}
