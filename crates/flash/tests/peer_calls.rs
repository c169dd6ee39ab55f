//! `#[remote]` calls to peers over real HTTP on 127.0.0.1, against a small server in the test
//! that behaves like Runpod's queue API and like a load-balanced worker. The server computes
//! results with the functions' own invokers, as a deployed worker would.
//!
//! Each test routes through its own registry (via `Mocks::registry`), whose endpoint URLs point
//! at its own server, so tests running in parallel do not share state.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use indexmap::IndexMap;
use runpod_flash::call::{InvokeError, PeerConfig, WireError};
use runpod_flash::error::{RemoteExecutionError, SerializationError};
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::ServiceRegistry;
use runpod_flash::testing::{Mocks, StaticEndpoints};
use runpod_flash::{ApiKey, Error, FlashError, Resource, remote};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

const KEY: &str = "peer-test-key";
const GPU: Resource = Resource::queue("peer-gpu");
const SOLO: Resource = Resource::queue("peer-solo");
const API: Resource = Resource::load_balanced("peer-api");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
enum MathError {
    #[error("division of {0} by zero")]
    DivideByZero(i64),
}

#[remote(GPU)]
async fn divide(a: i64, b: i64) -> Result<i64, Error<MathError>> {
    if b == 0 {
        return Err(Error::App(MathError::DivideByZero(a)));
    }
    Ok(a / b)
}

#[remote(GPU)]
async fn shout(text: String) -> Result<String, FlashError> {
    Ok(text.to_uppercase())
}

#[remote(SOLO)]
async fn answer() -> Result<u32, FlashError> {
    Ok(42)
}

#[remote(API, method = "GET", path = "/items/{id}")]
async fn item(id: u64, detail: String) -> Result<Value, Error<MathError>> {
    Ok(json!({"id": id, "detail": detail}))
}

#[remote(API, method = "POST", path = "/items/{id}/scale")]
async fn scale(id: u64, factor: i64, tags: Vec<String>) -> Result<Value, Error<MathError>> {
    if factor == 0 {
        return Err(Error::App(MathError::DivideByZero(id as i64)));
    }
    Ok(json!({"id": id, "scaled": id as i64 * factor, "tags": tags}))
}

/// How the fake queue endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    /// Run the job during runsync.
    Sync,
    /// Answer runsync with IN_PROGRESS; complete on the third status poll.
    Polled,
    /// Never finish.
    Hang,
    Http404,
    Http500,
    Malformed,
    /// A Python Flash worker's error-as-output.
    PythonError,
    /// Status polls fail with 503 this many times in a row, then the job completes.
    FlakyStatus(usize),
    /// Status polls answer 404 this many times in a row (the job has not reached the Flash
    /// dispatcher yet), then the job completes.
    LateStatus(usize),
}

#[derive(Default)]
struct Seen {
    requests: Vec<(String, Value, Option<String>, Option<String>)>,
    cancels: Vec<String>,
    polls: usize,
}

#[derive(Clone)]
struct Endpoint {
    scenario: Arc<Mutex<Scenario>>,
    seen: Arc<Mutex<Seen>>,
    jobs: Arc<Mutex<HashMap<String, Value>>>,
    next_job: Arc<AtomicUsize>,
}

impl Endpoint {
    fn seen<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&self.seen.lock().unwrap())
    }
}

async fn run_function(input: &Map<String, Value>) -> Value {
    let mut args = input.clone();
    let name = match args.remove("__flash_fn") {
        Some(Value::String(name)) => name,
        _ => "answer".to_owned(),
    };
    args.retain(|key, _| !key.starts_with("__"));
    let function = runpod_flash::call::function(&name).expect("known function");
    match function.invoke(args).await {
        Ok(output) => {
            json!({"status": "COMPLETED", "output": output, "delayTime": 3, "executionTime": 5})
        }
        Err(InvokeError::Failed(wire)) => {
            json!({"status": "FAILED", "error": serde_json::to_string(&wire).unwrap()})
        }
        Err(InvokeError::BadArguments(error)) => {
            json!({"status": "FAILED", "error": serde_json::to_string(&WireError::new("ArgumentError", error.to_string())).unwrap()})
        }
    }
}

