//! A standalone worker: one queue endpoint with one function.
//!
//! Deployed, it is called like any Runpod endpoint:
//! `curl -X POST $RUNPOD_ENDPOINT_BASE_URL/<endpoint id>/runsync -H "Authorization: Bearer $KEY"
//! -d '{"input": {"name": "Ada", "times": 2}}'`. As a caller: `flash-example-standalone-worker
//! greet Ada 2`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use runpod_flash::{Error, Resource, remote};
use serde::{Deserialize, Serialize};

const WORKER: Resource = Resource::queue("standalone_worker")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 2);

/// Why a greeting was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum GreetError {
    /// Asked to repeat it too often.
    #[error("{0} repetitions is more than 10")]
    TooMany(u32),
}

/// A greeting and where it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Greeting {
    /// The text.
    pub message: String,
    /// The worker that made it.
    pub worker: String,
}

/// Greets `name`, `times` times.
#[remote(WORKER)]
pub async fn greet(name: String, times: u32) -> Result<Greeting, Error<GreetError>> {
    if times > 10 {
        return Err(Error::App(GreetError::TooMany(times)));
    }
    Ok(Greeting {
        message: vec![format!("Hello, {name}!"); times as usize].join(" "),
        worker: std::env::var("RUNPOD_POD_ID").unwrap_or_else(|_| "local".into()),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, times) = match args.as_slice() {
        [command, name] if command == "greet" => (name.clone(), 1),
        [command, name, times] if command == "greet" => match times.parse() {
            Ok(times) => (name.clone(), times),
            Err(_) => {
                eprintln!("times must be a number");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: flash-example-standalone-worker greet NAME [TIMES]");
            return ExitCode::from(2);
        }
    };
    match greet(name, times).await {
        Ok(greeting) => {
            println!("{} (from worker {})", greeting.message, greeting.worker);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
