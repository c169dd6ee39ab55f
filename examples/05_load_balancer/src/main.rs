//! Two load-balanced endpoints serving REST routes: every HTTP method, path parameters, query
//! strings, JSON bodies, and a 4xx naming the parameter when the input is wrong.
//!
//! Deployed: `curl -X POST $LB_URL/transform -H "Authorization: Bearer $KEY" -d '{"text": "hi",
//! "operation": "upper"}'`. As a caller: `flash-example-load-balancer demo`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;

use runpod_flash::resource::GpuGroup;
use runpod_flash::{Error, FlashError, Resource, remote};
use serde::{Deserialize, Serialize};

const CPU_API: Resource = Resource::load_balanced("load_balancer_cpu")
    .cpu(&["cpu3c-1-2"])
    .workers(1, 3);
const GPU_API: Resource = Resource::load_balanced("load_balancer_gpu")
    .gpu(&[GpuGroup::Ada24])
    .workers(1, 3);

/// Input the endpoints refuse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum ApiError {
    /// An operation `transform` does not know.
    #[error("unknown operation `{0}`; use upper, lower, reverse or title")]
    UnknownOperation(String),
    /// No such note.
    #[error("no note {0}")]
    NoSuchNote(u64),
    /// No numbers to compute with.
    #[error("`numbers` is empty")]
    NoNumbers,
}

/// Health of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Always "healthy" when it answers.
    pub status: String,
    /// Which endpoint answered.
    pub endpoint: String,
}

/// `GET /health` on the CPU endpoint.
#[remote(CPU_API, method = "GET", path = "/health")]
pub async fn cpu_health() -> Result<Health, FlashError> {
    Ok(Health {
        status: "healthy".into(),
        endpoint: "cpu".into(),
    })
}

/// Validation of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Whether the text is acceptable.
    pub valid: bool,
    /// Characters.
    pub length: usize,
    /// Words.
    pub words: usize,
}

/// `POST /validate {"text": ...}`.
#[remote(CPU_API, method = "POST", path = "/validate")]
pub async fn validate_data(text: String) -> Result<Validation, FlashError> {
    Ok(Validation {
        valid: !text.trim().is_empty() && text.len() <= 10_000,
        length: text.chars().count(),
        words: text.split_whitespace().count(),
    })
}

/// `POST /transform {"text": ..., "operation": ...}`.
#[remote(CPU_API, method = "POST", path = "/transform")]
pub async fn transform_data(text: String, operation: String) -> Result<String, Error<ApiError>> {
    Ok(match operation.as_str() {
        "upper" => text.to_uppercase(),
        "lower" => text.to_lowercase(),
        "reverse" => text.chars().rev().collect(),
        "title" => text
            .split_whitespace()
            .map(|word| {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => return Err(Error::App(ApiError::UnknownOperation(operation))),
    })
}

/// Notes kept by this worker (per worker: a load-balanced endpoint's workers share nothing).
static NOTES: Mutex<BTreeMap<u64, String>> = Mutex::new(BTreeMap::new());

fn notes() -> std::sync::MutexGuard<'static, BTreeMap<u64, String>> {
    NOTES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `PUT /notes/{id} {"text": ...}`.
#[remote(CPU_API, method = "PUT", path = "/notes/{id}")]
pub async fn put_note(id: u64, text: String) -> Result<u64, FlashError> {
    notes().insert(id, text);
    Ok(id)
}

/// `GET /notes/{id}`.
#[remote(CPU_API, method = "GET", path = "/notes/{id}")]
pub async fn get_note(id: u64) -> Result<String, Error<ApiError>> {
    notes()
        .get(&id)
        .cloned()
        .ok_or(Error::App(ApiError::NoSuchNote(id)))
}

/// `PATCH /notes/{id} {"suffix": ...}`.
#[remote(CPU_API, method = "PATCH", path = "/notes/{id}")]
pub async fn append_note(id: u64, suffix: String) -> Result<String, Error<ApiError>> {
    let mut notes = notes();
    let note = notes
        .get_mut(&id)
        .ok_or(Error::App(ApiError::NoSuchNote(id)))?;
    note.push_str(&suffix);
    Ok(note.clone())
}

/// `DELETE /notes/{id}`.
#[remote(CPU_API, method = "DELETE", path = "/notes/{id}")]
pub async fn delete_note(id: u64) -> Result<bool, FlashError> {
    Ok(notes().remove(&id).is_some())
}

/// `GET /health` on the GPU endpoint.
#[remote(GPU_API, method = "GET", path = "/health")]
pub async fn gpu_health() -> Result<Health, FlashError> {
    Ok(Health {
        status: "healthy".into(),
        endpoint: "gpu".into(),
    })
}

/// Statistics of a list of numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Sum.
    pub sum: f64,
    /// Mean.
    pub mean: f64,
    /// Sum of squares (the "GPU" part).
    pub sum_of_squares: f64,
}

/// `POST /compute {"numbers": [...]}`.
#[remote(GPU_API, method = "POST", path = "/compute")]
pub async fn compute_intensive(numbers: Vec<f64>) -> Result<Stats, Error<ApiError>> {
    if numbers.is_empty() {
        return Err(Error::App(ApiError::NoNumbers));
    }
    let sum: f64 = numbers.iter().sum();
    Ok(Stats {
        sum,
        mean: sum / numbers.len() as f64,
        sum_of_squares: numbers.iter().map(|n| n * n).sum(),
    })
}

/// `GET /info?detail=...` on the GPU endpoint.
#[remote(GPU_API, method = "GET", path = "/info")]
pub async fn gpu_info(detail: Option<String>) -> Result<String, FlashError> {
    let gpu = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "no GPU on this worker".into());
    Ok(match detail.as_deref() {
        Some("full") => format!("{gpu}; {} {}", std::env::consts::OS, std::env::consts::ARCH),
        _ => gpu,
    })
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    println!("cpu health: {:?}", cpu_health().await?);
    println!("gpu health: {:?}", gpu_health().await?);
    println!(
        "validate: {:?}",
        validate_data("hello flash world".into()).await?
    );
    println!(
        "transform: {}",
        transform_data("hello flash".into(), "title".into()).await?
    );
    match transform_data("x".into(), "explode".into()).await {
        Err(Error::App(error)) => println!("transform refused: {error}"),
        other => println!("unexpected: {other:?}"),
    }
    println!(
        "compute: {:?}",
        compute_intensive(vec![1.0, 2.0, 3.0, 4.0]).await?
    );
    println!("info: {}", gpu_info(Some("full".into())).await?);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    match demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
