//! The network-volume REST calls of `flash deploy`, seen by a recording REST server on
//! 127.0.0.1: the User-Agent, the EU-RO-1 default datacenter, and the key redacted from error
//! bodies that echo it (the GraphQL side is the real emulator).

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use flash_cli::deploy::{self, DeployOptions};
use flash_cli::project::Project;
use flash_emulator::Emulator;
use runpod_flash::ApiKey;
use serde_json::{Value, json};

const KEY: &str = "rest-volume-test-key";

/// What the recorder saw: (method, User-Agent, body).
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

async fn recorder(fail_with_key: bool) -> (String, Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let (list_seen, create_seen) = (Arc::clone(&seen), Arc::clone(&seen));
    let agent = |headers: &HeaderMap| {
        headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let app = axum::Router::new().route(
        "/networkvolumes",
        axum::routing::get(move |headers: HeaderMap| {
            list_seen
                .lock()
                .unwrap()
                .push(("GET".into(), agent(&headers), Value::Null));
            async { Json(json!([])) }
        })
        .post(move |headers: HeaderMap, Json(body): Json<Value>| {
            create_seen
                .lock()
                .unwrap()
                .push(("POST".into(), agent(&headers), body.clone()));
            async move {
                if fail_with_key {
                    // A server that echoes the credentials it was sent.
                    (
                        StatusCode::FORBIDDEN,
                        Json(json!({"error": format!("bad key {KEY}")})),
                    )
                        .into_response()
                } else {
                    Json(
                        json!({"id": "vol123", "name": body["name"], "size": body["size"],
                                "dataCenterId": body["dataCenterId"]}),
                    )
                    .into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen, server)
}

fn manifest() -> Value {
    json!({
        "version": "1.0",
        "project_name": "vols",
        "entrypoint": "bin/app",
        "resources": {"worker": {
            "resource_type": "CpuLiveServerless",
            "is_load_balanced": false,
            "makes_remote_calls": false,
            "instanceIds": ["cpu3c-1-2"],
            "workersMin": 0,
            "workersMax": 1,
            "networkVolume": {"name": "shared", "size": 20},
            "functions": [{"name": "work", "module": "app", "is_async": true, "is_class": false}]
        }},
        "function_registry": {"work": "worker"}
    })
}

async fn deploy_with(fail_with_key: bool) -> (Result<(), String>, Vec<(String, String, Value)>) {
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("emulator starts");
    let (rest, seen, server) = recorder(fail_with_key).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"vols\"\n",
    )
    .unwrap();
    support::write_build(dir.path(), &manifest());
    let options = DeployOptions {
        app: "vols".to_owned(),
        env: "dev".to_owned(),
        api_base_url: emu.api_base_url().to_owned(),
        endpoint_base_url: emu.endpoint_base_url(),
        lb_url_template: emu.lb_url_template(),
        rest_api_url: rest,
        api_key: ApiKey::new(KEY),
    };
    let result = deploy::deploy(&Project::at(dir.path()), &options)
        .await
        .map(drop)
        .map_err(|e| format!("{e} {e:?}"));
    server.abort();
    emu.shutdown().await;
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_are_created_in_eu_ro_1_with_our_user_agent() {
    let (result, seen) = deploy_with(false).await;
    result.unwrap();
    let methods: Vec<&str> = seen.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(methods, ["GET", "POST"]);
    for (_, agent, _) in &seen {
        assert!(
            agent.starts_with("runpod-flash-rs/"),
            "User-Agent {agent:?}"
        );
    }
    let body = &seen[1].2;
    assert_eq!(body["dataCenterId"], "EU-RO-1", "{body}");
    assert_eq!(body["name"], "shared");
    assert_eq!(body["size"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_error_echoing_the_key_is_redacted() {
    let (result, _) = deploy_with(true).await;
    let error = result.unwrap_err();
    assert!(error.contains("403"), "{error}");
    assert!(!error.contains(KEY), "the key leaked: {error}");
}
