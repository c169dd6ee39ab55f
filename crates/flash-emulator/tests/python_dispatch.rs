//! The official runpod 2.0.0rc2 SDK calling a Rust endpoint by name through the emulator's Flash
//! dispatcher, over HTTP on 127.0.0.1: `runpod.Queue(app=..., name=...)` (and `id=...`) stubs
//! run, spawn, stream, wait for, cancel and retry jobs of an endpoint deployed from a build (the
//! emulator's Rust test worker, started by the emulator as Runpod starts workers), and
//! `runpod_flash::client` reaches the same endpoint by name; and the other way, our client by
//! name reaches an endpoint whose worker is the SDK's own (`runpod.serverless.start`, a
//! generator handler); and runpod 2.0's `runpod.Api(app=..., name=...)` reaching a load-balanced
//! Rust endpoint by name on the emulator's `flash.localhost` host.
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
use runpod_flash::client::{LoadBalancedEndpoint, QueueEndpoint};
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
    let worker = python::sdk_worker(&python, scratch.path(), &plane, &id, &ai_key, "sdk20-pod-1");

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

    python::stop_sdk_worker(worker).await;
    emu.shutdown().await;
    drop(scratch);
}

/// runpod 2.0's load-balanced stub by name. It always builds `https://flash.{host of
/// endpoint_url_base}{path}` (`runpod/apps/targets.py` `QueueClient.http`), and the emulator
/// speaks plain HTTP: so the script sends each request exactly as the SDK built it (method,
/// path, headers, body, and its host as the Host header) but over plain TCP to 127.0.0.1, and
/// prints what the SDK built. Arguments: key, endpoint base URL.
const LB_CALLER: &str = r#"import json
import sys

import aiohttp
import runpod
from runpod.apps.errors import EndpointNotFound

runpod.api_key = sys.argv[1]
runpod.endpoint_url_base = sys.argv[2]
built = []
send = aiohttp.ClientSession._request


async def plain_to_loopback(self, method, url, **kw):
    url = aiohttp.client.URL(url)
    headers = dict(kw.pop("headers", None) or {})
    built.append({"method": method, "url": str(url),
                  "flash": {k: v for k, v in headers.items() if k.startswith("X-Flash-")}})
    headers["Host"] = url.raw_authority
    return await send(self, method, url.with_scheme("http").with_host("127.0.0.1"),
                      headers=headers, **kw)


aiohttp.ClientSession._request = plain_to_loopback


def say(**kw):
    print(json.dumps(kw), flush=True)


gateway = runpod.Api(app="shop", name="gateway", env="production")
say(step="post", output=gateway.post("/echo", {"text": "hi"}), built=built[-1])
try:
    runpod.Api(app="shop", name="nope", env="production").post("/echo", 1)
    say(step="missing", error=None)
except EndpointNotFound as e:
    say(step="missing", error=type(e).__name__)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runpod_2_api_stub_reaches_a_load_balanced_rust_endpoint_on_the_flash_host() {
    let python = match python::runpod20_python().await {
        Ok(python) => python,
        Err(why) => {
            eprintln!("skipping the runpod 2.0 load-balanced dispatch interop test: {why}");
            return;
        }
    };
    let emu = start().await;
    deploy_shop_gateway(&emu).await;
    // The emulator's base URL by name (`localhost`, not `127.0.0.1`): runpod 2.0 puts `flash.`
    // before the host as it is, and only a name has subdomains.
    let port = emu.addr().port();
    let base = format!("http://localhost:{port}/v2");
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("lb_caller.py"), LB_CALLER).unwrap();
    let steps = python::sdk_steps(
        &python,
        scratch.path(),
        "lb_caller.py",
        &[KEY, &base],
        Duration::from_secs(120),
    )
    .await;
    let post = python::step(&steps, "post");
    assert_eq!(
        post["built"],
        json!({"method": "POST", "url": format!("https://flash.localhost:{port}/echo"),
               "flash": {"X-Flash-App": "shop", "X-Flash-Environment": "production",
                         "X-Flash-Endpoint": "gateway"}})
    );
    // The worker echoes the raw body: the SDK's JSON, spaced as Python spaces it.
    let body = |echo: &serde_json::Value| -> serde_json::Value {
        serde_json::from_str(echo["body"].as_str().unwrap()).unwrap()
    };
    assert_eq!(body(&post["output"]), json!({"text": "hi"}));
    assert_eq!(python::step(&steps, "missing")["error"], "EndpointNotFound");
    // Our client at the same host reaches the same worker (`by_name` derives this URL from
    // the emulator's base URL, `localhost` or `127.0.0.1`).
    let ours = LoadBalancedEndpoint::by_name_at(
        emu.flash_lb_host_url(),
        "shop",
        "production",
        "gateway",
        Some(ApiKey::new(KEY).unwrap()),
    )
    .unwrap();
    let echoed: serde_json::Value = ours.post("/echo", &json!({"text": "hi"})).await.unwrap();
    assert_eq!(body(&echoed), json!({"text": "hi"}));
    emu.shutdown().await;
    drop(scratch);
}
