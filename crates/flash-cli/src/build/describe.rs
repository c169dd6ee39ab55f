//! Asking the built binary for its compiled functions (`FLASH_DESCRIBE=1`).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::BuildError;

/// How long the binary gets to print its functions.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One compiled function, as `runpod_flash::worker::describe` prints it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DescribedFn {
    pub(crate) name: String,
    pub(crate) module: String,
    pub(crate) file: String,
    pub(crate) line: u32,
    #[serde(default)]
    pub(crate) http_method: Option<String>,
    #[serde(default)]
    pub(crate) http_path: Option<String>,
    #[serde(default)]
    pub(crate) state: Option<String>,
    pub(crate) resource: String,
    pub(crate) resource_config: Value,
    #[serde(default)]
    pub(crate) resource_problems: Vec<String>,
}

#[derive(Deserialize)]
struct Described {
    functions: Vec<DescribedFn>,
}

/// Runs `binary` with `FLASH_DESCRIBE=1` in `dir`, without any other `FLASH_*` or `RUNPOD_*`
/// variable (so it cannot take itself for a worker), and reads its functions.
pub(crate) fn describe(binary: &Path, dir: &Path) -> Result<Vec<DescribedFn>, BuildError> {
    let fail = |message: String| BuildError::Describe {
        binary: binary.to_owned(),
        message,
    };
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("FLASH_") || key_text.starts_with("RUNPOD_") {
            command.env_remove(&key);
        }
    }
    let mut child = command
        .env("FLASH_DESCRIBE", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn {
            program: binary.to_owned(),
            source,
        })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "it was still running after {} s",
                    TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(fail(format!(
            "it exited with {status}: {}",
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    let described: Described = serde_json::from_slice(&stdout).map_err(|e| {
        fail(format!(
            "its output is not the functions' JSON ({e}): {}",
            String::from_utf8_lossy(&stdout[..stdout.len().min(200)]).trim()
        ))
    })?;
    Ok(described.functions)
}
