//! Real worker processes started from a build artifact (the test worker binary).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn pids(emu: &flash_emulator::EmulatorHandle) -> Vec<u32> {
    emu.snapshot()
        .endpoints
        .iter()
        .flat_map(|e| e.workers.iter().filter_map(|w| w.pid))
        .collect()
}

async fn teardown(emu: flash_emulator::EmulatorHandle, seen: &[u32]) {
    let mut all = pids(&emu);
    all.extend_from_slice(seen);
    emu.shutdown().await;
    for pid in all {
        assert!(!pid_alive(pid), "worker process {pid} survived shutdown");
    }
}

#[tokio::test]
async fn provisions_runs_jobs_with_the_worker_env_and_logs() {
    let emu = start().await;
    let mut logs = emu.subscribe_logs();
    let (_, env_id, _) = deploy(&emu, "app1").await;
    let ep = save_endpoint(&emu, json!({
        "name": "worker-a", "type": "QB", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
        "flashEnvironmentId": env_id,
        "template": template("t", &[("FLASH_RESOURCE_NAME", "res_a"), ("RUNPOD_API_KEY", "user-key"), ("CUSTOM", "yes")])
    })).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let names = [
        "FLASH_RESOURCE_NAME",
        "RUNPOD_ENDPOINT_ID",
        "RUNPOD_POD_ID",
        "RUNPOD_AI_API_KEY",
        "FLASH_ENVIRONMENT_ID",
        "FLASH_APP",
        "FLASH_ENV",
        "FLASH_MANIFEST_PATH",
        "RUNPOD_API_BASE_URL",
        "RUNPOD_ENDPOINT_BASE_URL",
        "RUNPOD_WEBHOOK_GET_JOB",
        "RUNPOD_PING_INTERVAL",
        "RUNPOD_API_KEY",
        "CUSTOM",
        "PORT",
    ];
    let (code, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=60000",
        json!({"input": {"op": "env", "names": names}}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(r["status"], "COMPLETED", "{r}");
    let env = &r["output"];
    assert_eq!(env["FLASH_RESOURCE_NAME"], "res_a");
    assert_eq!(env["RUNPOD_ENDPOINT_ID"], id.as_str());
    assert_eq!(env["RUNPOD_POD_ID"], r["workerId"]);
    assert_eq!(env["RUNPOD_AI_API_KEY"], ep["aiKey"]);
    assert_eq!(env["FLASH_ENVIRONMENT_ID"], env_id.as_str());
    assert_eq!(
        (env["FLASH_APP"].as_str(), env["FLASH_ENV"].as_str()),
        (Some("app1"), Some("production"))
    );
    assert!(
        env["FLASH_MANIFEST_PATH"]
            .as_str()
            .unwrap()
            .ends_with("/flash_manifest.json")
    );
    assert_eq!(env["RUNPOD_API_BASE_URL"], emu.api_base_url());
    assert_eq!(
        env["RUNPOD_ENDPOINT_BASE_URL"],
        emu.endpoint_base_url().as_str()
    );
    assert!(
        env["RUNPOD_WEBHOOK_GET_JOB"]
            .as_str()
            .unwrap()
            .contains("/job-take/$ID")
    );
    assert_eq!(env["RUNPOD_API_KEY"], "user-key");
    assert_eq!(env["CUSTOM"], "yes");
    assert!(env["PORT"].is_null());
    assert!(r["delayTime"].is_u64());

    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=30000",
        json!({"input": {"op": "fail", "message": "nope"}}),
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["error"].as_str()),
        (Some("FAILED"), Some("nope"))
    );
    let (_, r) = dp_post(
        &emu,
        &id,
        "run",
        json!({"input": {"op": "stream", "chunks": [1, 2]}}),
    )
    .await;
    let st = wait_final(&emu, &id, r["id"].as_str().unwrap(), 30).await;
    assert_eq!(st["output"], json!([1, 2]));

    // Worker output is captured line by line, tagged with the endpoint and worker.
    let line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let l = logs.recv().await.unwrap();
            if l.line.contains("starting for res_a") {
                return l;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(line.endpoint_name, "worker-a");
    let seen = pids(&emu);
    assert_eq!(seen.len(), 1);
    teardown(emu, &seen).await;
}

#[tokio::test]
async fn scales_up_with_queue_depth_and_down_after_idle() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "scale").await;
    let ep = save_endpoint(&emu, json!({"name": "scaler", "workersMin": 0, "workersMax": 3, "idleTimeout": 1, "flashEnvironmentId": env_id, "template": template("scaler", &[])})).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    assert!(pids(&emu).is_empty(), "workersMin 0 starts nothing");
    let mut jobs = Vec::new();
    for _ in 0..4 {
        let (_, r) = dp_post(
            &emu,
            &id,
            "run",
            json!({"input": {"op": "sleep", "ms": 1500}}),
        )
        .await;
        jobs.push(r["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let max_workers = eventually(30, "three workers", || {
        let s = emu.snapshot();
        let n = endpoint_snapshot(&s, &id)?.workers.len();
        seen.extend(pids(&emu));
        (n == 3).then_some(n)
    })
    .await;
    assert_eq!(max_workers, 3, "never more than workersMax");
    let mut workers = std::collections::HashSet::new();
    for j in &jobs {
        let st = wait_final(&emu, &id, j, 60).await;
        assert_eq!(st["status"], "COMPLETED");
        workers.insert(st["workerId"].as_str().unwrap().to_owned());
    }
    assert!(workers.len() >= 2, "jobs spread over workers: {workers:?}");
    seen.extend(pids(&emu));
    eventually(30, "scale down to zero", || {
        endpoint_snapshot(&emu.snapshot(), &id)?
            .workers
            .is_empty()
            .then_some(())
    })
    .await;
    teardown(emu, &seen).await;
}

