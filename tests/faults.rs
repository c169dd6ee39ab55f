//! Faults over real processes on 127.0.0.1: what happens to workers, jobs and temporary state
//! when the local platform is stopped the way process managers stop things.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flash_cli::deploy::{self, DeployOptions};
use flash_cli::project::Project;
use runpod_flash::ApiKey;
use serde_json::{Value, json};

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

fn sigkill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for `child` to exit, up to `secs`; kills it and fails otherwise.
fn wait_exit(child: &mut Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {secs} s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Worker pids and the emulator state dir they live in, from `GET /emulator/state`.
async fn workers(base: &str, key: &str) -> Vec<u32> {
    let state: Value = reqwest::Client::new()
        .get(format!("{base}/emulator/state"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["workers"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))
        .collect()
}

/// The state directory a worker's mounted artifact lives in:
/// `{state_dir}/workers/{id}/artifact.tar.gz`.
fn state_dir_of(pid: u32) -> PathBuf {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let artifact = environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"FLASH_BUILD_ARTIFACT_PATH="))
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .expect("a worker started through the boot step");
    artifact
        .ancestors()
        .nth(3)
        .expect("{state_dir}/workers/{id}/artifact.tar.gz")
        .to_owned()
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                // pid (comm) state ppid ...; comm may hold spaces, so split after the ')'.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// A project whose build (the test worker) has one queue resource `worker` kept at `workers`
/// warm workers.
fn queue_project(workers: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"demo\"\n",
    )
    .unwrap();
    support::write_build(
        dir.path(),
        &json!({
            "version": "1.0", "project_name": "demo", "entrypoint": "bin/app",
            "resources": {"worker": {
                "resource_type": "LiveServerless",
                "functions": [{"name": "work", "module": "app", "is_async": true, "is_class": false}],
                "is_load_balanced": false, "makes_remote_calls": false,
                "workersMin": workers, "workersMax": workers, "idleTimeout": 60,
            }},
            "function_registry": {"work": "worker"},
        }),
    );
    dir
}

/// Deploys app `demo`, environment `dev`, to the emulator at `base` with `key`.
fn deploy_options(base: &str, key: &str) -> DeployOptions {
    DeployOptions {
        app: "demo".to_owned(),
        env: "dev".to_owned(),
        api_base_url: base.to_owned(),
        endpoint_base_url: format!("{base}/v2"),
        lb_url_template: format!("{base}/lb/{{endpoint_id}}"),
        rest_api_url: format!("{base}/rest/v1"),
        api_key: ApiKey::new(key),
    }
}

