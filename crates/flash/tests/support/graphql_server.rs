//! A small GraphQL-ish State Manager on 127.0.0.1 for integration tests.
//!
//! It reads `operationName` and `variables` from the JSON body and answers with canned JSON from
//! an in-memory store of environments and builds. It counts requests, records headers, and fails
//! on demand. Each server is a task of the test's runtime, so it stops with the test.

#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const KEY: &str = "rpa_TESTKEY_0123456789";

/// How the server answers one request instead of serving it.
#[derive(Debug, Clone, Copy)]
pub enum Fail {
    /// This HTTP status with a plain body.
    Status(u16),
    /// HTTP 200 with a GraphQL error Runpod uses for transient failures.
    Transient,
    /// HTTP 200 with two GraphQL errors that are not transient.
    Permanent,
    /// HTTP 401 whose body echoes the `Authorization` header back.
    EchoAuth,
    /// Never answers (well, after an hour).
    Hang,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub operation: String,
    pub variables: Value,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Default)]
pub struct Store {
    pub seen: Vec<Seen>,
    /// Failures to use, one per request, before serving normally.
    pub fail_next: VecDeque<Fail>,
    /// A failure for every request, once `fail_next` is empty.
    pub fail_always: Option<Fail>,
    /// A failure for every request of one operation.
    pub fail_operation: Option<(String, Fail)>,
    pub environments: HashMap<String, Value>,
    /// Build id to manifest (`Value::Null` for a build without one).
    pub builds: HashMap<String, Value>,
    /// Delay of `getFlashBuild` answers, to make concurrent read-modify-writes overlap.
    pub build_delay: Duration,
}

#[derive(Clone, Default)]
pub struct Server {
    pub store: Arc<Mutex<Store>>,
}

impl Server {
    pub fn with<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.store.lock().unwrap())
    }

    pub fn requests(&self) -> usize {
        self.with(|s| s.seen.len())
    }

    pub fn operations(&self) -> Vec<String> {
        self.with(|s| s.seen.iter().map(|r| r.operation.clone()).collect())
    }

    pub fn add_environment(&self, id: &str, active_build_id: Option<&str>) {
        self.with(|s| {
            s.environments.insert(
                id.to_owned(),
                json!({
                    "id": id,
                    "name": "production",
                    "state": "HEALTHY",
                    "activeBuildId": active_build_id,
                    "createdAt": "2025-01-02T03:04:05Z",
                    "endpoints": [{"id": "ep1", "name": "gpu_worker"}],
                    "networkVolumes": [{"id": "nv1", "name": "models"}],
                }),
            )
        });
    }

    pub fn add_build(&self, id: &str, manifest: Value) {
        self.with(|s| s.builds.insert(id.to_owned(), manifest));
    }

    pub fn manifest(&self, build_id: &str) -> Value {
        self.with(|s| s.builds[build_id].clone())
    }

    pub async fn start(&self) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/graphql", post(graphql))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }
}

async fn graphql(
    State(server): State<Server>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Json(body): Json<Value>,
) -> Response {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let seen = Seen {
        path: uri.path().to_owned(),
        operation: body["operationName"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        variables: body["variables"].clone(),
        authorization: header("authorization"),
        user_agent: header("user-agent"),
        content_type: header("content-type"),
    };
    assert!(
        body["query"].as_str().unwrap().contains(&seen.operation),
        "query text names the operation"
    );
    let (fail, build_delay) = server.with(|s| {
        s.seen.push(seen.clone());
        let for_operation = s
            .fail_operation
            .as_ref()
            .filter(|(operation, _)| *operation == seen.operation)
            .map(|(_, fail)| *fail);
        let fail = for_operation
            .or_else(|| s.fail_next.pop_front())
            .or(s.fail_always);
        (fail, s.build_delay)
    });
    match fail {
        Some(Fail::Status(code)) => {
            return (StatusCode::from_u16(code).unwrap(), "upstream trouble").into_response();
        }
        Some(Fail::Transient) => {
            return Json(
                json!({"errors": [{"message": "Something broke, please Try Again Later"}]}),
            )
            .into_response();
        }
        Some(Fail::Permanent) => {
            return Json(json!({
                "data": null,
                "errors": [{"message": "Flash environment access denied"}, {"message": "second problem"}],
            }))
            .into_response();
        }
        Some(Fail::EchoAuth) => {
            let echoed = seen.authorization.unwrap_or_default();
            return (
                StatusCode::UNAUTHORIZED,
                format!("invalid credentials: {echoed}"),
            )
                .into_response();
        }
        Some(Fail::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        None => {}
    }
    let variables = &seen.variables;
    let data = match seen.operation.as_str() {
        "getFlashEnvironment" => {
            let id = variables["flashEnvironmentId"].as_str().unwrap();
            let env = server.with(|s| s.environments.get(id).cloned());
            json!({"flashEnvironment": env})
        }
        "getFlashBuild" => {
            tokio::time::sleep(build_delay).await;
            let id = variables["input"].as_str().unwrap();
            let build = server.with(|s| s.builds.get(id).cloned());
            json!({"flashBuild": build.map(|manifest| json!({"id": id, "manifest": manifest}))})
        }
        "updateFlashBuildManifest" => {
            let id = variables["input"]["flashBuildId"]
                .as_str()
                .unwrap()
                .to_owned();
            let manifest = variables["input"]["manifest"].clone();
            server.with(|s| s.builds.insert(id.clone(), manifest.clone()));
            json!({"updateFlashBuildManifest": {"id": id, "manifest": manifest}})
        }
        other => {
            return Json(json!({"errors": [{"message": format!("unknown operation {other}")}]}))
                .into_response();
        }
    };
    Json(json!({"data": data})).into_response()
}