#[tokio::test]
async fn crash_restarts_and_requeues_cancel_and_timeout() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "crashy").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "crashy", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
        "executionTimeoutMs": 1500, "flashEnvironmentId": env_id, "template": template("crashy", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let first = eventually(30, "first worker", || pids(&emu).first().copied()).await;
    let marker = std::env::temp_dir().join(format!("flash-emu-crash-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let (_, r) = dp_post(
        &emu,
        &id,
        "run",
        json!({"input": {"op": "crash", "marker": marker}}),
    )
    .await;
    let job = r["id"].as_str().unwrap().to_owned();
    let st = wait_final(&emu, &id, &job, 60).await;
    assert_eq!(st["status"], "COMPLETED", "{st}");
    assert_eq!(st["output"], "survived");
    assert!(marker.exists());
    let second = eventually(30, "a replacement worker", || pids(&emu).first().copied()).await;
    assert_ne!(first, second);
    assert!(!pid_alive(first));
    let snap = endpoint_snapshot(&emu.snapshot(), &id).unwrap();
    assert_eq!(snap.jobs.iter().find(|j| j.id == job).unwrap().requeues, 1);

    // Execution timeout.
    let (_, r) = dp_post(
        &emu,
        &id,
        "run",
        json!({"input": {"op": "sleep", "ms": 4000}}),
    )
    .await;
    let st = wait_final(&emu, &id, r["id"].as_str().unwrap(), 30).await;
    assert_eq!(st["status"], "TIMED_OUT", "{st}");
    // A per-job policy overrides it; cancel a running job.
    let (_, r) = dp_post(
        &emu,
        &id,
        "run",
        json!({"input": {"op": "sleep", "ms": 3000}, "policy": {"executionTimeout": 60000}}),
    )
    .await;
    let job = r["id"].as_str().unwrap().to_owned();
    eventually(30, "job running", || {
        let s = endpoint_snapshot(&emu.snapshot(), &id)?;
        (s.jobs.iter().find(|j| j.id == job)?.status == flash_emulator::JobStatus::InProgress)
            .then_some(())
    })
    .await;
    let (_, c) = dp_post(&emu, &id, &format!("cancel/{job}"), json!(null)).await;
    assert_eq!(c["status"], "CANCELLED");
    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=30000",
        json!({"input": {"op": "echo", "value": 5}}),
    )
    .await;
    assert_eq!(
        r["output"], 5,
        "the worker goes on after a cancelled job: {r}"
    );
    assert_eq!(wait_final(&emu, &id, &job, 5).await["status"], "CANCELLED");
    let _ = std::fs::remove_file(&marker);
    teardown(emu, &[first, second]).await;
}