async fn eventually<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `flash emulator ARGS` with `envs` added; returns it with the base URL and key it
/// prints.
fn flash_emulator(args: &[&str], envs: &[(&str, &str)]) -> (Child, String, String) {
    let mut emulator = Command::new(support::flash_binary())
        .arg("emulator")
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut base = None;
    let mut key = None;
    for line in BufReader::new(emulator.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("RUNPOD_API_BASE_URL=") {
            base = Some(v.to_owned());
        }
        if let Some(v) = line.strip_prefix("RUNPOD_API_KEY=") {
            key = Some(v.to_owned());
            break;
        }
    }
    (
        emulator,
        base.expect("base URL printed"),
        key.expect("key printed"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_flash_emulator_its_workers_and_its_temporary_state() {
    let (mut emulator, base, key) = flash_emulator(&["--port", "0"], &[]);

    let dir = queue_project(2);
    let options = deploy_options(&base, &key);
    deploy::deploy(&Project::at(dir.path()), &options)
        .await
        .unwrap();
    let pids = eventually(30, "two workers", async || {
        let p = workers(&base, &key).await;
        (p.len() == 2).then_some(p)
    })
    .await;
    let state_dir = state_dir_of(pids[0]);
    assert!(
        state_dir.starts_with(std::env::temp_dir()),
        "{}",
        state_dir.display()
    );

    sigterm(emulator.id());
    let status = wait_exit(&mut emulator, 20, "flash emulator");
    assert!(status.success(), "{status}");
    for pid in pids {
        assert!(!pid_alive(pid), "worker {pid} outlived the emulator");
    }
    assert!(
        !state_dir.exists(),
        "{} was left behind",
        state_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_flash_run_its_workers_and_its_temporary_state() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/03_mixed_workers");
    let mut run = Command::new(support::flash_binary())
        .args(["run", "--project"])
        .arg(&example)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(run.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("flash run ended before serving:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("serving; press Ctrl-C to stop") {
            break;
        }
    }
    // Keep reading stderr so the run never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
        rest
    });
    // 03_mixed_workers keeps one load-balanced worker warm (workers(1, 3)).
    let pid = eventually(60, "the warm worker", async || {
        children(run.id()).into_iter().find(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .is_ok_and(|e| e.windows(26).any(|w| w == b"FLASH_BUILD_ARTIFACT_PATH="))
        })
    })
    .await;
    // Past the boot step: the entrypoint runs.
    let pid = eventually(30, "the worker past its boot step", async || {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        (!exe.ends_with("flash")).then_some(pid)
    })
    .await;
    let state_dir = state_dir_of(pid);

    sigterm(run.id());
    let status = wait_exit(&mut run, 30, "flash run");
    let rest = drain.join().unwrap();
    assert!(status.success(), "{status}\n{seen}{rest}");
    assert!(!pid_alive(pid), "worker {pid} outlived flash run");
    assert!(
        !state_dir.exists(),
        "{} was left behind",
        state_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_worker_mid_job_requeues_the_job_and_it_completes_once() {
    const KEY: &str = "faults-test-key";
    let emu = flash_emulator::Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let dir = queue_project(1);
    let options = deploy_options(emu.api_base_url(), KEY);
    let report = deploy::deploy(&Project::at(dir.path()), &options)
        .await
        .unwrap();
    let url = report.endpoint("worker").unwrap().url.clone();
    let http = reqwest::Client::new();
    let job: Value = http
        .post(format!("{url}/run"))
        .bearer_auth(KEY)
        .json(&json!({"input": {"op": "sleep", "ms": 1500}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let endpoint_id = report.endpoint("worker").unwrap().endpoint_id.clone();
    // The worker holding the job.
    let victim = eventually(30, "the job in progress", async || {
        let snap = emu.snapshot();
        let e = snap.endpoints.iter().find(|e| e.id == endpoint_id)?;
        e.workers
            .iter()
            .find(|w| w.jobs.contains(&id))
            .and_then(|w| w.pid)
    })
    .await;
    sigkill(victim);
    let done = final_status(&url, KEY, &id).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let snap = emu.snapshot();
    let e = snap.endpoints.iter().find(|e| e.id == endpoint_id).unwrap();
    let job = e.jobs.iter().find(|j| j.id == id).unwrap();
    assert_eq!(job.requeues, 1, "requeued once, after the kill");
    assert!(!pid_alive(victim));
    let pids: Vec<u32> = e.workers.iter().filter_map(|w| w.pid).collect();
    assert!(pids.iter().all(|p| *p != victim), "a new worker ran it");
    emu.shutdown().await;
    for pid in pids {
        assert!(!pid_alive(pid), "worker {pid} outlived the emulator");
    }
}

#[path = "support/fault_proxy.rs"]
mod fault_proxy;

/// The 00_standalone_worker example, built as `flash run` builds it (the examples suite builds
/// it the same way, so it is compiled once).
fn standalone_worker() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/00_standalone_worker");
    let options = flash_cli::build::BuildOptions {
        profile: "dev".into(),
        target_dir: Some(std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        )),
        target: flash_cli::build::HOST_TARGET.to_owned(),
        zigbuild: false,
        ..flash_cli::build::BuildOptions::default()
    };
    flash_cli::build::build(&Project::at(&root), &options).expect("the example builds");
    root
}

/// Real Flash workers (the runtime's queue worker) behind a proxy that drops, loses the answer
/// of, delays or 503s a share of their job-takes, job-dones and pings. Every job must end in
/// exactly one terminal state, COMPLETED with its own answer: none lost, none failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the count table is the test's report
async fn platform_faults_between_workers_and_runpod_lose_no_job() {
    use fault_proxy::{Fault, Route};
    const KEY: &str = "faults-proxy-key";
    const JOBS: usize = 80;
    let plan: fault_proxy::Plan = Arc::new(|route, n| match (route, n % 10) {
        (Route::Take, 3) => Some(Fault::Reset),
        (Route::Take, 6) => Some(Fault::Unavailable),
        (Route::Take, 8) => Some(Fault::Drop),
        (Route::Take, 9) => Some(Fault::Delay(Duration::from_millis(200))),
        (Route::Done, 1) => Some(Fault::Drop),
        (Route::Done, 4) => Some(Fault::Reset),
        (Route::Done, 7) => Some(Fault::Unavailable),
        (Route::Done, 9) => Some(Fault::Delay(Duration::from_millis(300))),
        (Route::Ping, 2) => Some(Fault::Drop),
        (Route::Ping, 5) => Some(Fault::Delay(Duration::from_millis(500))),
        (Route::Ping, 8) => Some(Fault::Unavailable),
        _ => None,
    });
    let proxy = fault_proxy::start(plan).await;
    let root = standalone_worker();
    let emu = flash_emulator::Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(1))
        .worker_plane_url(&proxy.url)
        .start()
        .await
        .unwrap();
    proxy.set_upstream(emu.api_base_url());
    let report = deploy::deploy(
        &Project::at(&root),
        &deploy_options(emu.api_base_url(), KEY),
    )
    .await
    .unwrap();
    let endpoint = report.endpoint("standalone_worker").unwrap();
    let (url, endpoint_id) = (endpoint.url.clone(), endpoint.endpoint_id.clone());
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let job: Value = http
            .post(format!("{url}/run"))
            .bearer_auth(KEY)
            .json(&json!({"input": {"name": format!("n{i}"), "times": 1}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    // Every job's final status, read once it is final; a job that is not final by the
    // deadline, or that the platform no longer knows, is lost.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut finals: Vec<Option<Value>> = vec![None; JOBS];
    let mut lost = 0;
    while finals.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, id) in ids.iter().enumerate() {
            if finals[i].is_some() {
                continue;
            }
            let r = http
                .get(format!("{url}/status/{id}"))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap();
            if r.status() == 404 {
                lost += 1;
                finals[i] = Some(json!({"status": "LOST"}));
                continue;
            }
            let s: Value = r.json().await.unwrap();
            if matches!(
                s["status"].as_str(),
                Some("COMPLETED" | "FAILED" | "TIMED_OUT" | "CANCELLED")
            ) {
                finals[i] = Some(s);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed();
    lost += finals.iter().filter(|f| f.is_none()).count();
    let count = |status: &str| {
        finals
            .iter()
            .flatten()
            .filter(|s| s["status"] == status)
            .count()
    };
    let (completed, failed) = (count("COMPLETED"), count("FAILED") + count("TIMED_OUT"));
    for (i, s) in finals.iter().flatten().enumerate() {
        if s["status"] == "COMPLETED" {
            assert_eq!(
                s["output"]["message"],
                format!("Hello, n{i}!"),
                "job {i}: {s}"
            );
        }
    }
    let snapshot = emu.snapshot();
    let snap = snapshot
        .endpoints
        .iter()
        .find(|e| e.id == endpoint_id)
        .unwrap();
    let pids: Vec<u32> = snap.workers.iter().filter_map(|w| w.pid).collect();
    emu.shutdown().await;
    let left = pids.iter().filter(|p| pid_alive(**p)).count();
    let injected = proxy.injected();
    let seen = proxy.seen();
    eprintln!(
        "platform faults, {JOBS} jobs in {:.1} s:",
        elapsed.as_secs_f64()
    );
    eprintln!("| route | requests | fault | injected |");
    eprintln!("|---|---|---|---|");
    for ((route, fault), n) in &injected {
        eprintln!(
            "| {route:?} | {} | {fault} | {n} |",
            seen.get(route).unwrap_or(&0)
        );
    }
    eprintln!(
        "| submitted {JOBS} | completed {completed} | failed {failed} | lost {lost} | processes left {left} |"
    );
    for kind in [
        (Route::Take, "reset"),
        (Route::Take, "503"),
        (Route::Take, "drop"),
        (Route::Done, "drop"),
        (Route::Done, "reset"),
        (Route::Done, "503"),
        (Route::Ping, "drop"),
    ] {
        assert!(
            injected.get(&kind).copied().unwrap_or(0) > 0,
            "no {kind:?} injected: {injected:?}"
        );
    }
    assert_eq!(lost, 0, "jobs lost: {finals:?}");
    assert_eq!(failed, 0, "jobs failed: {finals:?}");
    assert_eq!(completed, JOBS);
    assert_eq!(left, 0, "worker processes outlived the emulator");
}

/// Runs one job with `input` on the endpoint at `url` and returns its final status.
async fn one_job(url: &str, key: &str, input: Value) -> Value {
    let http = reqwest::Client::new();
    let job: Value = http
        .post(format!("{url}/run"))
        .bearer_auth(key)
        .json(&json!({ "input": input }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    final_status(url, key, job["id"].as_str().unwrap()).await
}

/// Polls `/status/{id}` of the endpoint at `url` until the job is final (up to 60 s).
async fn final_status(url: &str, key: &str, id: &str) -> Value {
    let http = reqwest::Client::new();
    eventually(60, "the job's end", async || {
        let s: Value = http
            .get(format!("{url}/status/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        matches!(
            s["status"].as_str(),
            Some("COMPLETED" | "FAILED" | "TIMED_OUT" | "CANCELLED")
        )
        .then_some(s)
    })
    .await
}

/// `flash emulator --state-dir` killed with SIGKILL during each GraphQL mutation of a deploy in
/// turn: its workers end with it (no process left), the state on disk is whole (no torn or
/// corrupt file), and after a restart on the same state dir the deploy can simply be rerun
/// and serves a job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the kill points are the test's report
async fn kill_9_of_the_emulator_mid_deploy_then_restart_and_redeploy() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let project = queue_project(1);
    // How many mutations a deploy makes, from a clean run.
    let mutations = {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().to_str().unwrap().to_owned();
        let (mut emu, base, key) = flash_emulator(&["--port", "0", "--state-dir", &dir], &[]);
        let proxy = support::graphql_proxy(format!("{base}/graphql"), support::forward_all()).await;
        deploy::deploy(
            &Project::at(project.path()),
            &deploy_options(&proxy.url, &key),
        )
        .await
        .unwrap();
        sigterm(emu.id());
        assert!(wait_exit(&mut emu, 20, "flash emulator").success());
        let requests = proxy.requests.lock().unwrap().clone();
        requests
            .iter()
            .filter_map(|r| r["query"].as_str())
            .filter(|q| q.trim_start().starts_with("mutation"))
            .map(|q| support::operation_name(q).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let names = &mutations;
    let mutations = names.len();
    eprintln!("a deploy's mutations, each the kill point of one round: {names:?}");
    assert!(
        mutations >= 4,
        "a deploy makes several mutations, saw {mutations}"
    );
    // Each mutation in turn, the emulator killed just before it reaches it, then just after it
    // acted on it (its answer lost).
    for (k, after) in (1..=mutations).flat_map(|k| [(k, false), (k, true)]) {
        let round = format!(
            "{} {}",
            if after { "after" } else { "before" },
            names[k - 1]
        );
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().to_str().unwrap().to_owned();
        let (mut emu, base, key) = flash_emulator(&["--port", "0", "--state-dir", &dir], &[]);
        let pid = emu.id();
        let seen = Arc::new(AtomicUsize::new(0));
        let orphans: Arc<Mutex<Vec<u32>>> = Arc::default();
        let (seen2, orphans2) = (Arc::clone(&seen), Arc::clone(&orphans));
        let hook: support::Hook = Arc::new(move |request: Value| {
            let is_mutation = request["query"]
                .as_str()
                .is_some_and(|q| q.trim_start().starts_with("mutation"));
            let hit = is_mutation && seen2.fetch_add(1, Ordering::SeqCst) + 1 == k;
            let orphans = Arc::clone(&orphans2);
            let kill = move || {
                orphans.lock().unwrap().extend(children(pid));
                sigkill(pid);
            };
            Box::pin(async move {
                match (hit, after) {
                    (false, _) => support::Answer::Forward,
                    (true, false) => {
                        kill();
                        support::Answer::Forward
                    }
                    (true, true) => support::Answer::ForwardThenLose(Box::new(kill)),
                }
            })
        });
        let proxy = support::graphql_proxy(format!("{base}/graphql"), hook).await;
        let first = deploy::deploy(
            &Project::at(project.path()),
            &deploy_options(&proxy.url, &key),
        )
        .await;
        assert!(
            first.is_err(),
            "{round}: the deploy cannot succeed against a dead emulator"
        );
        let status = wait_exit(&mut emu, 20, "the killed emulator");
        assert!(!status.success());
        let orphans = orphans.lock().unwrap().clone();
        for orphan in &orphans {
            eventually(10, "the killed emulator's workers to end", async || {
                (!pid_alive(*orphan)).then_some(())
            })
            .await;
        }
        let state_file = state.path().join("state.json");
        if state_file.exists() {
            let text = std::fs::read(&state_file).unwrap();
            serde_json::from_slice::<Value>(&text)
                .unwrap_or_else(|e| panic!("{round}: state.json is torn: {e}"));
        }
        let (mut emu, base, key2) = flash_emulator(&["--port", "0", "--state-dir", &dir], &[]);
        assert_eq!(key2, key, "the persisted key is kept");
        let corrupt: Vec<_> = std::fs::read_dir(state.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert!(
            corrupt.is_empty(),
            "{round}: the restart found a corrupt state"
        );
        let report = deploy::deploy(&Project::at(project.path()), &deploy_options(&base, &key))
            .await
            .unwrap_or_else(|e| panic!("{round}: the redeploy failed: {e}"));
        let url = report.endpoint("worker").unwrap().url.clone();
        let done = one_job(&url, &key, json!({"op": "echo", "value": 7})).await;
        assert_eq!(done["status"], "COMPLETED", "{round}: {done}");
        assert_eq!(done["output"], 7);
        let workers_now = workers(&base, &key).await;
        sigterm(emu.id());
        assert!(wait_exit(&mut emu, 20, "flash emulator").success());
        for w in workers_now {
            assert!(!pid_alive(w), "{round}: worker {w} outlived the emulator");
        }
    }
    // A quiet worker of the Flash runtime (no log line to fail on the broken pipe, and unlike
    // the test worker it keeps retrying a platform that went away) ends with the emulator
    // that started it.
    let root = standalone_worker();
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_str().unwrap().to_owned();
    let (mut emu, base, key) = flash_emulator(
        &["--port", "0", "--state-dir", &dir],
        &[("RUST_LOG", "off")],
    );
    let report = deploy::deploy(&Project::at(&root), &deploy_options(&base, &key))
        .await
        .unwrap();
    let url = report.endpoint("standalone_worker").unwrap().url.clone();
    let done = one_job(&url, &key, json!({"name": "Ada", "times": 1})).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let running = workers(&base, &key).await;
    assert!(!running.is_empty());
    sigkill(emu.id());
    let _ = wait_exit(&mut emu, 20, "the killed emulator");
    for w in running {
        eventually(
            10,
            "the Flash worker to end with its emulator",
            async || (!pid_alive(w)).then_some(()),
        )
        .await;
    }
}

/// The temporary state of an emulator killed with SIGKILL cannot be removed by it; the next
/// emulator to start removes it (and only the state of emulators no longer running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_temporary_state_of_a_killed_emulator_is_removed_by_the_next_one() {
    let owned_by = |pid: u32| {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("flash-emulator-")
            })
            .find(|p| {
                std::fs::read_to_string(p.join("owner"))
                    .is_ok_and(|o| o.split_whitespace().next() == Some(&pid.to_string()))
            })
    };
    let (mut killed, _, _) = flash_emulator(&["--port", "0"], &[]);
    let left = owned_by(killed.id()).expect("the emulator's temporary state dir");
    sigkill(killed.id());
    let _ = wait_exit(&mut killed, 20, "the killed emulator");
    assert!(left.exists(), "SIGKILL leaves it");
    let (mut next, _, _) = flash_emulator(&["--port", "0"], &[]);
    let own = owned_by(next.id()).expect("the new emulator's own dir");
    assert!(!left.exists(), "{} was not removed", left.display());
    assert!(own.exists());
    sigterm(next.id());
    assert!(wait_exit(&mut next, 20, "flash emulator").success());
    assert!(!own.exists());
}

/// Clients that open connections and never finish their request headers (slowloris) do not
/// keep `flash emulator` from serving everyone else: a deploy and a job go through while 300
/// such connections are open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_do_not_stop_the_emulator_serving_others() {
    use tokio::io::AsyncWriteExt;
    let (mut emulator, base, key) = flash_emulator(&["--port", "0"], &[]);
    let addr = base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Le")
            .await
            .unwrap();
        slow.push(s);
    }
    let dir = queue_project(1);
    let started = Instant::now();
    let report = deploy::deploy(&Project::at(dir.path()), &deploy_options(&base, &key))
        .await
        .unwrap();
    let url = report.endpoint("worker").unwrap().url.clone();
    let done = one_job(&url, &key, json!({"op": "echo", "value": "through"})).await;
    assert_eq!(done["output"], "through", "{done}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "served within the header deadline, not after it freed the connections"
    );
    let pids = workers(&base, &key).await;
    drop(slow);
    sigterm(emulator.id());
    assert!(wait_exit(&mut emulator, 20, "flash emulator").success());
    for pid in pids {
        assert!(!pid_alive(pid), "worker {pid} outlived the emulator");
    }
}
