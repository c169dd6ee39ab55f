//! Rows 1-3: a local call through the stub, the registry's route(), a load-balanced round trip.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use runpod_flash::call::PeerConfig;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::{Route, ServiceRegistry};
use runpod_flash::testing::StaticEndpoints;
use runpod_flash::{ApiKey, FlashError, Resource, remote};
use serde::{Deserialize, Serialize};

use crate::{Row, add, median, percentile};

const API: Resource = Resource::load_balanced("bench_api");

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    id: u64,
    name: String,
    values: Vec<f64>,
}

#[remote(API, method = "POST", path = "/echo")]
async fn echo(payload: Payload) -> Result<Payload, FlashError> {
    Ok(payload)
}

async fn add_direct(a: u64, b: u64) -> Result<u64, FlashError> {
    Ok(a.wrapping_add(b))
}

#[inline(always)]
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("a local call never waits"),
    }
}

/// Row 1: the stub's local path against a direct call of the same body.
pub(crate) fn local_call() -> Row {
    // No manifest in this process: the first call routes locally and caches that.
    let _ = ready(add(1, 2));
    const ITERS: u32 = 1_000_000;
    let (mut stub, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..21 {
        let start = Instant::now();
        for i in 0..ITERS {
            black_box(ready(add(black_box(u64::from(i)), 1)).ok());
        }
        stub.push(start.elapsed().as_nanos() as f64 / f64::from(ITERS));
        let start = Instant::now();
        for i in 0..ITERS {
            black_box(ready(add_direct(black_box(u64::from(i)), 1)).ok());
        }
        direct.push(start.elapsed().as_nanos() as f64 / f64::from(ITERS));
    }
    let (stub, direct) = (median(&mut stub), median(&mut direct));
    Row {
        number: 1,
        measure: "local call through the #[remote] stub".into(),
        result: format!("{stub:.1} ns"),
        baseline: format!("direct call {direct:.1} ns"),
        ratio: format!("+{:.1} ns", stub - direct),
        target: "<= +5 ns (Python Flash: 783 ns)",
    }
}

fn endpoints() -> Arc<StaticEndpoints> {
    Arc::new(
        StaticEndpoints::new([
            ("gpu", "https://api.runpod.ai/v2/abc"),
            ("cpu", "https://api.runpod.ai/v2/def"),
        ])
        .with_latency(Duration::from_millis(5)),
    )
}

fn registry_with(source: Arc<StaticEndpoints>) -> Result<ServiceRegistry, FlashError> {
    let manifest = Manifest::from_json_str(
        &serde_json::json!({
            "resources": {"gpu": {"functions": [{"name": "infer"}]},
                          "cpu": {"functions": [{"name": "prep"}], "makes_remote_calls": true}},
            "function_registry": {"infer": "gpu", "prep": "cpu"}
        })
        .to_string(),
        runpod_flash::error::ManifestOrigin::Inline,
    )?;
    Ok(ServiceRegistry::builder()
        .manifest(manifest)
        .identity("cpu")
        .environment_id("bench")
        .endpoint_source(source)
        .build()?)
}

/// Row 2: route() on a warm cache, and cold lookups sharing one fetch.
pub(crate) async fn registry() -> Vec<Row> {
    let source = endpoints();
    let Ok(registry) = registry_with(Arc::clone(&source)) else {
        return Vec::new();
    };
    let _ = registry.route("infer").await;
    let mut samples = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        for _ in 0..200_000 {
            black_box(ready(registry.route(black_box("infer"))).ok());
        }
        samples.push(start.elapsed().as_nanos() as f64 / 200_000.0);
    }
    let warm = median(&mut samples);
    let source = endpoints();
    let storm = match registry_with(Arc::clone(&source)) {
        Ok(registry) => {
            let registry = Arc::new(registry);
            let start = Instant::now();
            let lookups: Vec<_> = (0..10_000)
                .map(|_| {
                    let registry = Arc::clone(&registry);
                    tokio::spawn(async move {
                        matches!(registry.route("infer").await, Ok(Route::Remote(_)))
                    })
                })
                .collect();
            let mut ok = 0;
            for lookup in lookups {
                ok += usize::from(lookup.await.unwrap_or(false));
            }
            format!(
                "{ok} routed in {:.1} ms, {} State Manager fetch(es)",
                start.elapsed().as_secs_f64() * 1e3,
                source.fetches()
            )
        }
        Err(error) => format!("failed: {error}"),
    };
    vec![
        Row {
            number: 2,
            measure: "registry route(), warm cache (remote route)".into(),
            result: format!("{warm:.1} ns"),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "<= 50 ns (Python: 251 ns)",
        },
        Row {
            number: 2,
            measure: "10k concurrent cold routes".into(),
            result: storm,
            baseline: "-".into(),
            ratio: "-".into(),
            target: "exactly 1 fetch",
        },
    ]
}

