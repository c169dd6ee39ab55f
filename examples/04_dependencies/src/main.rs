//! Dependencies per endpoint. In Rust a crate dependency is compiled into the binary, so it is
//! present wherever the binary runs; a *system* dependency (a program the worker runs) must be on
//! the worker image, so the resource declares it with `.system_dependencies(&["gzip"])`: it is
//! written to the manifest, and every worker of that resource checks at start that the program
//! is on `PATH`, failing with a clear message instead of at the first call.
//!
//! As a caller: `flash-example-dependencies demo`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line program

use std::process::ExitCode;

use runpod_flash::{Error, FlashError, Resource, remote};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

const DATA: Resource = Resource::queue("deps_data")
    .cpu(&["cpu3c-8-16"])
    .workers(0, 2);
const SYSTEM: Resource = Resource::queue("deps_system")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 2)
    .system_dependencies(&["gzip"]);

/// A system program failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{program}: {message}")]
pub struct ToolError {
    /// The program.
    pub program: String,
    /// What went wrong.
    pub message: String,
}

/// A text's digest, computed with the `sha2` crate on the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// SHA-256, hex.
    pub sha256: String,
    /// Bytes hashed.
    pub bytes: usize,
}

/// Hashes `text` with the `sha2` crate (a crate dependency).
#[remote(DATA)]
pub async fn fingerprint(text: String) -> Result<Fingerprint, FlashError> {
    let digest = sha2::Sha256::digest(text.as_bytes());
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Fingerprint {
        sha256,
        bytes: text.len(),
    })
}

/// What `gzip` made of a text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compressed {
    /// Input bytes.
    pub original: usize,
    /// gzip output bytes.
    pub compressed: usize,
    /// First line of `gzip --version` on the worker.
    pub gzip_version: String,
}

fn tool_error(message: impl std::fmt::Display) -> Error<ToolError> {
    Error::App(ToolError {
        program: "gzip".into(),
        message: message.to_string(),
    })
}

/// Compresses `text` with the worker's `gzip` program (a system dependency).
#[remote(SYSTEM)]
pub async fn compress(text: String) -> Result<Compressed, Error<ToolError>> {
    let version = tokio::process::Command::new("gzip")
        .arg("--version")
        .output()
        .await
        .map_err(tool_error)?;
    let gzip_version = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut child = tokio::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(tool_error)?;
    let mut stdin = child.stdin.take().ok_or_else(|| tool_error("no stdin"))?;
    stdin.write_all(text.as_bytes()).await.map_err(tool_error)?;
    drop(stdin);
    let output = child.wait_with_output().await.map_err(tool_error)?;
    if !output.status.success() {
        return Err(tool_error(format!("exited with {}", output.status)));
    }
    Ok(Compressed {
        original: text.len(),
        compressed: output.stdout.len(),
        gzip_version,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {
        return exit;
    }
    let text = "flash ".repeat(200);
    let result = async {
        let fp = fingerprint(text.clone()).await?;
        println!(
            "sha256 {} over {} bytes (sha2 crate, on deps_data)",
            fp.sha256, fp.bytes
        );
        let gz = compress(text).await.map_err(|e| e.to_string())?;
        println!(
            "gzip {} -> {} bytes ({}, on deps_system)",
            gz.original, gz.compressed, gz.gzip_version
        );
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
