//! The State Manager client against a small in-process GraphQL-ish server on 127.0.0.1.
//!
//! The server reads `operationName` and `variables` from the JSON body and answers with canned
//! JSON from an in-memory store of environments and builds. It counts requests, records headers,
//! and fails on demand. Each server is a task of the test's runtime, so it stops with the test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runpod_flash::ApiKey;
use runpod_flash::config;
use runpod_flash::error::StateManagerError;
use runpod_flash::state_manager::{
    GET_FLASH_BUILD, GET_FLASH_ENVIRONMENT, StateManagerClient, StateManagerConfig,
    UPDATE_FLASH_BUILD_MANIFEST,
};
use serde_json::{Map, Value, json};

mod support;
use support::graphql_server::{Fail, KEY, Server};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

fn client_for(addr: SocketAddr) -> StateManagerClient {
    StateManagerClient::new(StateManagerConfig {
        // The trailing slash must be tolerated.
        base_url: format!("http://{addr}/"),
        api_key: ApiKey::new(KEY),
        ..StateManagerConfig::default()
    })
    .unwrap()
}

async fn started() -> (Server, StateManagerClient) {
    let server = Server::default();
    let addr = server.start().await;
    (server, client_for(addr))
}

fn sample_manifest() -> Value {
    json!({
        "version": "1.0",
        "project_name": "demo",
        "resources": {
            "gpu_worker": {
                "resource_type": "LiveServerless",
                "functions": [{"name": "infer", "module": "app.gpu", "is_async": true}],
                "endpoint_id": "ep1",
                "custom_field": {"kept": true},
            },
            "cpu_worker": {
                "resource_type": "CpuLiveServerless",
                "functions": [{"name": "prep"}],
            },
        },
        "function_registry": {"infer": "gpu_worker", "prep": "cpu_worker"},
        "resources_endpoints": {"gpu_worker": "https://ep1.api.runpod.ai"},
        "unknown_top_level": [1, 2, 3],
    })
}

/// An environment `env1` whose active build `build1` holds [`sample_manifest`].
async fn deployed() -> (Server, StateManagerClient) {
    let (server, client) = started().await;
    server.add_environment("env1", Some("build1"));
    server.add_build("build1", sample_manifest());
    (server, client)
}

