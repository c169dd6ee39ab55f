//! Scaling strategies: a scale-to-zero endpoint (no worker until work arrives, gone again after a
//! short idle time) next to an always-on one (one worker kept warm), and a load generator that
//! shows what that costs: the first call to a scaled-to-zero endpoint waits for a cold start,
//! later calls do not.
//!
//! As a caller: `flash-example-autoscaling load 20` prints per-endpoint cold and warm latency.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;
use std::time::{Duration, Instant};

use runpod_flash::resource::ScalerType;
use runpod_flash::{FlashError, Resource, remote};

const SCALE_TO_ZERO: Resource = Resource::queue("scale_to_zero")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 3)
    .idle_timeout(2)
    .scaler(ScalerType::QueueDelay, 1);
const ALWAYS_ON: Resource = Resource::queue("always_on")
    .cpu(&["cpu3g-2-8"])
    .workers(1, 3)
    .idle_timeout(60);

/// Work on a scale-to-zero endpoint: sleeps `ms` to stand for real work.
#[remote(SCALE_TO_ZERO)]
pub async fn cold_work(ms: u64) -> Result<String, FlashError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(std::env::var("RUNPOD_POD_ID").unwrap_or_else(|_| "local".into()))
}

/// The same work on an always-on endpoint.
#[remote(ALWAYS_ON)]
pub async fn warm_work(ms: u64) -> Result<String, FlashError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(std::env::var("RUNPOD_POD_ID").unwrap_or_else(|_| "local".into()))
}

/// Latencies of one phase.
struct Phase {
    first: Duration,
    rest_median: Duration,
    workers: std::collections::BTreeSet<String>,
}

async fn phase<F, Fut>(calls: usize, call: F) -> Result<Phase, FlashError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, FlashError>>,
{
    let mut latencies = Vec::with_capacity(calls);
    let mut workers = std::collections::BTreeSet::new();
    for _ in 0..calls.max(2) {
        let start = Instant::now();
        workers.insert(call().await?);
        latencies.push(start.elapsed());
    }
    let first = latencies[0];
    let mut rest = latencies[1..].to_vec();
    rest.sort();
    Ok(Phase {
        first,
        rest_median: rest[rest.len() / 2],
        workers,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let calls: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let result = async {
        let cold = phase(calls, || cold_work(10)).await?;
        let warm = phase(calls, || warm_work(10)).await?;
        Ok::<_, FlashError>((cold, warm))
    }
    .await;
    match result {
        Ok((cold, warm)) => {
            for (name, phase) in [("scale_to_zero", cold), ("always_on", warm)] {
                println!(
                    "{name:<14} first call {:>8.1} ms  then median {:>8.1} ms  workers used {}",
                    phase.first.as_secs_f64() * 1e3,
                    phase.rest_median.as_secs_f64() * 1e3,
                    phase.workers.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
