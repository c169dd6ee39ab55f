//! `cargo run --release -p flash-bench` measures what every hop of a Flash call costs, each next
//! to the baseline it should be compared with, in one run, and prints a table of ratios.
//!
//! `cargo run --release -p flash-bench -- local registry` runs only the groups named (`local`,
//! `registry`, `lb`, `worker`, `queue`, `cold`, `payload`, `stream`, `sizes`); no names runs
//! them all.
//! `sizes` builds every example with `flash build` (release) and prints its own table of
//! artifact and executable sizes.
//!
//! The machine is shared and noisy: every measurement interleaves the measured path and its
//! baseline and reports medians (and p99 where it applies). Nothing here is a pass/fail test.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a report printer

mod cold_start;
mod hops;
mod payload;
mod python;
mod queue_path;
mod sizes;
mod soak;
mod streaming;
mod worker_throughput;

use std::process::ExitCode;

use runpod_flash::{FlashError, Resource, remote};

/// The resource the benchmark's own functions belong to.
pub(crate) const LOCAL: Resource = Resource::queue("bench_worker");

/// A trivial function: what the local-call and cold-start rows call.
#[remote(LOCAL)]
pub(crate) async fn add(a: u64, b: u64) -> Result<u64, FlashError> {
    Ok(a.wrapping_add(b))
}

/// First argument that makes this binary the worker image's boot step (`flash-boot`).
pub(crate) const BOOT_ARG: &str = "__boot";

/// This binary as the boot step, for emulators and the boot-step cold start.
pub(crate) fn boot_command() -> Result<flash_emulator::BootCommand, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(flash_emulator::BootCommand::new(exe).arg(BOOT_ARG))
}

/// One row of the report.
pub(crate) struct Row {
    pub(crate) number: u32,
    pub(crate) measure: String,
    pub(crate) result: String,
    pub(crate) baseline: String,
    pub(crate) ratio: String,
    pub(crate) target: &'static str,
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The boot-step rows run this very binary as the worker image's boot step.
    if std::env::args().nth(1).as_deref() == Some(BOOT_ARG) {
        return flash_boot::run();
    }
    // The cold-start row spawns this very binary as a queue worker.
    if let Some(exit) = runtime.block_on(runpod_flash::worker::serve_if_worker()) {
        return exit;
    }
    let groups: Vec<String> = std::env::args().skip(1).collect();
    const GROUPS: [&str; 10] = [
        "local", "registry", "lb", "worker", "queue", "cold", "payload", "stream", "sizes", "soak",
    ];
    if let Some(unknown) = groups.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        eprintln!(
            "unknown group `{unknown}`; expected any of {}",
            GROUPS.join(", ")
        );
        return ExitCode::FAILURE;
    }
    let wanted = |group: &str| groups.is_empty() || groups.iter().any(|g| g == group);
    let mut rows = Vec::new();
    if wanted("local") {
        rows.push(hops::local_call());
    }
    if wanted("registry") {
        rows.extend(runtime.block_on(hops::registry()));
    }
    if wanted("lb") {
        rows.push(runtime.block_on(hops::load_balanced()));
    }
    if wanted("worker") {
        rows.extend(runtime.block_on(worker_throughput::measure()));
    }
    if wanted("queue") {
        match runtime.block_on(queue_path::measure()) {
            Ok(found) => rows.extend(found),
            Err(error) => eprintln!("queue path through the emulator: skipped: {error}"),
        }
    }
    if wanted("cold") {
        match runtime.block_on(cold_start::measure()) {
            Ok(found) => rows.extend(found),
            Err(error) => eprintln!("cold start: skipped: {error}"),
        }
    }
    // Not part of the default run: it queues 100 000 jobs (about a minute).
    if groups.iter().any(|g| g == "soak") {
        match runtime.block_on(soak::measure()) {
            Ok(found) => rows.extend(found),
            Err(error) => {
                eprintln!("soak: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if wanted("payload") {
        rows.extend(payload::measure());
    }
    if wanted("stream") {
        match runtime.block_on(streaming::measure()) {
            Ok(found) => rows.extend(found),
            Err(error) => eprintln!("streaming through the emulator: skipped: {error}"),
        }
    }
    if !rows.is_empty() || groups.is_empty() {
        print_table(&rows);
    }
    if wanted("sizes") {
        sizes::measure();
    }
    ExitCode::SUCCESS
}

fn print_table(rows: &[Row]) {
    println!("\n| # | measure | result | baseline | ratio | target |");
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.number, row.measure, row.result, row.baseline, row.ratio, row.target
        );
    }
    println!(
        "\nmachine: {} cores, {}",
        std::thread::available_parallelism().map_or(1, usize::from),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| text
                .lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned()))
            .unwrap_or_else(|| "unknown CPU".into())
    );
}

/// Serves `router` on a free port of 127.0.0.1; returns `http://127.0.0.1:PORT` and the server
/// task (abort it when done).
pub(crate) async fn serve_loopback(
    router: axum::Router,
) -> Result<(String, tokio::task::JoinHandle<std::io::Result<()>>), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    Ok((
        base,
        tokio::spawn(async move { axum::serve(listener, router).await }),
    ))
}

/// Median of samples (sorted in place).
pub(crate) fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Value at percentile `p` (0..=1) of samples (sorted in place).
pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let index = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[index]
}