async fn runsync(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    endpoint.seen.lock().unwrap().requests.push((
        "runsync".into(),
        body.clone(),
        header("authorization"),
        header("traceparent"),
    ));
    let id = format!("job-{}", endpoint.next_job.fetch_add(1, Ordering::SeqCst));
    let input = body["input"].as_object().cloned().unwrap_or_default();
    let scenario = *endpoint.scenario.lock().unwrap();
    match scenario {
        Scenario::Http404 => return (StatusCode::NOT_FOUND, "no such endpoint").into_response(),
        Scenario::Http500 => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "worker exploded").into_response();
        }
        Scenario::Malformed => return (StatusCode::OK, "{not json").into_response(),
        Scenario::PythonError => {
            return Json(json!({"id": id, "status": "COMPLETED",
                "output": {"error": "ZeroDivisionError: division by zero", "traceback": "Traceback (most recent call last): ..."}}))
            .into_response();
        }
        Scenario::Sync => {
            let mut status = run_function(&input).await;
            status["id"] = json!(id);
            return Json(status).into_response();
        }
        Scenario::Polled | Scenario::Hang | Scenario::FlakyStatus(_) | Scenario::LateStatus(_) => {}
    }
    let mut done = run_function(&input).await;
    done["id"] = json!(id);
    endpoint.jobs.lock().unwrap().insert(id.clone(), done);
    Json(json!({"id": id, "status": "IN_PROGRESS"})).into_response()
}

async fn status(
    State(endpoint): State<Endpoint>,
    Path((_ep, id)): Path<(String, String)>,
) -> Response {
    let polls = {
        let mut seen = endpoint.seen.lock().unwrap();
        seen.polls += 1;
        seen.polls
    };
    let scenario = *endpoint.scenario.lock().unwrap();
    let Some(done) = endpoint.jobs.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "unknown job").into_response();
    };
    match scenario {
        Scenario::Hang => Json(json!({"id": id, "status": "IN_PROGRESS"})).into_response(),
        Scenario::FlakyStatus(failures) if polls <= failures => {
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
        Scenario::LateStatus(misses) if polls <= misses => {
            (StatusCode::NOT_FOUND, "job not found").into_response()
        }
        Scenario::Polled if polls < 3 => {
            Json(json!({"id": id, "status": "IN_QUEUE"})).into_response()
        }
        _ => Json(done).into_response(),
    }
}

async fn cancel(
    State(endpoint): State<Endpoint>,
    Path((_ep, id)): Path<(String, String)>,
) -> Json<Value> {
    endpoint.seen.lock().unwrap().cancels.push(id.clone());
    Json(json!({"id": id, "status": "CANCELLED"}))
}

/// The load-balanced worker: its routes call the functions' invokers, as our worker runtime
/// will; errors come back as the JSON error body.
async fn lb_item(
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    assert_eq!(
        headers.get("authorization").unwrap(),
        &format!("Bearer {KEY}")
    );
    let mut args = Map::new();
    args.insert("id".into(), json!(id.parse::<u64>().unwrap()));
    args.insert("detail".into(), json!(query["detail"]));
    lb_answer("item", args).await
}

async fn lb_scale(Path(id): Path<String>, Json(body): Json<Map<String, Value>>) -> Response {
    let mut args = body;
    args.insert("id".into(), json!(id.parse::<u64>().unwrap()));
    lb_answer("scale", args).await
}

async fn lb_answer(name: &str, args: Map<String, Value>) -> Response {
    let function = runpod_flash::call::function(name).unwrap();
    match function.invoke(args).await {
        Ok(value) => Json(value).into_response(),
        Err(InvokeError::Failed(wire)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(wire)).into_response()
        }
        Err(InvokeError::BadArguments(error)) => {
            (StatusCode::BAD_REQUEST, error.to_string()).into_response()
        }
    }
}

