//! How workers start: through the image's boot step, with their own mounted artifact; images
//! this machine cannot run; workers that cannot boot; what workers print.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn pids(emu: &flash_emulator::EmulatorHandle, id: &str) -> Vec<u32> {
    endpoint_snapshot(&emu.snapshot(), id)
        .map(|e| e.workers.iter().filter_map(|w| w.pid).collect())
        .unwrap_or_default()
}

fn environ(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    environ
        .split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[tokio::test]
async fn workers_boot_from_their_own_mounted_artifact_and_leave_nothing_behind() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "boot").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "boot", "workersMin": 2, "workersMax": 2, "idleTimeout": 60,
               "flashEnvironmentId": env_id, "template": template("boot", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    // Ready (they asked for a job): the boot step has exec'd the entrypoint.
    let workers = eventually(30, "two ready workers", || {
        let e = endpoint_snapshot(&emu.snapshot(), &id)?;
        let ready = e
            .workers
            .iter()
            .filter(|w| w.state == flash_emulator::WorkerPhase::Idle);
        let p: Vec<u32> = ready.filter_map(|w| w.pid).collect();
        (p.len() == 2).then_some(p)
    })
    .await;
    let mut dirs = Vec::new();
    for pid in &workers {
        // The boot step exec'd the entrypoint: the process is the test worker itself.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        let artifact =
            std::path::PathBuf::from(environ(*pid, "FLASH_BUILD_ARTIFACT_PATH").unwrap());
        let app = std::path::PathBuf::from(environ(*pid, "FLASH_APP_DIR").unwrap());
        assert!(
            exe.starts_with(&app),
            "{} runs from {}",
            exe.display(),
            app.display()
        );
        assert!(artifact.is_file());
        assert_eq!(
            environ(*pid, "FLASH_MANIFEST_PATH").unwrap(),
            app.join("flash_manifest.json").display().to_string(),
            "set by the boot step"
        );
        assert_eq!(
            environ(*pid, "FLASH_BIND_ADDRESS").as_deref(),
            Some("127.0.0.1")
        );
        dirs.push(artifact.parent().unwrap().to_owned());
    }
    assert_ne!(dirs[0], dirs[1], "each worker has its own mount");
    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=30000",
        json!({"input": {"value": 5}}),
    )
    .await;
    assert_eq!(r["output"], 5, "{r}");
    // Scaled to zero: the workers and their directories go.
    save_endpoint(
        &emu,
        json!({"id": id, "name": "boot", "workersMin": 0, "idleTimeout": 0}),
    )
    .await;
    eventually(30, "the workers stopped", || {
        pids(&emu, &id).is_empty().then_some(())
    })
    .await;
    eventually(10, "their directories removed", || {
        dirs.iter().all(|d| !d.exists()).then_some(())
    })
    .await;
    emu.shutdown().await;
    for pid in workers {
        assert!(!pid_alive(pid));
    }
}

