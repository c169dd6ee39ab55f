//! The cached virtualenvs of the tests that run official Python clients and workers, kept
//! outside the repository in `$FLASH_CI_VENVS/NAME` (default `$HOME/.cache/flash-ci/venvs/NAME`)
//! and created when missing; `Err` says why a test should skip (no `python3`, PyPI
//! unreachable):
//!
//! - [`venv_python`]: `flash121`, runpod-flash 1.21 from PyPI, which brings runpod 1.12;
//! - [`runpod20_python`]: `runpod20rc2`, runpod 2.0.0rc2 (a pre-release: `pip install --pre`),
//!   the SDK whose apps call each other through the Flash dispatcher.
//!
//! Also used by the emulator's own tests (`#[path]`), so it needs nothing but reqwest and tokio.
#![allow(clippy::print_stderr)] // says what it installs

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What the `flash121` virtualenv holds.
pub const REQUIREMENT: &str = "runpod-flash==1.21.*";
/// Written when a virtualenv is complete; a directory without it is made again.
pub const COMPLETE: &str = ".flash-ci-complete";

/// One cached virtualenv.
struct Venv {
    /// Its directory's name under the venvs directory.
    name: &'static str,
    /// The package on PyPI whose index page says whether PyPI answers.
    package: &'static str,
    /// `pip install` arguments after `install --quiet --disable-pip-version-check`.
    pip: &'static [&'static str],
    /// Files under `bin/` it must have.
    bins: &'static [&'static str],
    /// The modules it must import.
    imports: &'static str,
}

const FLASH121: Venv = Venv {
    name: "flash121",
    package: "runpod-flash",
    pip: &[REQUIREMENT],
    bins: &["flash"],
    imports: "import runpod_flash, runpod, uvicorn",
};

const RUNPOD20: Venv = Venv {
    name: "runpod20rc2",
    package: "runpod",
    pip: &["--pre", "runpod==2.0.0rc2"],
    bins: &[],
    imports: "import runpod, runpod.apps.targets; assert runpod.__version__ == '2.0.0rc2', runpod.__version__",
};

/// The `flash121` virtualenv's directory.
pub fn venv_dir() -> Option<PathBuf> {
    dir_of(FLASH121.name)
}

fn dir_of(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FLASH_CI_VENVS").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join(name));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".cache/flash-ci/venvs").join(name))
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
    package_reachable(FLASH121.package).await
}

async fn package_reachable(package: &str) -> Result<(), String> {
    let index = std::env::var("PIP_INDEX_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "https://pypi.org/simple".to_owned());
    let url = format!("{}/{package}/", index.trim_end_matches('/'));
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

/// The `flash121` virtualenv's python, creating the virtualenv when missing; `Err` is why the
/// test skips.
pub async fn venv_python() -> Result<PathBuf, String> {
    python_of(&FLASH121).await
}

/// The `runpod20rc2` virtualenv's python (runpod 2.0.0rc2), creating it when missing; `Err` is
/// why the test skips.
pub async fn runpod20_python() -> Result<PathBuf, String> {
    python_of(&RUNPOD20).await
}

async fn python_of(venv: &Venv) -> Result<PathBuf, String> {
    let dir = dir_of(venv.name).ok_or("neither FLASH_CI_VENVS nor HOME is set")?;
    let python = dir.join("bin/python");
    let ready = |python: &Path| {
        dir.join(COMPLETE).is_file()
            && venv
                .bins
                .iter()
                .all(|bin| dir.join("bin").join(bin).is_file())
            && run(python, &["-c", venv.imports]).0
    };
    if ready(&python) {
        return Ok(python);
    }
    let system = Path::new("python3");
    let (ok, why) = run(system, &["--version"]);
    if !ok {
        return Err(format!("python3 is missing ({why})"));
    }
    let requirement = venv.pip.join(" ");
    package_reachable(venv.package)
        .await
        .map_err(|e| format!("PyPI is unreachable, so {requirement} cannot be installed: {e}"))?;
    eprintln!("creating {} with {requirement}", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let venv_path = dir.to_string_lossy().into_owned();
    let (ok, why) = run(system, &["-m", "venv", &venv_path]);
    assert!(ok, "python3 -m venv {venv_path} failed: {why}");
    let mut args = vec!["install", "--quiet", "--disable-pip-version-check"];
    args.extend_from_slice(venv.pip);
    let (ok, why) = run(&dir.join("bin/pip"), &args);
    assert!(ok, "pip install {requirement} failed: {why}");
    std::fs::write(dir.join(COMPLETE), &requirement).unwrap();
    assert!(
        ready(&python),
        "{} cannot run {:?}",
        python.display(),
        venv.imports
    );
    Ok(python)
}

/// An official runpod SDK worker (`python handler.py` in `dir`) serving endpoint `endpoint` of
/// the job plane at `plane` (`{endpoint base}/{endpoint}`) as pod `pod`, started as Runpod
/// starts one: the job-plane URL templates, its key and pod id. No `RUNPOD_WEBHOOK_PING`: the
/// SDK then starts no heartbeat process, so the worker is one process (its job-take long polls
/// keep it alive on the emulator). Stops when dropped.
pub fn sdk_worker(
    python: &Path,
    dir: &Path,
    plane: &str,
    endpoint: &str,
    ai_key: &str,
    pod: &str,
) -> tokio::process::Child {
    tokio::process::Command::new(python)
        .arg(dir.join("handler.py"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env(
            "RUNPOD_WEBHOOK_GET_JOB",
            format!("{plane}/job-take/$ID?gpu=cpu"),
        )
        .env(
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{plane}/job-done/$RUNPOD_POD_ID/$ID?gpu=cpu"),
        )
        .env(
            "RUNPOD_WEBHOOK_POST_STREAM",
            format!("{plane}/job-stream/$RUNPOD_POD_ID/$ID?gpu=cpu"),
        )
        .env("RUNPOD_AI_API_KEY", ai_key)
        .env("RUNPOD_POD_ID", pod)
        .env("RUNPOD_ENDPOINT_ID", endpoint)
        .env("RUNPOD_SKIP_AUTO_SYSTEM_CHECKS", "true")
        .env("RUNPOD_SKIP_GPU_CHECK", "true")
        .env("RUNPOD_LOG_LEVEL", "WARN")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the SDK worker starts")
}

/// Kills an [`sdk_worker`] and checks it ended by the kill (it was still serving), not by
/// exiting on its own.
pub async fn stop_sdk_worker(mut worker: tokio::process::Child) {
    worker.start_kill().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), worker.wait())
        .await
        .expect("the SDK worker stops")
        .unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
}

/// Runs the SDK script `dir/script` with `args` (a caller or client that prints one JSON
/// object per step, each with a `"step"` name), failing the test if it fails or outlasts
/// `within`; returns the steps.
pub async fn sdk_steps(
    python: &Path,
    dir: &Path,
    script: &str,
    args: &[&str],
    within: Duration,
) -> Vec<serde_json::Value> {
    let run = tokio::process::Command::new(python)
        .arg(dir.join(script))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(within, run)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {within:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{script}: {l}: {e}")))
        .collect()
}

/// The step named `name` of [`sdk_steps`]' answer.
pub fn step(steps: &[serde_json::Value], name: &str) -> serde_json::Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
        .clone()
}