#[tokio::test]
async fn network_volume_is_shared_between_endpoints() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "vols").await;
    let a = save_endpoint(&emu, json!({"name": "writer", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id, "networkVolumeId": "vol1", "template": template("writer", &[])})).await;
    let b = save_endpoint(&emu, json!({"name": "reader", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id, "networkVolumeIds": [{"networkVolumeId": "vol1"}], "template": template("reader", &[])})).await;
    assert_eq!(b["networkVolumeId"], "vol1");
    let (_, r) = dp_post(
        &emu,
        a["id"].as_str().unwrap(),
        "runsync?wait=60000",
        json!({"input": {"op": "write", "file": "f.txt", "content": "shared!"}}),
    )
    .await;
    assert_eq!(r["output"], "written", "{r}");
    let (_, r) = dp_post(
        &emu,
        b["id"].as_str().unwrap(),
        "runsync?wait=60000",
        json!({"input": {"op": "read", "file": "f.txt"}}),
    )
    .await;
    assert_eq!(r["output"], "shared!", "{r}");
    let d = gql(&emu, "query($id: String!) { flashEnvironment(flashEnvironmentId: $id) { networkVolumes { id } } }", json!({"id": env_id})).await;
    assert_eq!(
        d["flashEnvironment"]["networkVolumes"],
        json!([{"id": "vol1"}])
    );
    let seen = pids(&emu);
    teardown(emu, &seen).await;
}