fn data(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

// ---- happy paths ----

#[tokio::test]
async fn flash_environment_returns_every_field_and_sends_the_headers() {
    let (server, client) = deployed().await;
    let env = client.flash_environment("env1").await.unwrap();
    assert_eq!(env.id, "env1");
    assert_eq!(env.name.as_deref(), Some("production"));
    assert_eq!(env.state.as_deref(), Some("HEALTHY"));
    assert_eq!(env.active_build_id.as_deref(), Some("build1"));
    assert_eq!(env.created_at.as_deref(), Some("2025-01-02T03:04:05Z"));
    assert_eq!(env.endpoints.len(), 1);
    assert_eq!(env.endpoints[0].id, "ep1");
    assert_eq!(env.endpoints[0].name.as_deref(), Some("gpu_worker"));
    assert_eq!(env.network_volumes[0].id, "nv1");
    assert_eq!(env.network_volumes[0].name.as_deref(), Some("models"));

    let seen = server.with(|s| s.seen.clone());
    assert_eq!(seen.len(), 1);
    let request = &seen[0];
    assert_eq!(request.path, "/graphql");
    assert_eq!(request.operation, GET_FLASH_ENVIRONMENT);
    assert_eq!(request.variables, json!({"flashEnvironmentId": "env1"}));
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.user_agent.as_deref(), Some(config::USER_AGENT));
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn flash_environment_tolerates_null_lists() {
    let (server, client) = started().await;
    server.with(|s| {
        s.environments
            .insert("bare".into(), json!({"id": "bare", "endpoints": null}))
    });
    let env = client.flash_environment("bare").await.unwrap();
    assert_eq!(env.id, "bare");
    assert!(env.endpoints.is_empty() && env.network_volumes.is_empty());
    assert_eq!(env.active_build_id, None);
}

#[tokio::test]
async fn unknown_environment_is_missing_and_named() {
    let (_server, client) = started().await;
    let error = client.flash_environment("nope").await.unwrap_err();
    assert!(
        matches!(error, StateManagerError::Missing { operation: GET_FLASH_ENVIRONMENT, ref what } if what.contains("`nope`")),
        "{error:?}"
    );
}

#[tokio::test]
async fn flash_build_returns_the_raw_manifest() {
    let (server, client) = deployed().await;
    server.add_build("empty", Value::Null);
    let build = client.flash_build("build1").await.unwrap();
    assert_eq!(build.id, "build1");
    assert_eq!(build.manifest, Some(sample_manifest()));
    assert_eq!(
        server.with(|s| s.seen[0].variables.clone()),
        json!({"input": "build1"})
    );

    let empty = client.flash_build("empty").await.unwrap();
    assert_eq!(empty.manifest, None);

    let error = client.flash_build("ghost").await.unwrap_err();
    assert!(
        matches!(error, StateManagerError::Missing { operation: GET_FLASH_BUILD, ref what } if what.contains("`ghost`")),
        "{error:?}"
    );
}

#[tokio::test]
async fn update_flash_build_manifest_sends_the_whole_manifest() {
    let (server, client) = deployed().await;
    let manifest = json!({"version": "1.0", "resources": {}, "x": 1});
    let build = client
        .update_flash_build_manifest("build1", &manifest)
        .await
        .unwrap();
    assert_eq!(build.id, "build1");
    assert_eq!(build.manifest, Some(manifest.clone()));
    assert_eq!(server.manifest("build1"), manifest);
    let seen = server.with(|s| s.seen.clone());
    assert_eq!(seen[0].operation, UPDATE_FLASH_BUILD_MANIFEST);
    assert_eq!(
        seen[0].variables,
        json!({"input": {"flashBuildId": "build1", "manifest": manifest}})
    );
}

#[tokio::test]
async fn get_persisted_manifest_follows_the_active_build() {
    let (server, client) = deployed().await;
    let persisted = client.get_persisted_manifest("env1").await.unwrap();
    assert_eq!(persisted.build_id, "build1");
    let manifest = persisted.manifest;
    assert_eq!(manifest.project_name.as_deref(), Some("demo"));
    assert_eq!(manifest.function_registry["infer"], "gpu_worker");
    assert_eq!(
        manifest.resources_endpoints.unwrap()["gpu_worker"],
        "https://ep1.api.runpod.ai"
    );
    assert_eq!(
        manifest.resources["gpu_worker"].extra["custom_field"],
        json!({"kept": true})
    );
    assert_eq!(
        server.operations(),
        [GET_FLASH_ENVIRONMENT, GET_FLASH_BUILD]
    );
}

#[tokio::test]
async fn resources_endpoints_come_from_the_active_manifest() {
    let (server, client) = deployed().await;
    let endpoints = client.resources_endpoints("env1").await.unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints["gpu_worker"], "https://ep1.api.runpod.ai");

    server.add_environment("env2", Some("undeployed"));
    server.add_build("undeployed", json!({"version": "1.0", "resources": {}}));
    assert!(client.resources_endpoints("env2").await.unwrap().is_empty());
}

#[test]
fn the_client_and_its_futures_can_cross_threads() {
    fn send_sync_static<T: Send + Sync + 'static>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let client = client_for(SocketAddr::from(([127, 0, 0, 1], 9)));
    send_sync_static(&client);
    send(&client.flash_environment("e"));
    send(&client.resources_endpoints("e"));
    send(&client.update_resource_state("e", "r", Map::new()));
    send(&client.remove_resource_state("e", "r"));
}

#[tokio::test]
async fn missing_active_build_is_missing_naming_the_environment() {
    let (server, client) = started().await;
    server.add_environment("fresh-env", None);
    let error = client
        .get_persisted_manifest("fresh-env")
        .await
        .unwrap_err();
    match &error {
        StateManagerError::Missing { operation, what } => {
            assert_eq!(*operation, GET_FLASH_ENVIRONMENT);
            assert!(
                what.contains("`fresh-env`") && what.contains("activeBuildId"),
                "{what}"
            );
        }
        other => panic!("expected Missing, got {other:?}"),
    }
    assert!(error.to_string().contains("getFlashEnvironment"), "{error}");
    assert_eq!(server.requests(), 1, "no build lookup without a build id");
}

