//! The ServiceRegistry resolving endpoint URLs through the real State Manager client, over HTTP
//! on 127.0.0.1, against the test GraphQL server in `support/`.
//!
//! One endpoint-map fetch is two GraphQL requests (`getFlashEnvironment`, then `getFlashBuild`
//! for its active build), so "one fetch" below means exactly those two.

use std::sync::Arc;
use std::time::Duration;

use runpod_flash::ApiKey;
use runpod_flash::FlashError;
use runpod_flash::error::RoutingErrorKind;
use runpod_flash::registry::{Clock, EndpointSource, Route, ServiceRegistry, TokioClock};
use runpod_flash::state_manager::{StateManagerClient, StateManagerConfig};
use serde_json::{Value, json};

mod support;
use support::graphql_server::{Fail, KEY, Server};

fn manifest(gpu_url: &str) -> Value {
    json!({
        "version": "1.0",
        "project_name": "demo",
        "resources": {
            "gpu_worker": {"functions": [{"name": "infer"}], "makes_remote_calls": false},
            "cpu_worker": {"functions": [{"name": "prep"}], "makes_remote_calls": true},
        },
        "function_registry": {"infer": "gpu_worker", "prep": "cpu_worker"},
        "resources_endpoints": {
            "gpu_worker": gpu_url,
            "cpu_worker": "https://api.runpod.ai/v2/cpu1",
        },
    })
}

/// A server holding environment `env1` -> build `build1`, and a registry for `cpu_worker`.
async fn setup() -> (Server, Arc<ServiceRegistry>) {
    let server = Server::default();
    let addr = server.start().await;
    server.add_environment("env1", Some("build1"));
    server.add_build("build1", manifest("https://api.runpod.ai/v2/gpu1"));
    let client = StateManagerClient::new(StateManagerConfig {
        base_url: format!("http://{addr}"),
        api_key: ApiKey::new(KEY),
        ..StateManagerConfig::default()
    })
    .unwrap();
    // The worker's own copy is the build output: no endpoint URLs yet.
    let mut local = manifest("https://unused.invalid");
    local.as_object_mut().unwrap().remove("resources_endpoints");
    let local: runpod_flash::manifest::Manifest = serde_json::from_value(local).unwrap();
    let registry = ServiceRegistry::builder()
        .manifest(local)
        .identity("cpu_worker")
        .environment_id("env1")
        .endpoint_source(Arc::new(client) as Arc<dyn EndpointSource>)
        .clock(Arc::new(TokioClock::new()) as Arc<dyn Clock>)
        .refresh_backoff(Duration::from_secs(60), Duration::from_secs(600))
        .build()
        .unwrap();
    (server, Arc::new(registry))
}

fn url(route: Route) -> String {
    match route {
        Route::Remote(remote) => remote.endpoint_url.to_string(),
        Route::Local => panic!("expected a remote route"),
    }
}

/// Lets spawned background refreshes (and the server) run to completion.
async fn settle() {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn remote_route_follows_environment_and_build_with_bearer_auth() {
    let (server, registry) = setup().await;
    assert_eq!(registry.route("prep").await.unwrap(), Route::Local);
    assert_eq!(
        server.requests(),
        0,
        "a local route never asks the State Manager"
    );
    assert_eq!(
        url(registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu1"
    );
    assert_eq!(
        server.operations(),
        ["getFlashEnvironment", "getFlashBuild"]
    );
    let seen = server.with(|s| s.seen.clone());
    for request in &seen {
        assert_eq!(request.path, "/graphql");
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
    }
    assert_eq!(seen[0].variables, json!({"flashEnvironmentId": "env1"}));
    assert_eq!(seen[1].variables, json!({"input": "build1"}));
}

#[tokio::test(start_paused = true)]
async fn ttl_expiry_refreshes_behind_a_stale_answer() {
    let (server, registry) = setup().await;
    registry.route("infer").await.unwrap();
    server.add_build("build1", manifest("https://api.runpod.ai/v2/gpu2"));
    tokio::time::advance(Duration::from_secs(299)).await;
    assert_eq!(
        url(registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu1"
    );
    assert_eq!(server.requests(), 2, "still fresh");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        url(registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu1",
        "a stale entry is served at once"
    );
    settle().await;
    assert_eq!(server.requests(), 4, "one background fetch");
    assert_eq!(
        url(registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_cold_lookups_make_one_fetch() {
    let (server, registry) = setup().await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move { registry.route("infer").await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            url(task.await.unwrap().unwrap()),
            "https://api.runpod.ai/v2/gpu1"
        );
    }
    assert_eq!(
        server.operations(),
        ["getFlashEnvironment", "getFlashBuild"]
    );
}

#[tokio::test(start_paused = true)]
async fn outage_serves_stale_backs_off_then_recovers() {
    let (server, registry) = setup().await;
    registry.route("infer").await.unwrap();
    server.with(|s| s.fail_always = Some(Fail::Status(503)));
    server.add_build("build1", manifest("https://api.runpod.ai/v2/gpu3"));
    tokio::time::advance(Duration::from_secs(301)).await;

    // Stale: every caller gets the old URL at once while one background refresh runs.
    for _ in 0..20 {
        assert_eq!(
            url(registry.route("infer").await.unwrap()),
            "https://api.runpod.ai/v2/gpu1"
        );
    }
    // The client retries its query 3 times (1 s, 2 s, 4 s, ±20 %), then gives up.
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        server.requests(),
        2 + 4,
        "one refresh: a first try and 3 retries"
    );

    // The registry now backs off (60 s here): callers still get the stale URL, no requests.
    for _ in 0..20 {
        assert_eq!(
            url(registry.route("infer").await.unwrap()),
            "https://api.runpod.ai/v2/gpu1"
        );
        settle().await;
    }
    assert_eq!(server.requests(), 6);

    server.with(|s| s.fail_always = None);
    tokio::time::advance(Duration::from_secs(60)).await;
    registry.route("infer").await.unwrap();
    settle().await;
    assert_eq!(server.requests(), 8, "one fetch after the backoff");
    assert_eq!(
        url(registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu3"
    );
}

#[tokio::test(start_paused = true)]
async fn cold_cache_during_outage_is_a_typed_error_without_the_key() {
    let (server, registry) = setup().await;
    server.with(|s| s.fail_always = Some(Fail::EchoAuth));
    let error = registry.route("infer").await.unwrap_err();
    let FlashError::Routing(unavailable) = &error else {
        panic!("wrong error: {error}");
    };
    assert!(
        matches!(
            unavailable.kind(),
            RoutingErrorKind::ManifestServiceUnavailable { .. }
        ),
        "{error}"
    );
    assert_eq!(unavailable.function(), "infer");
    assert_eq!(unavailable.owner(), Some("gpu_worker"));
    assert_eq!(unavailable.environment_id(), Some("env1"));
    assert_eq!(
        unavailable.state_manager_error().and_then(|e| e.status()),
        Some(401)
    );
    let text = format!("{error} {error:?} {registry:?}");
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(!text.contains(KEY), "the API key leaked: {text}");
    // Backing off: a second call fails at once without another request.
    let before = server.requests();
    assert!(registry.route("infer").await.is_err());
    assert_eq!(server.requests(), before);
}
