//! What a `#[remote]` call costs, measured side by side in one run.
//!
//! `cargo bench -p runpod-flash --bench calls` prints:
//! - a local call through the stub against a direct call of an identical plain `async fn`
//!   (target: at most 10 ns more; Python Flash's local path costs 783 ns on this machine);
//! - a load-balanced peer round trip through the stub against a raw reqwest POST to the same
//!   axum echo on loopback with the same payload, p50 and p99 (target: at most 1.3x).

#![allow(missing_docs, clippy::print_stdout)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use runpod_flash::call::PeerConfig;
use runpod_flash::error::StateManagerError;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::{BoxFuture, EndpointSource, ServiceRegistry};
use runpod_flash::{ApiKey, FlashError, Resource, remote};
use serde::{Deserialize, Serialize};

const LOCAL: Resource = Resource::queue("bench-local");
const API: Resource = Resource::load_balanced("bench-api");

#[remote(LOCAL)]
async fn add(a: u64, b: u64) -> Result<u64, FlashError> {
    Ok(a.wrapping_add(b))
}

async fn add_direct(a: u64, b: u64) -> Result<u64, FlashError> {
    Ok(a.wrapping_add(b))
}

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

/// Polls a future that must be ready at once (no I/O), with no runtime. Always inlined, so that
/// both the stub and the direct call are measured inside their caller, as an `.await` would be.
#[inline(always)]
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a local call must not wait"),
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn local_path() {
    // First call: no manifest here, so the registry says local and the stub caches that.
    ready(add(1, 2)).expect("warm-up");
    assert!(
        <add as runpod_flash::call::RemoteFunction>::slot().is_local(),
        "the first call caches the local decision"
    );
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
    let (stub, direct) = (median(stub), median(direct));
    println!("local call, median of 21 interleaved rounds of 1M calls:");
    println!("  through the #[remote] stub  {stub:7.2} ns");
    println!("  direct call                 {direct:7.2} ns");
    println!(
        "  overhead                    {:7.2} ns   ({:.2}x; target <= 10 ns)",
        stub - direct,
        stub / direct
    );
}

struct Urls(IndexMap<String, String>);

impl EndpointSource for Urls {
    fn resources_endpoints<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<IndexMap<String, String>, StateManagerError>> {
        Box::pin(async { Ok(self.0.clone()) })
    }
}

async fn load_balanced_round_trip() {
    let app = axum::Router::new().route(
        "/echo",
        axum::routing::post(
            |axum::Json(body): axum::Json<serde_json::Value>| async move {
                // The stub sends {"payload": ...}; the raw client sends the same object.
                axum::Json(body["payload"].clone())
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let manifest: Manifest = serde_json::from_value(serde_json::json!({
        "resources": {
            "bench-local": {"functions": [{"name": "add"}]},
            "bench-api": {"is_load_balanced": true, "functions": [
                {"name": "echo", "http_method": "POST", "http_path": "/echo"}]}
        },
        "function_registry": {"add": "bench-local", "echo": "bench-api"}
    }))
    .expect("manifest");
    runpod_flash::call::set_registry(
        ServiceRegistry::builder()
            .manifest(manifest)
            .identity("bench-local")
            .environment_id("bench")
            .endpoint_source(Arc::new(Urls(IndexMap::from([(
                "bench-api".to_owned(),
                base.clone(),
            )]))))
            .build()
            .expect("registry"),
    );
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
    for _ in 0..200 {
        echo(payload.clone()).await.expect("warm-up");
        raw.post(&url)
            .bearer_auth("bench-key")
            .json(&body)
            .send()
            .await
            .expect("raw");
    }
    const CALLS: usize = 2000;
    let (mut stub, mut direct) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..CALLS {
        let start = Instant::now();
        black_box(echo(payload.clone()).await.expect("stub call"));
        stub.push(start.elapsed());
        let start = Instant::now();
        let response = raw
            .post(&url)
            .bearer_auth("bench-key")
            .json(&body)
            .send()
            .await
            .expect("raw call");
        black_box(response.json::<Payload>().await.expect("raw decode"));
        direct.push(start.elapsed());
    }
    let (stub50, raw50) = (percentile(&mut stub, 0.5), percentile(&mut direct, 0.5));
    let (stub99, raw99) = (percentile(&mut stub, 0.99), percentile(&mut direct, 0.99));
    println!(
        "\nload-balanced peer round trip, {CALLS} interleaved calls each, loopback axum echo:"
    );
    println!("  through the #[remote] stub  p50 {stub50:>10.1?}  p99 {stub99:>10.1?}");
    println!("  raw reqwest POST            p50 {raw50:>10.1?}  p99 {raw99:>10.1?}");
    println!(
        "  ratio                       p50 {:>9.2}x  p99 {:>9.2}x   (target <= 1.3x)",
        stub50.as_secs_f64() / raw50.as_secs_f64(),
        stub99.as_secs_f64() / raw99.as_secs_f64()
    );
    server.abort();
}

fn main() {
    local_path();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(load_balanced_round_trip());
}
