//! Interop with the official runpod SDK (1.12, from the cached virtualenv of
//! `support::python`), both directions, over HTTP on 127.0.0.1:
//!
//! - an official SDK worker (a generator handler that reports progress, started as Runpod starts
//!   a worker: the job-plane URL templates, its key and pod id in the environment) serves an
//!   emulator endpoint, and `runpod_flash::client` streams its chunks, reads its progress and
//!   its aggregated output;
//! - the official SDK client (`runpod.Endpoint(...).run()`, `.status()`, `.stream()`,
//!   `.output()`, `run_sync`, `health`, `purge_queue`) calls the same endpoint, with a webhook
//!   to a loopback receiver.
//!
//! Skipped, saying why, when `python3` is missing or PyPI cannot be reached to create the
//! virtualenv.
#![allow(missing_docs, clippy::print_stderr)] // says why it skips

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flash_emulator::Emulator;
use futures_util::StreamExt;
use runpod_flash::ApiKey;
use runpod_flash::client::{JobState, QueueEndpoint};
use serde_json::{Value, json};

const KEY: &str = "rpa_PYTHONSDKTEST0000000000000000000000000000";

/// A generator handler, as the SDK's docs write one: progress first, then a token at a time.
const WORKER: &str = r#"import time

import runpod


def handler(job):
    n = job["input"]["n"]
    runpod.serverless.progress_update(job, {"stage": "warming up"})
    # progress_update posts from a thread; let the caller see it before the first token.
    time.sleep(float(job["input"].get("warmup", 0)))
    for i in range(n):
        time.sleep(0.5)
        yield f"tok{i}"


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
"#;

/// The SDK client's side: every call prints one JSON line.
const CLIENT: &str = r#"import json
import sys

import runpod

runpod.api_key = sys.argv[1]
runpod.endpoint_url_base = sys.argv[2]
endpoint = runpod.Endpoint(sys.argv[3])
webhook = sys.argv[4]


def say(**kw):
    print(json.dumps(kw), flush=True)


job = endpoint.run({"input": {"n": 3}, "webhook": webhook})
say(step="run", id=job.job_id)
say(step="stream", chunks=list(job.stream()))
say(step="status", status=job.status())
say(step="output", output=job.output(timeout=30))
say(step="run_sync", output=endpoint.run_sync({"n": 2}, timeout=60))
say(step="health", health=endpoint.health())
say(step="purge", purge=endpoint.purge_queue())
"#;

fn save_endpoint_query() -> &'static str {
    "mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { id aiKey } }"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_worker_and_client_interoperate_with_ours() {
    let python = match support::python::venv_python().await {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipping the runpod SDK interop test: {why}");
            return;
        }
    };
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("emulator starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // An endpoint without a build: the emulator starts no worker, the SDK worker below is it.
    let saved: Value = http
        .post(emu.graphql_url())
        .bearer_auth(KEY)
        .json(
            &json!({"query": save_endpoint_query(), "variables": {"input": {
            "name": "sdk", "workersMin": 0, "workersMax": 1,
            "template": {"name": "sdk", "imageName": flash_contract::images::default_image(false, None),
                         "containerDiskInGb": 10, "dockerArgs": "", "env": []}}}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ep = saved["data"]["saveEndpoint"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{saved}"))
        .to_owned();
    let ai_key = saved["data"]["saveEndpoint"]["aiKey"]
        .as_str()
        .unwrap()
        .to_owned();

    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("handler.py"), WORKER).unwrap();
    std::fs::write(scratch.path().join("client.py"), CLIENT).unwrap();
    let plane = format!("{}/{ep}", emu.endpoint_base_url());
    let worker =
        support::python::sdk_worker(&python, scratch.path(), &plane, &ep, &ai_key, "sdk-pod-1");

    // Our client, the SDK worker's generator.
    let endpoint = QueueEndpoint::builder(&ep)
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let job = endpoint.run(&json!({"n": 4, "warmup": 2.0})).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let progress = loop {
        let status = job.status().await.unwrap();
        if let Some(progress) = status.progress::<Value>() {
            break progress.unwrap();
        }
        assert!(
            !status.status.is_final() && Instant::now() < deadline,
            "no progress seen: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(progress, json!({"stage": "warming up"}));
    let mut stream = job.stream::<String>();
    let mut tokens = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("a chunk or the end within 30 s")
    {
        tokens.push(chunk.unwrap());
        if tokens.len() == 1 {
            // The handler sleeps 0.5 s before each token, and the stream's polls are at most
            // 1 s apart: the first token is here while the last ones are still to come.
            let status = job.status().await.unwrap();
            assert_eq!(status.status, JobState::InProgress, "{status:?}");
        }
    }
    assert_eq!(tokens, ["tok0", "tok1", "tok2", "tok3"]);
    let output: Vec<String> = job.wait(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        output,
        ["tok0", "tok1", "tok2", "tok3"],
        "return_aggregate_stream"
    );

    // The SDK's client, against the emulator serving the SDK's worker; the webhook reaches us.
    let hooks: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = Arc::clone(&hooks);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let steps = support::python::sdk_steps(
        &python,
        scratch.path(),
        "client.py",
        &[KEY, &emu.endpoint_base_url(), &ep, &hook_url],
        Duration::from_secs(120),
    )
    .await;
    let step = |name: &str| support::python::step(&steps, name);
    assert_eq!(step("stream")["chunks"], json!(["tok0", "tok1", "tok2"]));
    assert_eq!(step("status")["status"], "COMPLETED");
    assert_eq!(step("output")["output"], json!(["tok0", "tok1", "tok2"]));
    assert_eq!(step("run_sync")["output"], json!(["tok0", "tok1"]));
    let health = step("health")["health"].clone();
    assert_eq!(health["jobs"]["completed"], 3, "{health}");
    assert_eq!(
        step("purge")["purge"],
        json!({"removed": 0, "status": "completed"})
    );
    // Our view of the job the SDK submitted, by its id.
    let sdk_job = endpoint.job(step("run")["id"].as_str().unwrap());
    assert_eq!(sdk_job.status().await.unwrap().status, JobState::Completed);
    let delivered = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = hooks.lock().unwrap().clone();
            if !got.is_empty() || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["id"], step("run")["id"]);
    assert_eq!(delivered[0]["output"], json!(["tok0", "tok1", "tok2"]));

    receiver.abort();
    support::python::stop_sdk_worker(worker).await;
    emu.shutdown().await;
    drop(scratch);
}
