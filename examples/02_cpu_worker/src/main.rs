//! A CPU worker that reports the machine it runs on: cores, model and memory, read from the
//! system (`/proc/cpuinfo`, `/proc/meminfo`), not made up.
//!
//! As a caller: `flash-example-cpu-worker info`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use runpod_flash::{FlashError, Resource, remote};
use serde::{Deserialize, Serialize};

const CPU: Resource = Resource::queue("cpu_worker")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);

/// What the worker's machine is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuInfo {
    /// Logical cores available to the process.
    pub cores: usize,
    /// CPU model name, when the system says.
    pub model: Option<String>,
    /// Total memory in MiB, when the system says.
    pub memory_mib: Option<u64>,
    /// Operating system and architecture.
    pub platform: String,
    /// The greeting, to show arguments arrive.
    pub greeting: String,
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|line| line.starts_with("model name"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

fn memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find(|line| line.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024)
}

/// Reports the CPU and memory of the worker.
#[remote(CPU)]
pub async fn cpu_info(name: String) -> Result<CpuInfo, FlashError> {
    Ok(CpuInfo {
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        model: cpu_model(),
        memory_mib: memory_mib(),
        platform: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        greeting: format!("Hello, {name}, from a CPU worker"),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let name = std::env::args().nth(2).unwrap_or_else(|| "Flash".into());
    match cpu_info(name).await {
        Ok(info) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&info).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
