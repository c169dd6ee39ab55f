//! ServiceRegistry benchmarks.
//!
//! `cargo bench -p runpod-flash --bench registry` prints divan's table (with allocation counts),
//! then a side-by-side ratio of `route()` on a warm cache against the cheapest possible lookup
//! (an `FxHashMap` get plus an `Arc` clone), and a cold single-flight storm.

#![allow(missing_docs, clippy::print_stdout)]

use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use divan::AllocProfiler;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::{Route, ServiceRegistry};
use runpod_flash::testing::StaticEndpoints;
use rustc_hash::FxHashMap;

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn manifest() -> Manifest {
    serde_json::from_value(serde_json::json!({
        "resources": {
            "gpu": {"functions": [{"name": "gpu_inference"}]},
            "cpu": {"functions": [{"name": "preprocess_text"}], "makes_remote_calls": true}
        },
        "function_registry": {"gpu_inference": "gpu", "preprocess_text": "cpu"}
    }))
    .expect("bench manifest")
}

fn new_registry(latency: Duration) -> (ServiceRegistry, Arc<StaticEndpoints>) {
    let source = Arc::new(
        StaticEndpoints::new([
            ("gpu", "https://api.runpod.ai/v2/abc123"),
            ("cpu", "https://api.runpod.ai/v2/def456"),
        ])
        .with_latency(latency),
    );
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("cpu")
        .environment_id("env")
        .endpoint_source(source.clone())
        .build()
        .expect("valid manifest");
    (registry, source)
}

/// A registry whose cache is filled, used from outside any runtime: a warm `route()` completes
/// on its first poll, so it is polled once with a no-op waker.
fn warm_registry() -> ServiceRegistry {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let (registry, _) = new_registry(Duration::ZERO);
    runtime
        .block_on(registry.route("gpu_inference"))
        .expect("warm-up");
    registry
}

fn route_now(registry: &ServiceRegistry, function: &str) -> Route {
    let mut future = pin!(registry.route(function));
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(route) => route.expect("route"),
        Poll::Pending => panic!("a warm route() must not wait"),
    }
}

#[divan::bench]
fn route_remote_warm(bencher: divan::Bencher<'_, '_>) {
    let registry = warm_registry();
    bencher.bench_local(|| route_now(&registry, black_box("gpu_inference")));
}

#[divan::bench]
fn route_local_warm(bencher: divan::Bencher<'_, '_>) {
    let registry = warm_registry();
    bencher.bench_local(|| route_now(&registry, black_box("preprocess_text")));
}

#[divan::bench]
fn baseline_hashmap_get(bencher: divan::Bencher<'_, '_>) {
    let map = baseline_map();
    bencher.bench_local(|| map.get(black_box("gpu_inference")).cloned());
}

fn baseline_map() -> FxHashMap<Box<str>, Arc<str>> {
    FxHashMap::from_iter([
        (
            "gpu_inference".into(),
            Arc::from("https://api.runpod.ai/v2/abc123"),
        ),
        (
            "preprocess_text".into(),
            Arc::from("https://api.runpod.ai/v2/def456"),
        ),
    ])
}

/// Median ns per call over `rounds` rounds of `iters` calls.
fn median_ns(rounds: usize, iters: u32, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn ratio_report() {
    let registry = warm_registry();
    let map = baseline_map();
    // Interleave the measured and baseline rounds so both see the same machine noise.
    let (mut route_remote, mut route_local, mut baseline) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        route_remote.push(median_ns(5, 200_000, || {
            black_box(route_now(&registry, black_box("gpu_inference")));
        }));
        route_local.push(median_ns(5, 200_000, || {
            black_box(route_now(&registry, black_box("preprocess_text")));
        }));
        baseline.push(median_ns(5, 200_000, || {
            black_box(map.get(black_box("gpu_inference")).cloned());
        }));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (remote, local, base) = (median(route_remote), median(route_local), median(baseline));
    println!("\nregistry route(), warm cache, side by side (median of 15 interleaved rounds):");
    println!(
        "  route() remote      {remote:7.1} ns   {:5.2}x baseline   (target <= 50 ns)",
        remote / base
    );
    println!(
        "  route() local       {local:7.1} ns   {:5.2}x baseline",
        local / base
    );
    println!("  baseline map get    {base:7.1} ns   (FxHashMap get + Arc clone)");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for storm in [1_000usize, 10_000] {
        let (registry, source) = new_registry(Duration::from_millis(5));
        let registry = Arc::new(registry);
        let start = Instant::now();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..storm)
                .map(|_| {
                    let registry = Arc::clone(&registry);
                    tokio::spawn(async move { registry.route("gpu_inference").await })
                })
                .collect();
            for task in tasks {
                assert!(matches!(
                    task.await.expect("join").expect("route"),
                    Route::Remote(_)
                ));
            }
        });
        println!(
            "  cold storm: {storm:>6} concurrent lookups -> {} State Manager request(s), {:.1} ms total (fetch latency 5 ms)",
            source.fetches(),
            start.elapsed().as_secs_f64() * 1e3
        );
    }
}

fn main() {
    divan::main();
    ratio_report();
}