/// Row 3: a load-balanced peer call round trip against a raw reqwest POST to the same echo.
pub(crate) async fn load_balanced() -> Row {
    let failed = |why: String| Row {
        number: 3,
        measure: "load-balanced round trip".into(),
        result: format!("failed: {why}"),
        baseline: "-".into(),
        ratio: "-".into(),
        target: "<= 1.3x",
    };
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::post(
            |axum::Json(body): axum::Json<serde_json::Value>| async move {
                axum::Json(body["payload"].clone())
            },
        ),
    );
    let (base, server) = match crate::serve_loopback(app).await {
        Ok(served) => served,
        Err(error) => return failed(error),
    };
    let manifest: Manifest = match serde_json::from_value(serde_json::json!({
        "resources": {"bench_worker": {"functions": [{"name": "add"}]},
                      "bench_api": {"is_load_balanced": true, "functions": [
                          {"name": "echo", "http_method": "POST", "http_path": "/echo"}]}},
        "function_registry": {"add": "bench_worker", "echo": "bench_api"}
    })) {
        Ok(manifest) => manifest,
        Err(error) => return failed(error.to_string()),
    };
    let urls = IndexMap::from([("bench_api".to_owned(), base.clone())]);
    match ServiceRegistry::builder()
        .manifest(manifest)
        .identity("bench_worker")
        .environment_id("bench")
        .endpoint_source(Arc::new(StaticEndpoints::new(urls)))
        .build()
    {
        Ok(registry) => runpod_flash::call::set_registry(registry),
        Err(error) => return failed(error.to_string()),
    }
    runpod_flash::call::configure(PeerConfig {
        api_key: ApiKey::new("bench-key"),
        ..PeerConfig::default()
    });
    let payload = Payload {
        id: 7,
        name: "benchmark payload".into(),
        values: (0..64).map(f64::from).collect(),
    };
    let raw = reqwest::Client::new();
    let url = format!("{base}/echo");
    let body = serde_json::json!({ "payload": payload });
    let (mut stub, mut direct) = (Vec::new(), Vec::new());
    for round in 0..2200 {
        let start = Instant::now();
        if let Err(error) = echo(payload.clone()).await {
            return failed(error.to_string());
        }
        let stub_time = start.elapsed().as_secs_f64() * 1e6;
        let start = Instant::now();
        let answer = match raw
            .post(&url)
            .bearer_auth("bench-key")
            .json(&body)
            .send()
            .await
        {
            Ok(response) => response.json::<Payload>().await.map(drop),
            Err(error) => Err(error),
        };
        if let Err(error) = answer {
            return failed(error.to_string());
        }
        let raw_time = start.elapsed().as_secs_f64() * 1e6;
        if round >= 200 {
            stub.push(stub_time);
            direct.push(raw_time);
        }
    }
    server.abort();
    let (s50, r50) = (percentile(&mut stub, 0.5), percentile(&mut direct, 0.5));
    let (s99, r99) = (percentile(&mut stub, 0.99), percentile(&mut direct, 0.99));
    Row {
        number: 3,
        measure: "load-balanced peer round trip (2000 interleaved calls)".into(),
        result: format!("p50 {s50:.0} us, p99 {s99:.0} us"),
        baseline: format!("raw reqwest p50 {r50:.0} us, p99 {r99:.0} us"),
        ratio: format!("p50 {:.2}x, p99 {:.2}x", s50 / r50, s99 / r99),
        target: "<= 1.3x",
    }
}
