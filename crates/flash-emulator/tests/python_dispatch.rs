//! The official runpod 2.0.0rc2 SDK calling a Rust endpoint by name through the emulator's Flash
//! dispatcher, over HTTP on 127.0.0.1: `runpod.Queue(app=..., name=...)` (and `id=...`) stubs
//! run, spawn, stream, wait for, cancel and retry jobs of an endpoint deployed from a build (the
//! emulator's Rust test worker, started by the emulator as Runpod starts workers), and
//! `runpod_flash::client` reaches the same endpoint by name; and the other way, our client by
//! name reaches an endpoint whose worker is the SDK's own (`runpod.serverless.start`, a
//! generator handler).
//!
//! Skipped, saying why, when `python3` is missing or PyPI cannot be reached to create the
//! virtualenv (`$HOME/.cache/flash-ci/venvs/runpod20rc2`).
#![allow(clippy::print_stderr)] // says why it skips

mod common;
#[allow(dead_code, unreachable_pub)] // the flash121 half is the system tests'
#[path = "../../../tests/support/python.rs"]
mod python;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use runpod_flash::ApiKey;
use runpod_flash::client::QueueEndpoint;
use serde_json::json;

/// The SDK's side: each step prints one JSON line. Arguments: key, endpoint base URL, the
/// endpoint's id.
const CALLER: &str = r#"import json
import sys

import runpod
from runpod.apps.errors import EndpointNotFound, RemoteExecutionError

runpod.api_key = sys.argv[1]
runpod.endpoint_url_base = sys.argv[2]


def say(**kw):
    print(json.dumps(kw), flush=True)


echo = runpod.Queue(app="shop", name="echo", env="production")
say(step="remote", output=echo.remote(op="echo", value={"n": 7}))
job = echo.spawn(op="echo", value="later")
say(step="spawn", id=job.id)
say(step="result", output=job.result(timeout=60))
say(step="status", status=job.status())
say(step="stream", chunks=list(echo.stream(op="stream", chunks=["a", "b", "c"])))
# Long enough to be running when the cancel lands; the worker sleeps it out before its next
# job (a cancel stops no handler mid-job), so not longer.
slow = echo.spawn(op="sleep", ms=3000)
slow.cancel()
say(step="cancel", status=slow.status())
failing = echo.spawn(op="fail", message="boom")
try:
    failing.result(timeout=60)
    say(step="fail", error=None)
except RemoteExecutionError as e:
    say(step="fail", error=str(e))
failing.retry()
say(step="retry", status=failing._data.get("status"))
by_id = runpod.Queue(app="shop", id=sys.argv[3], env="production")
say(step="by_id", output=by_id.remote(op="echo", value=1))
try:
    runpod.Queue(app="shop", name="nope", env="production").remote(op="echo", value=1)
    say(step="missing", error=None)
except EndpointNotFound as e:
    say(step="missing", error=type(e).__name__)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runpod_2_queue_stub_reaches_a_rust_endpoint_by_name() {
    let python = match python::runpod20_python().await {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipping the runpod 2.0 dispatch interop test: {why}");
            return;
        }
    };
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "shop").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "echo", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
               "flashEnvironmentId": env_id, "template": template("echo", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();

    // Our client by name, against the deployed Rust worker.
    let rust = QueueEndpoint::builder_by_name("shop", "production", "echo")
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let out: String = rust
        .run_sync(
            &json!({"op": "echo", "value": "rust"}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(out, "rust");

    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("caller.py"), CALLER).unwrap();
    let steps = python::sdk_steps(
        &python,
        scratch.path(),
        "caller.py",
        &[KEY, &emu.endpoint_base_url(), &id],
        Duration::from_secs(180),
    )
    .await;
    let step = |name: &str| python::step(&steps, name);
    assert_eq!(step("remote")["output"], json!({"n": 7}));
    assert_eq!(step("result")["output"], "later");
    assert_eq!(step("status")["status"], "COMPLETED");
    assert_eq!(step("stream")["chunks"], json!(["a", "b", "c"]));
    assert_eq!(step("cancel")["status"], "CANCELLED");
    let fail = step("fail")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(fail.contains("boom"), "{fail}");
    assert_eq!(step("retry")["status"], "IN_QUEUE");
    assert_eq!(step("by_id")["output"], 1);
    assert_eq!(step("missing")["error"], "EndpointNotFound");
    // The SDK's job, by id, through our client by name.
    let spawned = rust.job(step("spawn")["id"].as_str().unwrap());
    let later: String = spawned.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(later, "later");

    emu.shutdown().await;
    drop(scratch);
}

/// A runpod 2.0 serverless worker: a generator handler, aggregated into the job's output.
const PY_WORKER: &str = r#"import runpod


def handler(job):
    for word in job["input"]["words"]:
        yield word.upper()


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_reaches_a_runpod_2_worker_by_name() {
    let python = match python::runpod20_python().await {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipping the runpod 2.0 worker by-name test: {why}");
            return;
        }
    };
    let emu = start().await;
    // No build in the environment: the emulator starts no worker; the SDK's worker is it.
    let (_, env_id) = create_app_env(&emu, "shop").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "shout", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id,
               "template": template("shout", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let ai_key = ep["aiKey"].as_str().unwrap().to_owned();
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("handler.py"), PY_WORKER).unwrap();
    let plane = format!("{}/{id}", emu.endpoint_base_url());
    let mut worker =
        python::sdk_worker(&python, scratch.path(), &plane, &id, &ai_key, "sdk20-pod-1");

    let shout = QueueEndpoint::builder_by_name("shop", "production", "shout")
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let out: Vec<String> = shout
        .run_sync(&json!({"words": ["a", "b"]}), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(out, ["A", "B"], "return_aggregate_stream");
    let job = shout.run(&json!({"words": ["x", "y", "z"]})).await.unwrap();
    let chunks: Vec<String> = tokio::time::timeout(
        Duration::from_secs(60),
        job.stream::<String>()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("the stream ends within a minute");
    assert_eq!(chunks, ["X", "Y", "Z"]);

    worker.start_kill().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), worker.wait())
        .await
        .expect("the SDK worker stops")
        .unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
    emu.shutdown().await;
    drop(scratch);
}