#[tokio::test]
async fn null_manifest_is_missing_naming_the_build() {
    let (server, client) = started().await;
    server.add_environment("env1", Some("build-without-manifest"));
    server.add_build("build-without-manifest", Value::Null);
    let error = client.get_persisted_manifest("env1").await.unwrap_err();
    assert!(
        matches!(&error, StateManagerError::Missing { operation: GET_FLASH_BUILD, what } if what.contains("`build-without-manifest`") && what.contains("`env1`")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_manifest_of_the_wrong_shape_is_a_decode_error() {
    let (server, client) = started().await;
    server.add_environment("env1", Some("b"));
    server.add_build("b", json!({"resources": 5}));
    let error = client.get_persisted_manifest("env1").await.unwrap_err();
    assert!(
        matches!(&error, StateManagerError::Decode { operation: GET_FLASH_BUILD, message, .. } if message.contains("`b`")),
        "{error:?}"
    );
}

// ---- read-modify-write ----

#[tokio::test]
async fn update_resource_state_merges_and_keeps_unknown_fields() {
    let (server, client) = deployed().await;
    client
        .update_resource_state(
            "env1",
            "gpu_worker",
            data(json!({"endpoint_id": "ep9", "endpoint_url": "https://ep9.example"})),
        )
        .await
        .unwrap();
    let manifest = server.manifest("build1");
    let gpu = &manifest["resources"]["gpu_worker"];
    assert_eq!(gpu["endpoint_id"], "ep9");
    assert_eq!(gpu["endpoint_url"], "https://ep9.example");
    assert_eq!(gpu["custom_field"], json!({"kept": true}));
    assert_eq!(gpu["resource_type"], "LiveServerless");
    assert_eq!(
        manifest["resources"]["cpu_worker"],
        sample_manifest()["resources"]["cpu_worker"]
    );
    assert_eq!(manifest["unknown_top_level"], json!([1, 2, 3]));
    assert_eq!(
        server.operations(),
        [
            GET_FLASH_ENVIRONMENT,
            GET_FLASH_BUILD,
            UPDATE_FLASH_BUILD_MANIFEST
        ]
    );

    client
        .update_resource_state("env1", "new_worker", data(json!({"endpoint_id": "ep3"})))
        .await
        .unwrap();
    assert_eq!(
        server.manifest("build1")["resources"]["new_worker"],
        json!({"endpoint_id": "ep3"})
    );
}

#[tokio::test]
async fn remove_resource_state_removes_and_skips_absent_resources() {
    let (server, client) = deployed().await;
    client
        .remove_resource_state("env1", "cpu_worker")
        .await
        .unwrap();
    let manifest = server.manifest("build1");
    assert!(manifest["resources"].get("cpu_worker").is_none());
    assert!(manifest["resources"].get("gpu_worker").is_some());
    assert_eq!(
        manifest["function_registry"],
        sample_manifest()["function_registry"]
    );
    assert_eq!(server.requests(), 3);

    client
        .remove_resource_state("env1", "never_there")
        .await
        .unwrap();
    assert_eq!(server.requests(), 5, "no write when nothing was removed");
}

#[tokio::test]
async fn concurrent_updates_from_one_client_both_survive() {
    let (server, client) = deployed().await;
    // Without the client's lock, both updates would read the manifest during this delay and the
    // second write would drop the first one's change.
    server.with(|s| s.build_delay = Duration::from_millis(50));
    let other = client.clone();
    let (a, b) = tokio::join!(
        client.update_resource_state(
            "env1",
            "gpu_worker",
            data(json!({"endpoint_url": "https://a"}))
        ),
        other.update_resource_state(
            "env1",
            "cpu_worker",
            data(json!({"endpoint_url": "https://b"}))
        ),
    );
    a.unwrap();
    b.unwrap();
    let manifest = server.manifest("build1");
    assert_eq!(
        manifest["resources"]["gpu_worker"]["endpoint_url"],
        "https://a"
    );
    assert_eq!(
        manifest["resources"]["cpu_worker"]["endpoint_url"],
        "https://b"
    );
    assert_eq!(server.requests(), 6);
}

// ---- retries ----

#[tokio::test(start_paused = true)]
async fn queries_retry_503_with_backoff_then_succeed() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_next.extend([Fail::Status(503), Fail::Status(503)]));
    let start = tokio::time::Instant::now();
    let env = client.flash_environment("env1").await.unwrap();
    let waited = start.elapsed();
    assert_eq!(env.id, "env1");
    assert_eq!(server.requests(), 3);
    // 1 s + 2 s, each ±20 %.
    assert!(
        (Duration::from_millis(2400)..=Duration::from_millis(3600)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn queries_give_up_after_three_retries() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_always = Some(Fail::Status(503)));
    let start = tokio::time::Instant::now();
    let error = client.flash_environment("env1").await.unwrap_err();
    let waited = start.elapsed();
    assert_eq!(server.requests(), 4, "1 attempt + 3 retries");
    match &error {
        StateManagerError::Http {
            operation,
            url,
            status,
            body,
        } => {
            assert_eq!(*operation, GET_FLASH_ENVIRONMENT);
            assert!(
                url.ends_with("/graphql") && !url.contains("//graphql"),
                "{url}"
            );
            assert_eq!(*status, 503);
            assert_eq!(body, "upstream trouble");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    // 1 s + 2 s + 4 s, each ±20 %.
    assert!(
        (Duration::from_millis(5600)..=Duration::from_millis(8400)).contains(&waited),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn queries_retry_429_and_transient_graphql_errors() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_next.extend([Fail::Status(429), Fail::Transient]));
    let build = client.flash_build("build1").await.unwrap();
    assert_eq!(build.id, "build1");
    assert_eq!(server.requests(), 3);
}

#[tokio::test(start_paused = true)]
async fn transient_graphql_errors_exhaust_into_graphql_error() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_always = Some(Fail::Transient));
    let error = client.flash_build("build1").await.unwrap_err();
    assert!(
        matches!(&error, StateManagerError::GraphQl { operation: GET_FLASH_BUILD, messages } if messages.len() == 1),
        "{error:?}"
    );
    assert_eq!(server.requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_transport_errors_and_retried() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_always = Some(Fail::Hang));
    let error = client.flash_environment("env1").await.unwrap_err();
    assert!(
        matches!(
            &error,
            StateManagerError::Transport {
                operation: GET_FLASH_ENVIRONMENT,
                timed_out: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.requests(), 4);
}

#[tokio::test]
async fn graphql_errors_carry_every_message_and_are_not_retried() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_always = Some(Fail::Permanent));
    let error = client.flash_environment("env1").await.unwrap_err();
    match &error {
        StateManagerError::GraphQl {
            operation,
            messages,
        } => {
            assert_eq!(*operation, GET_FLASH_ENVIRONMENT);
            assert_eq!(
                messages,
                &["Flash environment access denied", "second problem"]
            );
        }
        other => panic!("expected GraphQl, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("getFlashEnvironment") && text.contains("second problem"),
        "{text}"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn other_4xx_fail_at_once() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_always = Some(Fail::Status(400)));
    let error = client.flash_environment("env1").await.unwrap_err();
    assert!(
        matches!(error, StateManagerError::Http { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test(start_paused = true)]
async fn mutations_are_never_retried() {
    for fail in [
        Fail::Status(503),
        Fail::Transient,
        Fail::Status(429),
        Fail::Hang,
    ] {
        let (server, client) = deployed().await;
        server.with(|s| s.fail_always = Some(fail));
        let error = client
            .update_flash_build_manifest("build1", &json!({}))
            .await
            .unwrap_err();
        assert_eq!(error.operation(), UPDATE_FLASH_BUILD_MANIFEST, "{fail:?}");
        assert_eq!(server.requests(), 1, "{fail:?}: {error}");
    }
}

#[tokio::test(start_paused = true)]
async fn read_modify_write_retries_reads_but_not_its_write() {
    let (server, client) = deployed().await;
    // The first read fails twice and is retried; the write then fails once and is not.
    server.with(|s| {
        s.fail_next.extend([Fail::Status(503), Fail::Transient]);
        s.fail_operation = Some((UPDATE_FLASH_BUILD_MANIFEST.to_owned(), Fail::Status(503)));
    });
    let error = client
        .update_resource_state("env1", "gpu_worker", data(json!({"k": 1})))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StateManagerError::Http {
                operation: UPDATE_FLASH_BUILD_MANIFEST,
                status: 503,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        server.operations(),
        [
            GET_FLASH_ENVIRONMENT,
            GET_FLASH_ENVIRONMENT,
            GET_FLASH_ENVIRONMENT,
            GET_FLASH_BUILD,
            UPDATE_FLASH_BUILD_MANIFEST
        ]
    );
    assert_eq!(
        server.manifest("build1"),
        sample_manifest(),
        "nothing was written"
    );
}

// ---- transport and secrets ----

#[tokio::test(start_paused = true)]
async fn dropped_connections_are_transport_errors_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0usize));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            *count.lock().unwrap() += 1;
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    let client = client_for(addr);
    let error = client.flash_environment("env1").await.unwrap_err();
    assert!(
        matches!(
            &error,
            StateManagerError::Transport {
                operation: GET_FLASH_ENVIRONMENT,
                timed_out: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(*accepted.lock().unwrap(), 4);
}

#[tokio::test]
async fn connection_refused_names_the_operation_and_url() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = StateManagerClient::new(StateManagerConfig {
        base_url: format!("http://{addr}"),
        api_key: ApiKey::new(KEY),
        query_retries: 0,
        ..StateManagerConfig::default()
    })
    .unwrap();
    let error = client.flash_environment("env1").await.unwrap_err();
    let expected_url = format!("http://{addr}/graphql");
    match &error {
        StateManagerError::Transport {
            operation,
            url,
            message,
            timed_out,
            ..
        } => {
            assert_eq!(*operation, GET_FLASH_ENVIRONMENT);
            assert_eq!(url, &expected_url);
            assert!(!message.is_empty());
            assert!(!timed_out);
        }
        other => panic!("expected Transport, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("getFlashEnvironment") && text.contains(&expected_url),
        "{text}"
    );
    assert!(!text.contains(KEY), "{text}");
}

#[tokio::test]
async fn no_api_key_fails_before_sending() {
    let server = Server::default();
    let addr = server.start().await;
    let client = StateManagerClient::new(StateManagerConfig {
        base_url: format!("http://{addr}"),
        api_key: None,
        ..StateManagerConfig::default()
    })
    .unwrap();
    assert!(!client.has_api_key());
    let error = client.get_persisted_manifest("env1").await.unwrap_err();
    assert!(
        matches!(
            error,
            StateManagerError::MissingApiKey {
                operation: GET_FLASH_ENVIRONMENT
            }
        ),
        "{error:?}"
    );
    let error = client
        .update_flash_build_manifest("b", &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StateManagerError::MissingApiKey {
                operation: UPDATE_FLASH_BUILD_MANIFEST
            }
        ),
        "{error:?}"
    );
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn an_echoed_key_is_redacted_from_errors() {
    let (server, client) = deployed().await;
    server.with(|s| s.fail_always = Some(Fail::EchoAuth));
    let error = client.flash_environment("env1").await.unwrap_err();
    let (text, debug) = (error.to_string(), format!("{error:?}"));
    assert!(!text.contains(KEY) && !debug.contains(KEY), "{text}");
    assert!(
        text.contains("<redacted>") && text.contains("401"),
        "{text}"
    );
    assert_eq!(server.requests(), 1, "401 is not retried");
}

#[tokio::test]
async fn debug_output_hides_the_key() {
    let (_server, client) = started().await;
    let debug = format!("{client:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("ApiKey(<redacted>)"), "{debug}");
    assert!(client.url().ends_with("/graphql"));
}