fn manifest() -> Manifest {
    serde_json::from_value(json!({
        "resources": {
            "caller": {"functions": [], "makes_remote_calls": true},
            "peer-gpu": {"functions": [{"name": "divide"}, {"name": "shout"}]},
            "peer-solo": {"functions": [{"name": "answer"}]},
            "peer-api": {"is_load_balanced": true, "functions": [
                {"name": "item", "http_method": "GET", "http_path": "/items/{id}"},
                {"name": "scale", "http_method": "POST", "http_path": "/items/{id}/scale"}]}
        },
        "function_registry": {"divide": "peer-gpu", "shout": "peer-gpu", "answer": "peer-solo",
                              "item": "peer-api", "scale": "peer-api"}
    }))
    .unwrap()
}

fn configure_peers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        runpod_flash::call::configure(PeerConfig {
            api_key: ApiKey::new(KEY),
            poll_initial: Duration::from_millis(5),
            poll_max: Duration::from_millis(20),
            request_timeout: Duration::from_secs(5),
            ..PeerConfig::default()
        });
    });
}

/// A fake endpoint on 127.0.0.1 and mocks that route calls made as `identity` to it.
async fn start(scenario: Scenario, identity: &str) -> (Endpoint, Mocks) {
    let (endpoint, base) = serve(scenario).await;
    let urls = IndexMap::from([
        ("peer-gpu".to_owned(), format!("{base}/v2/ep-gpu")),
        ("peer-solo".to_owned(), format!("{base}/v2/ep-solo")),
        ("peer-api".to_owned(), base),
    ]);
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity(identity)
        .environment_id("env")
        .endpoint_source(Arc::new(StaticEndpoints::new(urls)))
        .build()
        .unwrap();
    (endpoint, Mocks::new().registry(registry))
}

/// The fake platform on 127.0.0.1; returns it and its base URL.
async fn serve(scenario: Scenario) -> (Endpoint, String) {
    configure_peers();
    let endpoint = Endpoint {
        scenario: Arc::new(Mutex::new(scenario)),
        seen: Arc::default(),
        jobs: Arc::default(),
        next_job: Arc::new(AtomicUsize::new(1)),
    };
    let app = axum::Router::new()
        .route("/v2/{ep}/runsync", post(runsync))
        .route("/v2/{ep}/status/{id}", get(status))
        .route("/v2/{ep}/cancel/{id}", post(cancel))
        .route("/items/{id}", get(lb_item))
        .route("/items/{id}/scale", post(lb_scale))
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (endpoint, base)
}

/// [`start`] with the peers called by name through the Flash dispatcher at the fake server
/// (`/v2/flash/...`, the `{ep}` routes with `flash` for the id).
async fn start_by_name(scenario: Scenario) -> (Endpoint, Mocks) {
    let (endpoint, base) = serve(scenario).await;
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("caller")
        .dispatch_by_name("shop", "production")
        .dispatch_urls(format!("{base}/v2"), Some(base))
        .build()
        .unwrap();
    (endpoint, Mocks::new().registry(registry))
}

fn remote_error<E: std::fmt::Debug>(error: Error<E>) -> RemoteExecutionError {
    match error {
        Error::Flash(FlashError::RemoteExecution(error)) => error,
        other => panic!("expected a remote execution error, got {other:?}"),
    }
}

#[tokio::test]
async fn queue_call_sends_inputs_by_name_with_bearer_auth_and_trace() {
    let (endpoint, mocks) = start(Scenario::Sync, "caller").await;
    let result = mocks.run(divide(84, 2)).await.unwrap();
    assert_eq!(result, 42);
    let (what, body, auth, traceparent) = endpoint.seen(|s| s.requests[0].clone());
    assert_eq!(what, "runsync");
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    let input = body["input"].as_object().unwrap();
    assert_eq!(input["a"], 84);
    assert_eq!(input["b"], 2);
    assert_eq!(
        input["__flash_fn"], "divide",
        "peer-gpu serves two functions"
    );
    let traceparent = traceparent.expect("traceparent header");
    assert_eq!(input["__flash_traceparent"], traceparent.as_str());
    assert!(runpod_flash::call::TraceParent::parse(&traceparent).is_some());
}

