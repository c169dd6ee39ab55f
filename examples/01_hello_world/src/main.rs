//! Hello world on a GPU worker: it reports the GPU it runs on, detected for real (`nvidia-smi`
//! when it is present), and says plainly when there is none (on the local emulator, say).
//!
//! As a caller: `flash-example-hello-world hello`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use runpod_flash::resource::GpuGroup;
use runpod_flash::{FlashError, Resource, remote};
use serde::{Deserialize, Serialize};

const GPU: Resource = Resource::queue("gpu_worker")
    .gpu(&[GpuGroup::Ada24])
    .workers(0, 1);

/// One GPU as `nvidia-smi` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// Model name.
    pub name: String,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// Driver version.
    pub driver: String,
}

/// The worker's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The greeting.
    pub message: String,
    /// The GPUs found; empty when there are none.
    pub gpus: Vec<Gpu>,
    /// How detection went: "nvidia-smi", or why no GPU was found.
    pub detection: String,
}

fn detect_gpus() -> (Vec<Gpu>, String) {
    let output = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let gpus = String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(',').map(str::trim);
                    Some(Gpu {
                        name: fields.next()?.to_owned(),
                        memory_mib: fields.next()?.parse().ok()?,
                        driver: fields.next()?.to_owned(),
                    })
                })
                .collect();
            (gpus, "nvidia-smi".into())
        }
        Ok(output) => (
            Vec::new(),
            format!(
                "no GPU: nvidia-smi failed ({})",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ),
        Err(_) => (
            Vec::new(),
            "no GPU: nvidia-smi is not installed on this worker".into(),
        ),
    }
}

/// Says hello and reports the worker's GPUs.
#[remote(GPU)]
pub async fn gpu_hello(name: String) -> Result<Hello, FlashError> {
    let (gpus, detection) = detect_gpus();
    let message = match gpus.first() {
        Some(gpu) => format!(
            "Hello {name}, from a {} with {} MiB",
            gpu.name, gpu.memory_mib
        ),
        None => format!("Hello {name}, from a worker without a GPU"),
    };
    Ok(Hello {
        message,
        gpus,
        detection,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let name = std::env::args().nth(2).unwrap_or_else(|| "Flash".into());
    match gpu_hello(name).await {
        Ok(hello) => {
            println!("{}\ndetection: {}", hello.message, hello.detection);
            for gpu in &hello.gpus {
                println!(
                    "  {} ({} MiB, driver {})",
                    gpu.name, gpu.memory_mib, gpu.driver
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
