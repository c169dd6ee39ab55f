//! Row 7: a streaming function's queue job through the local Runpod, read through its
//! `#[remote]` stub and with `runpod_flash::client`'s `Job::stream`: the time to its first item
//! and items per second, next to a unary job producing the same items and returning them as one
//! result. Each item takes [`ITEM_WORK`] to produce (a token of a
//! generator), so the unary caller waits for all of them. The worker is this process's own
//! queue worker on the emulator's job plane.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use runpod_flash::ApiKey;
use runpod_flash::client::QueueEndpoint;
use runpod_flash::testing::{Mocks, StaticEndpoints};
use runpod_flash::worker::{FunctionTable, JobPlane, run_queue_worker};
use runpod_flash::{FlashError, Resource, Stream, remote};
use serde_json::{Value, json};

use crate::{Row, median};

const STREAM: Resource = Resource::queue("bench_stream");
const STREAM_LB: Resource = Resource::load_balanced("bench_stream_lb");
/// Items per job.
const ITEMS: u32 = 200;
/// Time to produce one item.
const ITEM_WORK: Duration = Duration::from_millis(2);
/// Jobs measured per side.
const ROUNDS: usize = 10;
const KEY: &str = "bench-stream-key";

fn item(i: u32) -> String {
    format!("token-{i:05}")
}

/// Streams `n` items (its job's result is all of them, the SDK's `return_aggregate_stream`).
#[remote(STREAM)]
fn bench_tokens(n: u32) -> impl Stream<Item = Result<String, FlashError>> {
    futures_util::stream::iter(0..n).then(|i| async move {
        tokio::time::sleep(ITEM_WORK).await;
        Ok(item(i))
    })
}

/// The same items as one result.
#[remote(STREAM)]
async fn bench_tokens_unary(n: u32) -> Result<Vec<String>, FlashError> {
    let mut all = Vec::with_capacity(n as usize);
    for i in 0..n {
        tokio::time::sleep(ITEM_WORK).await;
        all.push(item(i));
    }
    Ok(all)
}

/// [`bench_tokens`](fn@bench_tokens) on a load-balanced route: server-sent events.
#[remote(STREAM_LB, method = "POST", path = "/tokens")]
fn bench_lb_tokens(n: u32) -> impl Stream<Item = Result<String, FlashError>> {
    futures_util::stream::iter(0..n).then(|i| async move {
        tokio::time::sleep(ITEM_WORK).await;
        Ok(item(i))
    })
}

/// [`bench_tokens_unary`](fn@bench_tokens_unary) on a load-balanced route.
#[remote(STREAM_LB, method = "POST", path = "/tokens-unary")]
async fn bench_lb_tokens_unary(n: u32) -> Result<Vec<String>, FlashError> {
    let mut all = Vec::with_capacity(n as usize);
    for i in 0..n {
        tokio::time::sleep(ITEM_WORK).await;
        all.push(item(i));
    }
    Ok(all)
}

fn input(function: &str) -> Value {
    json!({runpod_flash::call::reserved::FUNCTION: function, "n": ITEMS})
}

pub(crate) async fn measure() -> Result<Vec<Row>, String> {
    let emu = flash_emulator::Emulator::builder()
        .api_key(ApiKey::new(KEY).ok_or("key")?)
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let result = with_emulator(&emu).await;
    emu.shutdown().await;
    result
}

