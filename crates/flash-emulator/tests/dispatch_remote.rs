//! `#[remote]` calls dispatched by name (`ServiceRegistryBuilder::dispatch_by_name`), over HTTP on
//! 127.0.0.1: a plain caller whose registry knows no endpoint URL reaches a queue peer and a
//! load-balanced peer deployed to the emulator (its Rust test worker) through the emulator's
//! Flash dispatcher, by app, environment and resource name.

mod common;

use std::time::Duration;

use common::*;
use runpod_flash::call::PeerConfig;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::ServiceRegistry;
use runpod_flash::testing::Mocks;
use runpod_flash::{ApiKey, FlashError, Resource, remote};
use serde_json::{Value, json};

const ECHO: Resource = Resource::queue("echo");
const GATEWAY: Resource = Resource::load_balanced("gateway");

/// What the test worker does for `{"op": "echo", "value": v}`: answers `v`.
#[remote(ECHO)]
async fn echo_value(op: String, value: Value) -> Result<Value, FlashError> {
    let _ = op;
    Ok(value)
}

/// What the test worker's `POST /echo` does: answers the raw body it got.
#[remote(GATEWAY, method = "POST", path = "/echo")]
async fn echo_body(text: String) -> Result<Value, FlashError> {
    Ok(json!({"body": json!({"text": text}).to_string()}))
}

fn manifest() -> Manifest {
    serde_json::from_value(json!({
        "resources": {
            "echo": {"functions": [{"name": "echo_value"}]},
            "gateway": {"is_load_balanced": true, "functions": [
                {"name": "echo_body", "http_method": "POST", "http_path": "/echo"}]}
        },
        "function_registry": {"echo_value": "echo", "echo_body": "gateway"}
    }))
    .expect("test manifest")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_calls_reach_peers_by_name_through_the_dispatcher() {
    runpod_flash::call::configure(PeerConfig {
        api_key: ApiKey::new(KEY),
        poll_initial: Duration::from_millis(20),
        poll_max: Duration::from_millis(100),
        ..PeerConfig::default()
    });
    let emu = start().await;
    let (_, env_id, _) = deploy(&emu, "shop").await;
    for (name, kind) in [("echo", "QB"), ("gateway", "LB")] {
        save_endpoint(
            &emu,
            json!({"name": name, "type": kind, "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
                   "flashEnvironmentId": env_id, "template": template(name, &[])}),
        )
        .await;
    }
    // A plain caller (no identity), no environment id, no State Manager: names only. The
    // load-balanced dispatcher is derived from the base URL, as runpod 2.0 derives it: the
    // emulator's `flash.localhost` host.
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .dispatch_by_name("shop", "production")
        .dispatch_urls(emu.endpoint_base_url(), None)
        .build()
        .unwrap();
    let mocks = Mocks::new().registry(registry);
    let out = mocks
        .run(echo_value("echo".into(), json!({"n": [1, 2]})))
        .await
        .unwrap();
    assert_eq!(out, json!({"n": [1, 2]}));
    let out = mocks.run(echo_body("hi".into())).await.unwrap();
    assert_eq!(out["body"], json!({"text": "hi"}).to_string(), "{out}");

    // Another environment's name reaches nothing: the dispatcher's 404, as a call error (here
    // through the path-prefix form of the load-balanced dispatcher).
    let elsewhere = ServiceRegistry::builder()
        .manifest(manifest())
        .dispatch_by_name("shop", "staging")
        .dispatch_urls(emu.endpoint_base_url(), Some(emu.flash_lb_url()))
        .build()
        .unwrap();
    let error = Mocks::new()
        .registry(elsewhere)
        .run(echo_value("echo".into(), json!(1)))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("environment staging not found"),
        "{error}"
    );
    emu.shutdown().await;
}
