//! The cached virtualenv of the tests that run official Python clients and workers: runpod-flash
//! 1.21 from PyPI, which brings runpod 1.12. It is kept outside the repository in
//! `$FLASH_CI_VENVS/flash121` (default `$HOME/.cache/flash-ci/venvs/flash121`) and created when
//! missing; `Err` from [`venv_python`] says why a test should skip (no `python3`, PyPI
//! unreachable).
#![allow(clippy::print_stderr)] // says what it installs

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What the virtualenv holds.
pub const REQUIREMENT: &str = "runpod-flash==1.21.*";
/// Written when the virtualenv is complete; a directory without it is made again.
pub const COMPLETE: &str = ".flash-ci-complete";

/// The virtualenv's directory.
pub fn venv_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FLASH_CI_VENVS").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("flash121"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache/flash-ci/venvs/flash121"))
}

/// Runs `program args`, returning whether it succeeded and its stderr's last line.
pub fn run(program: &Path, args: &[&str]) -> (bool, String) {
    match std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_owned();
            (out.status.success(), last)
        }
        Err(e) => (false, e.to_string()),
    }
}

/// Whether pip's index answers (PyPI, or `PIP_INDEX_URL`).
pub async fn index_reachable() -> Result<(), String> {
    let index = std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "https://pypi.org/simple".to_owned());
    let url = format!("{}/runpod-flash/", index.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("{url} answered {}", r.status())),
        Err(e) => Err(format!("{url}: {e}")),
    }
}

/// The virtualenv's python, creating the virtualenv when missing; `Err` is why the test skips.
pub async fn venv_python() -> Result<PathBuf, String> {
    let dir = venv_dir().ok_or("neither FLASH_CI_VENVS nor HOME is set")?;
    let python = dir.join("bin/python");
    let ready = |python: &Path| {
        dir.join(COMPLETE).is_file()
            && dir.join("bin/flash").is_file()
            && run(python, &["-c", "import runpod_flash, runpod, uvicorn"]).0
    };
    if ready(&python) {
        return Ok(python);
    }
    let system = Path::new("python3");
    let (ok, why) = run(system, &["--version"]);
    if !ok {
        return Err(format!("python3 is missing ({why})"));
    }
    index_reachable()
        .await
        .map_err(|e| format!("PyPI is unreachable, so {REQUIREMENT} cannot be installed: {e}"))?;
    eprintln!("creating {} with {REQUIREMENT}", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let venv = dir.to_string_lossy().into_owned();
    let (ok, why) = run(system, &["-m", "venv", &venv]);
    assert!(ok, "python3 -m venv {venv} failed: {why}");
    let (ok, why) = run(
        &dir.join("bin/pip"),
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            REQUIREMENT,
        ],
    );
    assert!(ok, "pip install {REQUIREMENT} failed: {why}");
    std::fs::write(dir.join(COMPLETE), REQUIREMENT).unwrap();
    assert!(
        ready(&python),
        "{} cannot import runpod_flash",
        python.display()
    );
    Ok(python)
}