#[tokio::test]
async fn load_balanced_endpoint_proxies_to_healthy_workers() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "lb").await;
    let ep = save_endpoint(&emu, json!({"name": "gateway", "type": "LB", "workersMin": 1, "workersMax": 2, "idleTimeout": 60, "flashEnvironmentId": env_id, "template": template("gateway", &[])})).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let url = emu.lb_url(&id).expect("LB url");
    let r = http()
        .post(format!("{url}/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{url}/echo"))
        .bearer_auth(KEY)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let worker = r
        .headers()
        .get("x-runpod-worker-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"body": "hello", "worker": worker}));
    let snap = endpoint_snapshot(&emu.snapshot(), &id).unwrap();
    assert!(snap.workers[0].port.is_some());
    assert_eq!(snap.url.as_deref(), Some(url.as_str()));
    // The same endpoint through the path-based route of the main listener.
    let path_url = emu.lb_url_template().replace("{endpoint_id}", &id);
    assert!(path_url.starts_with(emu.api_base_url()));
    let r = http()
        .post(format!("{path_url}/echo?q=1"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{path_url}/echo?q=1"))
        .bearer_auth(KEY)
        .body("via path")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["body"], "via path");
    // An encoded '?' stays in the path: the worker has no such route (it is not /echo with a
    // query), and the emulator forwards it rather than refusing or re-parsing it.
    for odd in ["echo%3Fq=1", "echo%20x", "echo%2Fx"] {
        let r = http()
            .post(format!("{path_url}/{odd}"))
            .bearer_auth(KEY)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{odd}");
        assert!(
            r.headers().contains_key("x-runpod-worker-id"),
            "{odd}: proxied"
        );
    }
    let r = http()
        .get(format!(
            "{}/ping",
            emu.lb_url_template().replace("{endpoint_id}", "nope")
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // The control plane saw the operations of this test.
    assert!(
        emu.graphql_log()
            .iter()
            .any(|c| c.mutation && c.operation_name.as_deref() == Some("deployBuildToEnvironment"))
    );
    // Deleting the endpoint stops its workers.
    let seen = pids(&emu);
    gql(
        &emu,
        "mutation($id: String!) { deleteEndpoint(id: $id) }",
        json!({"id": id}),
    )
    .await;
    eventually(20, "LB workers gone", || {
        seen.iter().all(|p| !pid_alive(*p)).then_some(())
    })
    .await;
    teardown(emu, &seen).await;
}

/// The build worker process `pid` runs: its working directory is the unpacked build,
/// `{state}/builds/{build_id}`.
/// Whether worker `pid` runs the build uploaded as `key`: its mounted artifact
/// (`FLASH_BUILD_ARTIFACT_PATH`) is a link of that upload.
fn runs_build(emu: &flash_emulator::EmulatorHandle, pid: u32, key: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    // A worker that exited meanwhile runs nothing.
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let Some(mounted) = environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(b"FLASH_BUILD_ARTIFACT_PATH="))
        .map(|p| std::path::PathBuf::from(String::from_utf8_lossy(p).into_owned()))
    else {
        return false;
    };
    let upload = flash_emulator::artifacts::upload_path(emu.state_dir(), key);
    let inode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.ino()).ok();
    inode(&mounted).is_some() && inode(&mounted) == inode(&upload)
}

fn endpoint_pids(emu: &flash_emulator::EmulatorHandle, id: &str) -> Vec<u32> {
    endpoint_snapshot(&emu.snapshot(), id)
        .map(|e| e.workers.iter().filter_map(|w| w.pid).collect())
        .unwrap_or_default()
}

/// `V` in the env of the worker that takes a job of endpoint `id`.
async fn env_value(emu: &flash_emulator::EmulatorHandle, id: &str) -> String {
    let (_, r) = dp_post(
        emu,
        id,
        "runsync?wait=30000",
        json!({"input": {"op": "env", "names": ["V"]}}),
    )
    .await;
    r["output"]["V"].as_str().unwrap_or_default().to_owned()
}

async fn endpoint_version(emu: &flash_emulator::EmulatorHandle, id: &str) -> i64 {
    gql(
        emu,
        "query getEndpoint($id: String!) { myself { endpoint(id: $id) { version } } }",
        json!({ "id": id }),
    )
    .await["myself"]["endpoint"]["version"]
        .as_i64()
        .unwrap()
}

/// Waits for `id` to have exactly one worker, other than `not`, and returns its pid.
async fn one_worker(emu: &flash_emulator::EmulatorHandle, id: &str, not: Option<u32>) -> u32 {
    eventually(
        30,
        "one (new) worker",
        || match endpoint_pids(emu, id)[..] {
            [pid] if Some(pid) != not => Some(pid),
            _ => None,
        },
    )
    .await
}

#[tokio::test]
async fn build_activation_does_not_restart_running_workers() {
    let emu = start().await;
    let (app_id, env_id) = create_app_env(&emu, "keep").await;
    let (first_build, first_key) = upload_build(&emu, &app_id, artifact()).await;
    activate(&emu, &env_id, &first_build).await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "keep", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
        "flashEnvironmentId": env_id, "template": template("keep", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let pid = one_worker(&emu, &id, None).await;
    assert!(runs_build(&emu, pid, &first_key));

    let (second_build, _) = upload_build(&emu, &app_id, artifact()).await;
    let env = activate(&emu, &env_id, &second_build).await;
    assert_eq!(env["activeBuildId"], second_build.as_str());
    // Many supervisor ticks later, the same process still runs the build it started with.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(endpoint_pids(&emu, &id), [pid]);
    assert!(pid_alive(pid));
    assert!(runs_build(&emu, pid, &first_key));
    assert_eq!(endpoint_version(&emu, &id).await, 0, "no rolling release");
    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=30000",
        json!({"input": {"op": "echo", "value": 1}}),
    )
    .await;
    assert_eq!(r["output"], 1, "{r}");
    teardown(emu, &[pid]).await;
}

#[tokio::test]
async fn template_env_change_replaces_the_worker() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "roll").await;
    let input = |value: &str| {
        json!({"name": "roll", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
               "flashEnvironmentId": env_id, "template": template("roll", &[("V", value)])})
    };
    let ep = save_endpoint(&emu, input("1")).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let first = one_worker(&emu, &id, None).await;
    assert_eq!(env_value(&emu, &id).await, "1");

    // The same template with a scaling change: applied in place, the worker stays.
    let mut scaled = input("1");
    scaled["id"] = json!(id);
    scaled["idleTimeout"] = json!(30);
    assert_eq!(save_endpoint(&emu, scaled).await["version"], 0);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(endpoint_pids(&emu, &id), [first]);

    // A template env change (inline, on update) rolls it.
    let mut changed = input("2");
    changed["id"] = json!(id);
    let saved = save_endpoint(&emu, changed).await;
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["templateId"], ep["templateId"], "updated in place");
    let second = one_worker(&emu, &id, Some(first)).await;
    assert!(!pid_alive(first), "the old worker was stopped");
    assert_eq!(env_value(&emu, &id).await, "2");

    // saveTemplate does too.
    gql(&emu, "mutation saveTemplate($input: SaveTemplateInput) { saveTemplate(input: $input) { id } }",
        json!({"input": {"id": ep["templateId"], "name": "roll", "imageName": image(),
               "containerDiskInGb": 10, "dockerArgs": "", "env": [{"key": "V", "value": "3"}], "volumeInGb": 0}}))
    .await;
    let third = one_worker(&emu, &id, Some(second)).await;
    assert_eq!(env_value(&emu, &id).await, "3");
    assert_eq!(endpoint_version(&emu, &id).await, 2);
    teardown(emu, &[first, second, third]).await;
}

