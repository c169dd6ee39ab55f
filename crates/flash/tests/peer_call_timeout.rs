//! A queue call made without a deadline, against a fake Runpod queue API on 127.0.0.1 whose job
//! never finishes: the caller gives up after `PeerConfig::call_timeout`, cancels the job and
//! fails with its timeout error. A process of its own, since the peer settings are global.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use indexmap::IndexMap;
use runpod_flash::call::PeerConfig;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::ServiceRegistry;
use runpod_flash::testing::{Mocks, StaticEndpoints};
use runpod_flash::{ApiKey, FlashError, Resource, remote};
use serde_json::{Value, json};

const SLOW: Resource = Resource::queue("slow-peer");

#[remote(SLOW)]
async fn ponder(question: String) -> Result<String, FlashError> {
    Ok(question)
}

#[derive(Default)]
struct Seen {
    runsyncs: Vec<Value>,
    polls: usize,
    cancels: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

async fn runsync(State(seen): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    seen.lock().unwrap().runsyncs.push(body);
    Json(json!({"id": "job-slow", "status": "IN_QUEUE"}))
}

async fn status(State(seen): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    seen.lock().unwrap().polls += 1;
    Json(json!({"id": id, "status": "IN_PROGRESS"}))
}

async fn cancel(State(seen): State<Shared>, Path(id): Path<String>) -> Json<Value> {
    seen.lock().unwrap().cancels.push(id.clone());
    Json(json!({"id": id, "status": "CANCELLED"}))
}

#[tokio::test]
async fn a_call_without_a_deadline_gives_up_after_the_default_and_cancels_the_job() {
    runpod_flash::call::configure(PeerConfig {
        api_key: ApiKey::new("k"),
        poll_initial: Duration::from_millis(5),
        poll_max: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        call_timeout: Duration::from_millis(500),
        ..PeerConfig::default()
    });
    let seen = Shared::default();
    let app = axum::Router::new()
        .route("/v2/ep-slow/runsync", post(runsync))
        .route("/v2/ep-slow/status/{id}", get(status))
        .route("/v2/ep-slow/cancel/{id}", post(cancel))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let manifest: Manifest = serde_json::from_value(json!({
        "resources": {
            "caller": {"functions": [], "makes_remote_calls": true},
            "slow-peer": {"functions": [{"name": "ponder"}]}
        },
        "function_registry": {"ponder": "slow-peer"}
    }))
    .unwrap();
    let registry = ServiceRegistry::builder()
        .manifest(manifest)
        .identity("caller")
        .environment_id("env")
        .endpoint_source(Arc::new(StaticEndpoints::new(IndexMap::from([(
            "slow-peer".to_owned(),
            format!("{base}/v2/ep-slow"),
        )]))))
        .build()
        .unwrap();
    let mocks = Mocks::new().registry(registry);

    // Without the default deadline the call polls forever; the outer timeout only keeps a
    // broken runtime from hanging the test.
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        mocks.run(ponder("still there?".into())),
    )
    .await
    .expect("a call without a deadline must end by itself");
    let error = match result {
        Err(FlashError::RemoteExecution(error)) => error,
        other => panic!("expected the call's timeout error, got {other:?}"),
    };
    assert_eq!(error.function, "ponder");
    assert!(
        error.endpoint.ends_with("/v2/ep-slow"),
        "{}",
        error.endpoint
    );
    assert_eq!(error.job_id.as_deref(), Some("job-slow"));
    assert!(
        error.message.contains("default call timeout") && error.message.contains("cancelled"),
        "{}",
        error.message
    );
    assert!(seen.lock().unwrap().polls >= 1, "the job was polled");
    // The default deadline is the caller's patience, not a budget imposed on the worker.
    let input = seen.lock().unwrap().runsyncs[0]["input"].clone();
    assert!(input.get("__flash_deadline_ms").is_none(), "{input}");
    for _ in 0..500 {
        if !seen.lock().unwrap().cancels.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen.lock().unwrap().cancels, ["job-slow"]);
}