#[tokio::test]
async fn single_function_resource_gets_the_plain_form_and_empty_marker() {
    let (endpoint, mocks) = start(Scenario::Sync, "caller").await;
    assert_eq!(mocks.run(answer()).await.unwrap(), 42);
    let body = endpoint.seen(|s| s.requests[0].1.clone());
    let input = body["input"].as_object().unwrap();
    assert_eq!(input["__empty"], true);
    assert!(!input.contains_key("__flash_fn"));
}

#[tokio::test]
async fn in_progress_jobs_are_polled_to_completion() {
    let (endpoint, mocks) = start(Scenario::Polled, "caller").await;
    assert_eq!(mocks.run(shout("hello".into())).await.unwrap(), "HELLO");
    assert_eq!(endpoint.seen(|s| s.polls), 3);
    assert!(endpoint.seen(|s| s.cancels.is_empty()));
}

#[tokio::test]
async fn transient_status_errors_are_tolerated_up_to_five_in_a_row() {
    let (_endpoint, mocks) = start(Scenario::FlakyStatus(5), "caller").await;
    assert_eq!(mocks.run(shout("ok".into())).await.unwrap(), "OK");
    let (_endpoint, mocks) = start(Scenario::FlakyStatus(6), "caller").await;
    let error = mocks.run(shout("ok".into())).await.unwrap_err();
    let FlashError::RemoteExecution(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.job_id.as_deref(), Some("job-1"));
    assert!(error.message.contains("HTTP 503"), "{error}");
}

#[tokio::test]
async fn by_name_a_status_404_is_asked_again_as_runpod_2_asks() {
    // runpod 2.0 pauses 0.5 s, then 1 s: two misses cost 1.5 s.
    let started = std::time::Instant::now();
    let (endpoint, mocks) = start_by_name(Scenario::LateStatus(2)).await;
    assert_eq!(mocks.run(shout("late".into())).await.unwrap(), "LATE");
    assert_eq!(endpoint.seen(|s| s.polls), 3);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // By id, a 404 is final at once.
    let (endpoint, mocks) = start(Scenario::LateStatus(1), "caller").await;
    let error = mocks.run(shout("late".into())).await.unwrap_err();
    let FlashError::RemoteExecution(error) = error else {
        panic!("{error:?}")
    };
    assert!(error.message.contains("HTTP 404"), "{error}");
    assert_eq!(endpoint.seen(|s| s.polls), 1);
}

#[tokio::test]
async fn failed_job_returns_the_typed_application_error() {
    let (_endpoint, mocks) = start(Scenario::Sync, "caller").await;
    let error = mocks.run(divide(7, 0)).await.unwrap_err();
    assert!(
        matches!(error, Error::App(MathError::DivideByZero(7))),
        "{error:?}"
    );
    // Also after polling.
    let (_endpoint, mocks) = start(Scenario::Polled, "caller").await;
    let error = mocks.run(divide(9, 0)).await.unwrap_err();
    assert!(
        matches!(error, Error::App(MathError::DivideByZero(9))),
        "{error:?}"
    );
}

#[tokio::test]
async fn http_errors_name_function_endpoint_and_status() {
    let (_endpoint, mocks) = start(Scenario::Http404, "caller").await;
    let error = remote_error(mocks.run(divide(1, 1)).await.unwrap_err());
    assert_eq!(error.function, "divide");
    assert!(error.endpoint.ends_with("/v2/ep-gpu"), "{}", error.endpoint);
    assert!(
        error
            .message
            .starts_with("HTTP 404 (endpoint or job not found"),
        "{}",
        error.message
    );

    let (_endpoint, mocks) = start(Scenario::Http500, "caller").await;
    let error = remote_error(mocks.run(divide(1, 1)).await.unwrap_err());
    assert_eq!(error.message, "HTTP 500: worker exploded");
}

