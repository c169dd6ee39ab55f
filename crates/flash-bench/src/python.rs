//! The Python side of row 4: the official `runpod` SDK worker serving the same trivial job,
//! deployed to the same local Runpod with the same deploy code, called by the same client. The
//! SDK is installed into a virtualenv under the target directory when pip can reach PyPI;
//! otherwise the row is skipped with a note.

use std::path::{Path, PathBuf};
use std::process::Command;

use flash_cli::deploy::{DeployOptions, deploy};
use flash_cli::project::Project;
use flash_contract::artifact::{Member, pack};
use flash_contract::files::MANIFEST_FILE;
use flash_emulator::Emulator;

/// A Python interpreter with `runpod` importable, installing it into a virtualenv if needed.
pub(crate) fn interpreter() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/flash-bench-venv");
    let python = venv.join("bin/python");
    let importable = |python: &Path| {
        Command::new(python)
            .args(["-c", "import runpod"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if python.exists() && importable(&python) {
        return Ok(python);
    }
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("python3 -m venv: {e}"))?;
    if !created.success() {
        return Err("python3 -m venv failed".into());
    }
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "runpod"])
        .status()
        .map_err(|e| format!("pip: {e}"))?;
    if !installed.success() || !importable(&python) {
        return Err("pip could not install the runpod package".into());
    }
    Ok(python)
}

/// Deploys a Python runpod worker whose handler adds `a` and `b`; returns the app, its runsync
/// URL and key. The worker's artifact is a shell entrypoint that runs the handler with `python`.
pub(crate) async fn deploy_python_worker(
    python: &Path,
    scratch: &Path,
) -> Result<(flash_emulator::EmulatorHandle, String, String), String> {
    let flash = scratch.join(".flash");
    std::fs::create_dir_all(&flash).map_err(|e| e.to_string())?;
    std::fs::write(
        scratch.join("Cargo.toml"),
        "[package]\nname = \"python-bench\"\n",
    )
    .map_err(|e| e.to_string())?;
    let manifest = serde_json::json!({
        "version": "1.0",
        "project_name": "python-bench",
        "entrypoint": "bin/worker.sh",
        "runtime": "python",
        "resources": {"py_worker": {
            "resource_type": "CpuLiveServerless", "is_load_balanced": false,
            "makes_remote_calls": false, "instanceIds": ["cpu3c-1-2"],
            "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
            "functions": [{"name": "add"}]}},
        "function_registry": {"add": "py_worker"}
    });
    let manifest_text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    let handler = "import runpod\n\ndef handler(job):\n    i = job['input']\n    return i['a'] + i['b']\n\nrunpod.serverless.start({'handler': handler})\n";
    let script = format!(
        "#!/bin/sh\nexec {} \"$(dirname \"$0\")/../handler.py\"\n",
        python.display()
    );
    let artifact = pack(&[
        Member::file(MANIFEST_FILE, manifest_text.as_bytes(), 0o644),
        Member::file("bin/worker.sh", script.as_bytes(), 0o755),
        Member::file("handler.py", handler.as_bytes(), 0o644),
    ])
    .map_err(|e| e.to_string())?;
    std::fs::write(flash.join("flash_manifest.json"), &manifest_text).map_err(|e| e.to_string())?;
    std::fs::write(flash.join("artifact.tar.gz"), artifact).map_err(|e| e.to_string())?;
    let emulator = Emulator::builder()
        .bind("127.0.0.1:0")
        .boot_command(crate::boot_command()?)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let options = DeployOptions {
        app: "python-bench".into(),
        env: "bench".into(),
        api_base_url: emulator.api_base_url().to_owned(),
        endpoint_base_url: emulator.endpoint_base_url(),
        lb_url_template: emulator.lb_url_template(),
        api_key: Some(emulator.api_key().clone()),
        rest_api_url: emulator.rest_api_url(),
    };
    let report = match deploy(&Project::at(scratch), &options).await {
        Ok(report) => report,
        Err(error) => {
            emulator.shutdown().await;
            return Err(error.to_string());
        }
    };
    let url = report
        .endpoints
        .first()
        .map(|e| format!("{}/runsync", e.url))
        .ok_or("no endpoint")?;
    let key = emulator.api_key().expose().to_owned();
    Ok((emulator, url, key))
}
