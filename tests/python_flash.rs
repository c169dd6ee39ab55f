//! A Python Flash app deployed with Python's own `flash deploy` (runpod-flash 1.21) to the
//! emulator, whose workers run it as Runpod's `runpod/flash-cpu` and `runpod/flash-lb-cpu`
//! images do (`crates/flash-emulator/src/launch.rs`): its queue endpoint answers `runsync` and
//! its load-balanced endpoint answers HTTP.
//!
//! The official client is pointed at the emulator as `tools/golden/record.py` points it at its
//! recorder (every Runpod URL, a fake key, a scratch `HOME`). Its virtualenv, with
//! `runpod-flash==1.21.*` from PyPI, is kept outside the repository in
//! `$FLASH_CI_VENVS/flash121` (default `$HOME/.cache/flash-ci/venvs/flash121`) and created when
//! missing; the test is skipped, saying why, when `python3` is missing or PyPI cannot be reached
//! to create it. The app has no dependencies, so the deploy itself needs no network.
#![allow(missing_docs, clippy::print_stderr)] // says why it skips, and how long it took

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use flash_emulator::{Emulator, EmulatorHandle};
use runpod_flash::ApiKey;
use serde_json::{Value, json};

/// A fake key: it only ever reaches the emulator.
const KEY: &str = "rpa_PYTHONFLASHTEST00000000000000000000000000";
/// The app: the golden CPU queue app (a twin of examples/02_cpu_worker) and a load-balanced
/// endpoint.
const LB_APP: &str = r#"from runpod_flash import Endpoint

api = Endpoint(name="lb_cpu", cpu="cpu3c-1-2", workers=(0, 1))


@api.post("/shout")
async def shout(text: str) -> dict:
    import os

    return {"result": text.upper(), "resource": os.environ.get("FLASH_RESOURCE_NAME")}
"#;

fn golden_queue_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/golden/apps/cpu_queue/flash121")
}

/// Python's `flash deploy` in `project`, pointed at `emu` (as tools/golden/record.py does).
async fn python_flash_deploy(venv_bin: &Path, project: &Path, home: &Path, emu: &EmulatorHandle) {
    let base = emu.api_base_url().to_owned();
    let mut cmd = tokio::process::Command::new(venv_bin.join("flash"));
    cmd.arg("deploy")
        .current_dir(project)
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // pip and TLS settings only (the build pip-installs an app's dependencies; this app has none).
    for (k, v) in std::env::vars() {
        if k.starts_with("PIP_")
            || [
                "SSL_CERT_FILE",
                "SSL_CERT_DIR",
                "REQUESTS_CA_BUNDLE",
                "LANG",
            ]
            .contains(&k.as_str())
        {
            cmd.env(k, v);
        }
    }
    cmd.env(
        "PATH",
        format!("{}:/usr/local/bin:/usr/bin:/bin", venv_bin.display()),
    )
    .env("HOME", home)
    .env("XDG_CONFIG_HOME", home.join(".config"))
    .env("RUNPOD_API_KEY", KEY)
    .env("RUNPOD_API_BASE_URL", &base)
    .env("RUNPOD_REST_API_URL", emu.rest_api_url())
    .env("RUNPOD_ENDPOINT_BASE_URL", emu.endpoint_base_url())
    .env("RUNPOD_HAPI_URL", &base)
    .env("RUNPOD_CONSOLE_URL", &base)
    .env("RUNPOD_FLASH_SILENCE_DEPRECATION", "1")
    .env("FLASH_NO_UPDATE_CHECK", "1")
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .env("NO_COLOR", "1")
    .env("TERM", "dumb")
    .env("COLUMNS", "200");
    let out = tokio::time::timeout(Duration::from_secs(600), cmd.output())
        .await
        .expect("flash deploy finishes within 10 minutes")
        .expect("flash deploy runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "flash deploy failed ({}):\n{text}",
        out.status
    );
}

fn endpoint_id(emu: &EmulatorHandle, name: &str) -> String {
    emu.snapshot()
        .endpoints
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.id.clone())
        .unwrap_or_else(|| panic!("no endpoint {name}: {:?}", emu.snapshot()))
}

/// Pids of the processes in process group `pgid` (a Python worker and what it started).
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // pid (comm) state ppid pgrp ...: comm may hold spaces; count from its ')'.
                let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
                let mut fields = rest.split_whitespace();
                let state = fields.next();
                let pgrp = fields.nth(1).and_then(|g| g.parse::<u32>().ok());
                state != Some("Z") && pgrp == Some(pgid)
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_flash_app_deployed_by_python_flash_answers_on_its_endpoints() {
    let started = Instant::now();
    let python = match support::python::venv_python().await {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipping the Python Flash end-to-end test: {why}");
            return;
        }
    };
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .python(&python)
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("emulator starts");
    let scratch = tempfile::tempdir().unwrap();
    // Flash 1.21 names the app after its directory.
    let project = scratch.path().join("py_flash_app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::copy(
        golden_queue_app().join("cpu_worker.py"),
        project.join("cpu_worker.py"),
    )
    .unwrap();
    std::fs::write(project.join("lb_api.py"), LB_APP).unwrap();
    let home = scratch.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let bin = python.parent().unwrap().to_owned();
    python_flash_deploy(&bin, &project, &home, &emu).await;
    let deployed = started.elapsed();

    // The queue endpoint, called as runpod_flash's stubs call a deployed one: the function's
    // keyword arguments as the job input (runpod_flash/flash_sentinel.py).
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let queue = endpoint_id(&emu, "cpu_worker");
    let r: Value = http
        .post(format!(
            "{}/{queue}/runsync?wait=120000",
            emu.endpoint_base_url()
        ))
        .bearer_auth(KEY)
        .json(&json!({"input": {"payload": {"from": "python_flash.rs"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "COMPLETED", "{r}");
    let output = &r["output"];
    assert_eq!(output["version"], "v1", "{r}");
    assert!(output["cores"].as_u64().is_some_and(|n| n > 0), "{r}");
    assert!(
        output["machine"].as_str().is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    let queued = started.elapsed();

    // The load-balanced endpoint: the generated FastAPI app under uvicorn.
    let lb = endpoint_id(&emu, "lb_cpu");
    let url = emu.lb_url(&lb).expect("an LB URL");
    let response = http
        .post(format!("{url}/shout"))
        .bearer_auth(KEY)
        .json(&json!({"text": "quiet please"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"result": "QUIET PLEASE", "resource": "lb_cpu"}),
        "{body}"
    );

    // Every worker process, and what it started (the SDK's heartbeat process), stops.
    let leaders: Vec<u32> = emu
        .snapshot()
        .endpoints
        .iter()
        .flat_map(|e| e.workers.iter().filter_map(|w| w.pid))
        .collect();
    assert_eq!(leaders.len(), 2, "{:?}", emu.snapshot());
    let members: Vec<u32> = leaders.iter().flat_map(|g| group_members(*g)).collect();
    assert!(
        members.len() > leaders.len(),
        "the queue worker's heartbeat: {members:?}"
    );
    let state_dir = emu.state_dir().to_owned();
    emu.shutdown().await;
    for pgid in leaders {
        let left = group_members(pgid);
        assert!(left.is_empty(), "processes of worker {pgid} left: {left:?}");
    }
    assert!(!state_dir.exists(), "{} left", state_dir.display());
    drop(scratch);
    eprintln!(
        "python flash e2e: deployed after {:.1?}, queue answered after {:.1?}, done after {:.1?}",
        deployed,
        queued,
        started.elapsed()
    );
}