/// Saves endpoint `name` running `image`, submits one job, and waits for the endpoint's
/// `provisionError`. Returns (endpoint id, job id, the error).
async fn a_job_on_image(
    emu: &flash_emulator::EmulatorHandle,
    name: &str,
    image: &str,
) -> (String, String, String) {
    let (_, env_id, _) = deploy(emu, name).await;
    let mut tpl = template(name, &[]);
    tpl["imageName"] = json!(image);
    let ep = save_endpoint(
        emu,
        json!({"name": name, "workersMin": 0, "workersMax": 1,
               "flashEnvironmentId": env_id, "template": tpl}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let (code, r) = dp_post(emu, &id, "run", json!({"input": {"value": 1}})).await;
    assert_eq!(code, 200);
    let job = r["id"].as_str().unwrap().to_owned();
    let error = eventually(10, "the endpoint's provisionError", || {
        endpoint_snapshot(&emu.snapshot(), &id)?.provision_error
    })
    .await;
    (id, job, error)
}

/// The job is still queued `after` the error, and no worker was started.
async fn still_queued(emu: &flash_emulator::EmulatorHandle, id: &str, job: &str, after: Duration) {
    tokio::time::sleep(after).await;
    let (_, status) = dp_get(emu, id, &format!("status/{job}")).await;
    assert_eq!(status["status"], "IN_QUEUE", "{status}");
    assert!(pids(emu, id).is_empty());
    let snap = endpoint_snapshot(&emu.snapshot(), id).unwrap();
    assert!(snap.workers.is_empty(), "{:?}", snap.workers);
}

#[tokio::test]
async fn an_image_this_machine_cannot_run_keeps_its_jobs_queued() {
    let emu = start().await;
    let (id, job, error) = a_job_on_image(&emu, "vllm", "runpod/worker-v1-vllm:v2.7.0").await;
    assert!(
        error.contains("image runpod/worker-v1-vllm:v2.7.0 cannot run on this machine"),
        "{error}"
    );
    still_queued(&emu, &id, &job, Duration::from_millis(500)).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_cannot_boot_backs_off_then_fails_the_queued_jobs() {
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "noboot").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "noboot", "workersMin": 0, "workersMax": 1,
               "flashEnvironmentId": env_id,
               "template": template("noboot", &[("TEST_WORKER_BOOT_FAIL", "cannot open the model file")])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=60000",
        json!({"input": {"value": 1}}),
    )
    .await;
    assert_eq!(r["status"], "FAILED", "{r}");
    let error = r["error"].as_str().unwrap();
    for part in [
        "exited during boot",
        "cannot open the model file",
        &format!(
            "gave up after {} boot failures in a row",
            flash_emulator::supervisor::BOOT_GIVE_UP
        ),
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    // 500 ms, 1 s, 2 s and 4 s between the five tries: backed off, not a hot loop.
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    let snap = endpoint_snapshot(&emu.snapshot(), &id).unwrap();
    assert!(
        snap.provision_error
            .unwrap()
            .contains("cannot open the model file")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn odd_worker_output_is_logged_and_never_stops_the_worker() {
    let emu = start().await;
    let mut logs = emu.subscribe_logs();
    let (_, env_id, _) = deploy(&emu, "noisy").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "noisy", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
               "flashEnvironmentId": env_id, "template": template("noisy", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let big = 1024 * 1024;
    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=30000",
        json!({"input": {"op": "noise", "bytes": big, "value": 1}}),
    )
    .await;
    assert_eq!(r["output"], 1, "{r}");
    let pid = pids(&emu, &id)[0];
    // The pipe stayed open: the same worker prints and answers again.
    let (_, r) = dp_post(
        &emu,
        &id,
        "runsync?wait=30000",
        json!({"input": {"op": "noise", "bytes": 10, "value": 2}}),
    )
    .await;
    assert_eq!(r["output"], 2, "{r}");
    assert_eq!(pids(&emu, &id), [pid], "not restarted");
    let mut invalid = 0;
    let mut cut = 0;
    let mut after = 0;
    tokio::time::timeout(Duration::from_secs(10), async {
        while invalid < 4 || cut < 2 || after < 4 {
            let line = logs.recv().await.unwrap();
            if line.endpoint_id != id {
                continue;
            }
            assert!(line.line.len() <= flash_emulator::supervisor::MAX_LOG_LINE + 64);
            if line.line == "invalid \u{fffd} utf-8" {
                invalid += 1;
            }
            if line.line.starts_with("xxxx") && line.line.ends_with(" more bytes cut]") {
                cut += 1;
            }
            if line.line == "after the long line" {
                after += 1;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("lines seen: invalid {invalid}, cut {cut}, after {after}"));
    emu.shutdown().await;
    assert!(!pid_alive(pid));
}

#[tokio::test]
async fn a_python_image_without_a_python_keeps_its_jobs_queued() {
    let missing = "/nonexistent/flash-venv/bin/python";
    let emu = start_with(flash_emulator::Emulator::builder().python(missing)).await;
    let (id, job, error) = a_job_on_image(&emu, "pyqueue", "runpod/flash-cpu:py3.12-latest").await;
    for part in [
        "image runpod/flash-cpu:py3.12-latest runs Python Flash workers",
        missing,
        "cannot be run",
        "pip install 'runpod-flash==1.21.*'",
        "FLASH_EMULATOR_PYTHON",
        "its jobs wait in the queue",
    ] {
        assert!(error.contains(part), "{part:?} not in {error:?}");
    }
    still_queued(&emu, &id, &job, Duration::from_millis(1500)).await;
    emu.shutdown().await;
}