#[tokio::test]
async fn a_worker_started_after_activation_runs_the_new_build() {
    let emu = start().await;
    let (app_id, env_id) = create_app_env(&emu, "fresh").await;
    let (first_build, first_key) = upload_build(&emu, &app_id, artifact()).await;
    activate(&emu, &env_id, &first_build).await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "fresh", "workersMin": 1, "workersMax": 2, "idleTimeout": 60,
        "flashEnvironmentId": env_id, "template": template("fresh", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let old = one_worker(&emu, &id, None).await;
    let (second_build, second_key) = upload_build(&emu, &app_id, artifact()).await;
    activate(&emu, &env_id, &second_build).await;

    // One more worker wanted: it starts from the active build, next to the old one.
    save_endpoint(&emu, json!({"id": id, "name": "fresh", "workersMin": 2})).await;
    let new = eventually(30, "a second worker", || {
        endpoint_pids(&emu, &id).into_iter().find(|p| *p != old)
    })
    .await;
    assert!(runs_build(&emu, new, &second_key));
    assert!(
        runs_build(&emu, old, &first_key),
        "the running worker was left alone"
    );
    assert!(pid_alive(old));
    teardown(emu, &[old, new]).await;
}

#[tokio::test]
async fn a_broken_artifact_is_a_clear_worker_start_failure() {
    let emu = start().await;
    let mut logs = emu.subscribe_logs();
    let (app_id, env_id) = create_app_env(&emu, "broken").await;
    // A gzip tarball whose manifest names no entrypoint.
    let broken = flash_contract::artifact::pack(&[flash_contract::artifact::Member::file(
        flash_contract::files::MANIFEST_FILE,
        &br#"{"resources":{}}"#[..],
        0o644,
    )])
    .unwrap();
    let (build, _) = upload_build(&emu, &app_id, broken).await;
    // Activation does not look inside.
    let env = activate(&emu, &env_id, &build).await;
    assert_eq!(env["activeBuildId"], build.as_str());
    let ep = save_endpoint(
        &emu,
        json!({"name": "broken", "workersMin": 1, "workersMax": 1,
        "flashEnvironmentId": env_id, "template": template("broken", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    // The worker's boot step refuses the artifact: a boot failure, with the boot step's line.
    let error = eventually(30, "a boot failure", || {
        endpoint_snapshot(&emu.snapshot(), &id)?.provision_error
    })
    .await;
    for part in [
        "endpoint broken",
        "exited during boot",
        "flash-boot:",
        "entrypoint",
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    let line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let l = logs.recv().await.unwrap();
            if l.endpoint_id == id && l.worker_id == flash_emulator::supervisor::SUPERVISOR_LOG_ID {
                return l;
            }
        }
    })
    .await
    .expect("a log line about the failure");
    assert_eq!(line.stream, flash_emulator::LogStream::Stderr);
    assert!(
        line.line.starts_with("worker boot failed (1 in a row): "),
        "{line:?}"
    );
    assert!(line.line.contains("entrypoint"), "{line:?}");
    // The control plane still answers, and a good build starts the worker.
    let (good, good_key) = upload_build(&emu, &app_id, artifact()).await;
    activate(&emu, &env_id, &good).await;
    let pid = eventually(30, "a worker of the good build", || {
        endpoint_pids(&emu, &id)
            .into_iter()
            .find(|p| runs_build(&emu, *p, &good_key))
    })
    .await;
    eventually(10, "the failure cleared", || {
        endpoint_snapshot(&emu.snapshot(), &id)?
            .provision_error
            .is_none()
            .then_some(())
    })
    .await;
    teardown(emu, &[pid]).await;
}

/// The load balancer streams a worker's answer through as it is written (so chunked and
/// server-sent-events routes work) and holds answers to Runpod's 30 MB: a larger declared body
/// is a 502 naming the limit, a larger chunked one is cut off with an error, never delivered
/// as if complete.
#[tokio::test]
async fn load_balanced_answers_are_streamed_and_bounded() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "lbstream").await;
    let ep = save_endpoint(&emu, json!({"name": "gateway", "type": "LB", "workersMin": 1, "workersMax": 1, "idleTimeout": 60, "flashEnvironmentId": env_id, "template": template("gateway", &[])})).await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let url = emu.lb_url(&id).expect("LB url");
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let mut r = http()
        .get(format!("{url}/drip?gate={}", gate.display()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(20), r.chunk())
        .await
        .expect("the first line arrives before the worker finishes its answer")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    std::fs::write(&gate, "").unwrap();
    let rest = r.text().await.unwrap();
    assert_eq!(rest, "second\n");

    const LIMIT: usize = 30 * 1024 * 1024;
    let ok = http()
        .get(format!("{url}/bytes?n={LIMIT}&chunked=true"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.bytes().await.unwrap().len(),
        LIMIT,
        "exactly the limit passes"
    );
    let declared = http()
        .get(format!("{url}/bytes?n={}", LIMIT + 1))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), 502);
    let message = declared.text().await.unwrap();
    assert!(
        message.contains("31457281 bytes, over the 31457280-byte response limit"),
        "{message}"
    );
    let chunked = http()
        .get(format!("{url}/bytes?n={}&chunked=true", LIMIT + 1))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(
        chunked.status(),
        200,
        "the status went out before the limit was passed"
    );
    assert!(
        chunked.bytes().await.is_err(),
        "an over-limit answer never arrives whole"
    );
    let seen = pids(&emu);
    teardown(emu, &seen).await;
}
