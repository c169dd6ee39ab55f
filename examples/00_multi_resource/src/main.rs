//! Several resources in one app: two queue workers and a load-balanced route that orchestrates
//! them, across endpoints.
//!
//! `POST /report {"values": [...]}` on the gateway calls `summarize` on the CPU worker and
//! `normalize` on the GPU worker, and combines them. As a caller: `flash-example-multi-resource
//! report 3 1 4 1 5`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use runpod_flash::resource::GpuGroup;
use runpod_flash::{Error, Resource, remote};
use serde::{Deserialize, Serialize};

const CPU: Resource = Resource::queue("multi_cpu")
    .cpu(&["cpu3c-2-4"])
    .workers(0, 2);
const GPU: Resource = Resource::queue("multi_gpu")
    .gpu(&[GpuGroup::Ampere24])
    .workers(0, 2);
const GATEWAY: Resource = Resource::load_balanced("multi_gateway")
    .cpu(&["cpu3c-1-2"])
    .workers(1, 2);

/// Input the app refuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ReportError {
    /// No values.
    #[error("no values to report on")]
    Empty,
}

/// Summary statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// The gateway's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// From the CPU worker.
    pub summary: Summary,
    /// From the GPU worker: values scaled to 0..=1.
    pub normalized: Vec<f64>,
    /// Which resources took part.
    pub resources: Vec<String>,
}

fn here() -> String {
    std::env::var("FLASH_RESOURCE_NAME").unwrap_or_else(|_| "local".into())
}

/// Min, max and mean (CPU queue worker).
#[remote(CPU)]
pub async fn summarize(values: Vec<f64>) -> Result<(Summary, String), Error<ReportError>> {
    if values.is_empty() {
        return Err(Error::App(ReportError::Empty));
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Ok((Summary { min, max, mean }, here()))
}

/// Scales values to 0..=1 (GPU queue worker).
#[remote(GPU)]
pub async fn normalize(
    values: Vec<f64>,
    min: f64,
    max: f64,
) -> Result<(Vec<f64>, String), Error<ReportError>> {
    let span = if max > min { max - min } else { 1.0 };
    Ok((values.iter().map(|v| (v - min) / span).collect(), here()))
}

/// `POST /report`: both workers, combined.
#[remote(GATEWAY, method = "POST", path = "/report")]
pub async fn report(values: Vec<f64>) -> Result<Report, Error<ReportError>> {
    let (summary, cpu) = summarize(values.clone()).await?;
    let (normalized, gpu) = normalize(values, summary.min, summary.max).await?;
    Ok(Report {
        summary,
        normalized,
        resources: vec![here(), cpu, gpu],
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let values: Result<Vec<f64>, _> = std::env::args().skip(2).map(|v| v.parse::<f64>()).collect();
    let Ok(values) = values else {
        eprintln!("usage: flash-example-multi-resource report NUMBER...");
        return ExitCode::from(2);
    };
    match report(values).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