#[tokio::test]
async fn malformed_responses_are_remote_errors() {
    let (_endpoint, mocks) = start(Scenario::Malformed, "caller").await;
    let error = remote_error(mocks.run(divide(1, 1)).await.unwrap_err());
    assert!(
        error.message.starts_with("malformed response"),
        "{}",
        error.message
    );
    assert!(error.message.contains("{not json"), "{}", error.message);
}

#[tokio::test]
async fn python_error_outputs_become_remote_errors() {
    let (_endpoint, mocks) = start(Scenario::PythonError, "caller").await;
    let error = remote_error(mocks.run(divide(1, 1)).await.unwrap_err());
    assert_eq!(error.error_type.as_deref(), Some("PythonError"));
    assert_eq!(error.message, "ZeroDivisionError: division by zero");
    assert_eq!(error.job_id.as_deref(), Some("job-1"));
}

#[tokio::test]
async fn oversized_payloads_fail_before_anything_is_sent() {
    let (endpoint, mocks) = start(Scenario::Sync, "caller").await;
    let big = "x".repeat(runpod_flash::config::MAX_PAYLOAD_BYTES + 1);
    let error = mocks.run(shout(big)).await.unwrap_err();
    assert!(
        matches!(&error, FlashError::Serialization(SerializationError::TooLarge { function, .. }) if function == "shout"),
        "{error:?}"
    );
    assert_eq!(endpoint.seen(|s| s.requests.len()), 0);
}

#[tokio::test]
async fn dropping_the_call_cancels_the_job() {
    let (endpoint, mocks) = start(Scenario::Hang, "caller").await;
    let call = mocks.run(shout("never".into()));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call)
            .await
            .is_err()
    );
    for _ in 0..200 {
        if !endpoint.seen(|s| s.cancels.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(endpoint.seen(|s| s.cancels.clone()), ["job-1"]);
}

#[tokio::test]
async fn a_deadline_stops_polling_cancels_and_says_so() {
    let (endpoint, mocks) = start(Scenario::Hang, "caller").await;
    let call = runpod_flash::call::with_deadline(Duration::from_millis(150), shout("never".into()));
    let error = mocks.run(call).await.unwrap_err();
    let FlashError::RemoteExecution(error) = error else {
        panic!("{error:?}")
    };
    assert!(
        error.message.contains("deadline passed"),
        "{}",
        error.message
    );
    let input = endpoint.seen(|s| s.requests[0].1["input"].clone());
    let budget = input["__flash_deadline_ms"].as_u64().unwrap();
    assert!(budget <= 150 && budget > 0, "{budget}");
    for _ in 0..200 {
        if !endpoint.seen(|s| s.cancels.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(endpoint.seen(|s| s.cancels.clone()), ["job-1"]);
}

#[tokio::test]
async fn load_balanced_get_puts_path_params_in_the_path_and_the_rest_in_the_query() {
    let (_endpoint, mocks) = start(Scenario::Sync, "caller").await;
    let value = mocks.run(item(7, "full & more".into())).await.unwrap();
    assert_eq!(value, json!({"id": 7, "detail": "full & more"}));
}

#[tokio::test]
async fn load_balanced_post_sends_a_json_body_and_returns_typed_errors() {
    let (_endpoint, mocks) = start(Scenario::Sync, "caller").await;
    let value = mocks.run(scale(3, 5, vec!["a".into()])).await.unwrap();
    assert_eq!(value, json!({"id": 3, "scaled": 15, "tags": ["a"]}));
    let error = mocks.run(scale(3, 0, vec![])).await.unwrap_err();
    assert!(
        matches!(error, Error::App(MathError::DivideByZero(3))),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_local_call_never_touches_the_network() {
    let (endpoint, mocks) = start(Scenario::Http500, "peer-gpu").await;
    assert_eq!(mocks.run(divide(10, 5)).await.unwrap(), 2);
    assert_eq!(mocks.run(shout("x".into())).await.unwrap(), "X");
    assert_eq!(endpoint.seen(|s| s.requests.len()), 0);
}