async fn with_emulator(emu: &flash_emulator::EmulatorHandle) -> Result<Vec<Row>, String> {
    let saved: Value = reqwest::Client::new()
        .post(emu.graphql_url())
        .bearer_auth(KEY)
        .json(&json!({
            "query": "mutation($i: EndpointInput!) { saveEndpoint(input: $i) { id aiKey } }",
            "variables": {"i": {"name": "bench_stream", "workersMin": 0, "workersMax": 1,
                "template": {"name": "bench_stream", "containerDiskInGb": 10, "dockerArgs": "", "env": [],
                    "imageName": flash_contract::images::default_image(false, None)}}}
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = saved["data"]["saveEndpoint"]["id"]
        .as_str()
        .ok_or_else(|| format!("saveEndpoint: {saved}"))?
        .to_owned();
    let ai_key = saved["data"]["saveEndpoint"]["aiKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let plane = format!("{}/{endpoint}", emu.endpoint_base_url());
    let vars = HashMap::from([
        (
            "RUNPOD_WEBHOOK_GET_JOB",
            format!("{plane}/job-take/$ID?gpu=cpu"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{plane}/job-done/$RUNPOD_POD_ID/$ID?gpu=cpu"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_STREAM",
            format!("{plane}/job-stream/$RUNPOD_POD_ID/$ID?gpu=cpu"),
        ),
        ("RUNPOD_AI_API_KEY", ai_key),
        ("RUNPOD_POD_ID", "bench-stream".to_owned()),
    ]);
    let job_plane = JobPlane::from_vars(|name| vars.get(name).cloned()).ok_or("no job plane")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(run_queue_worker(
        job_plane,
        FunctionTable::for_resource("bench_stream"),
        1,
        stopped,
    ));
    let client = QueueEndpoint::builder(&endpoint)
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).ok_or("key")?)
        .build()
        .map_err(|e| e.to_string())?;
    // The load-balanced functions on the worker runtime's own router and server, as a worker
    // serves them.
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let lb_url = format!("http://{}", lb.local_addr().map_err(|e| e.to_string())?);
    let lb_server = tokio::spawn(async move {
        let router =
            runpod_flash::worker::lb_router(&FunctionTable::for_resource("bench_stream_lb"));
        let limits = runpod_flash::http_server::Limits::default();
        let _ = runpod_flash::http_server::serve(lb, router, limits, std::future::pending()).await;
    });
    let registry = runpod_flash::registry::ServiceRegistry::builder()
        .manifest(
            serde_json::from_value(json!({
                "resources": {
                    "bench_caller": {"functions": [], "makes_remote_calls": true},
                    "bench_stream": {"functions": [{"name": "bench_tokens"},
                                                   {"name": "bench_tokens_unary"}]},
                    "bench_stream_lb": {"is_load_balanced": true, "functions": [
                        {"name": "bench_lb_tokens", "http_method": "POST", "http_path": "/tokens"},
                        {"name": "bench_lb_tokens_unary", "http_method": "POST",
                         "http_path": "/tokens-unary"}]}
                },
                "function_registry": {"bench_tokens": "bench_stream",
                                      "bench_tokens_unary": "bench_stream",
                                      "bench_lb_tokens": "bench_stream_lb",
                                      "bench_lb_tokens_unary": "bench_stream_lb"}
            }))
            .map_err(|e| e.to_string())?,
        )
        .identity("bench_caller")
        .environment_id("bench")
        .endpoint_source(std::sync::Arc::new(StaticEndpoints::new([
            (
                "bench_stream",
                format!("{}/{endpoint}", emu.endpoint_base_url()),
            ),
            ("bench_stream_lb", lb_url.clone()),
        ])))
        .build()
        .map_err(|e| e.to_string())?;
    runpod_flash::call::configure(runpod_flash::call::PeerConfig {
        api_key: ApiKey::new(KEY),
        ..runpod_flash::call::PeerConfig::from_env()
    });
    let through = Mocks::new().registry(registry);
    let result = rounds(&client, &through).await;
    let lb_result = lb_rounds(&through).await;
    lb_server.abort();
    let _ = stop.send(true);
    let _ = worker.await;
    let mut rows = result?;
    rows.extend(lb_result?);
    Ok(rows)
}

/// The load-balanced stub: time to the first item and items/s of the SSE stream, next to the
/// unary route returning the same items.
async fn lb_rounds(through: &Mocks) -> Result<Vec<Row>, String> {
    let (mut first, mut rate, mut unary) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        let (first_at, all) = through.run(read(started, bench_lb_tokens(ITEMS))).await?;
        let started = Instant::now();
        let items = through
            .run(bench_lb_tokens_unary(ITEMS))
            .await
            .map_err(|e| e.to_string())?;
        let unary_all = started.elapsed();
        if items.len() != ITEMS as usize {
            return Err(format!("the unary route returned {} items", items.len()));
        }
        if round > 0 {
            first.push(first_at.as_secs_f64() * 1e3);
            rate.push(f64::from(ITEMS) / all.as_secs_f64());
            unary.push(unary_all.as_secs_f64() * 1e3);
        }
    }
    let (first, rate, unary) = (median(&mut first), median(&mut rate), median(&mut unary));
    Ok(rows_of(
        "streaming #[remote] stub, load-balanced (SSE)",
        [first, rate, unary],
        "unary route, the same items as one result",
    ))
}

/// Reads a stream of `ITEMS` items: the time to the first and to the last.
async fn read<E: std::fmt::Display>(
    started: Instant,
    stream: impl Stream<Item = Result<String, E>>,
) -> Result<(Duration, Duration), String> {
    let mut stream = std::pin::pin!(stream);
    let mut got = 0u32;
    let mut first_at = None;
    while let Some(token) = stream.next().await {
        token.map_err(|e| e.to_string())?;
        first_at.get_or_insert_with(|| started.elapsed());
        got += 1;
    }
    let all = started.elapsed();
    if got != ITEMS {
        return Err(format!("streamed {got} of {ITEMS} items"));
    }
    Ok((first_at.unwrap_or(all), all))
}

async fn rounds(client: &QueueEndpoint, through: &Mocks) -> Result<Vec<Row>, String> {
    let (mut first, mut rate, mut unary) = (Vec::new(), Vec::new(), Vec::new());
    let (mut stub_first, mut stub_rate) = (Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        let (stub_first_at, stub_all) = through.run(read(started, bench_tokens(ITEMS))).await?;
        let started = Instant::now();
        let job = client
            .run(&input("bench_tokens"))
            .await
            .map_err(|e| e.to_string())?;
        let (first_at, all) = read(started, job.stream::<String>()).await?;
        let started = Instant::now();
        let items: Vec<String> = client
            .run_sync(&input("bench_tokens_unary"), Duration::from_secs(60))
            .await
            .map_err(|e| e.to_string())?;
        let unary_all = started.elapsed();
        if items.len() != ITEMS as usize {
            return Err(format!("the unary job returned {} items", items.len()));
        }
        // The first round warms connections and the worker.
        if round > 0 {
            stub_first.push(stub_first_at.as_secs_f64() * 1e3);
            stub_rate.push(f64::from(ITEMS) / stub_all.as_secs_f64());
            first.push(first_at.as_secs_f64() * 1e3);
            rate.push(f64::from(ITEMS) / all.as_secs_f64());
            unary.push(unary_all.as_secs_f64() * 1e3);
        }
    }
    let (first, rate, unary) = (median(&mut first), median(&mut rate), median(&mut unary));
    let (stub_first, stub_rate) = (median(&mut stub_first), median(&mut stub_rate));
    let unary_label = "unary job, the same items as one result";
    let mut rows = rows_of(
        "streaming #[remote] stub, queue job",
        [stub_first, stub_rate, unary],
        unary_label,
    );
    rows.extend(rows_of(
        "client Job::stream",
        [first, rate, unary],
        unary_label,
    ));
    Ok(rows)
}

/// The two rows of one way to stream: time to the first item (ms) and items/s, each next to
/// the unary call that took `unary` ms for the same items.
fn rows_of(how: &str, [first, rate, unary]: [f64; 3], unary_label: &str) -> Vec<Row> {
    let unary_rate = f64::from(ITEMS) / (unary / 1e3);
    let work = ITEM_WORK.as_millis();
    vec![
        Row {
            number: 7,
            measure: format!("{how}, {ITEMS} items of {work} ms each: time to the first item"),
            result: format!("{first:.1} ms"),
            baseline: format!("{unary_label}: {unary:.1} ms"),
            ratio: format!("{:.3}x", first / unary),
            target: "first item sooner than a unary result",
        },
        Row {
            number: 7,
            measure: format!("{how}, {ITEMS} items of {work} ms each: items/s to the caller"),
            result: format!("{rate:.0} items/s"),
            baseline: format!("unary: {unary_rate:.0} items/s"),
            ratio: format!("{:.2}x", rate / unary_rate),
            target: "close to 1x: a streamed item costs little",
        },
    ]
}
