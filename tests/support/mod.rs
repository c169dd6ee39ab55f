//! Helpers shared by the system tests: workspace binaries, a build on disk, and a GraphQL proxy
//! in front of the emulator that records every request and can answer some itself.
#![allow(dead_code, unreachable_pub)] // each test target uses a part

pub mod python;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use flash_contract::artifact::{Member, pack};
use flash_contract::files::MANIFEST_FILE;
use serde_json::Value;

/// A binary of this workspace, built on first use when this package's tests run alone
/// (`cargo test --workspace` has built it already).
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf();
    let path = dir.join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bin", bin])
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "building {bin} failed");
    }
    assert!(path.exists(), "{} missing", path.display());
    path
}

/// The emulator's test worker.
pub fn worker_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_binary("flash-emulator", "flash-emulator-test-worker"))
}

/// The `flash` command.
pub fn flash_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_binary("flash-cli", "flash"))
}

/// Writes `.flash/flash_manifest.json` and `.flash/artifact.tar.gz` (the test worker as the
/// entrypoint) into `dir`, as `flash build` would.
pub fn write_build(dir: &Path, manifest: &Value) {
    let flash = dir.join(".flash");
    std::fs::create_dir_all(&flash).unwrap();
    let text = serde_json::to_string_pretty(manifest).unwrap();
    std::fs::write(flash.join(MANIFEST_FILE), &text).unwrap();
    let bin = std::fs::read(worker_binary()).unwrap();
    let tar = pack(&[
        Member::file(MANIFEST_FILE, text.as_bytes(), 0o644),
        Member::file("bin/app", bin, 0o755),
    ])
    .unwrap();
    std::fs::write(flash.join("artifact.tar.gz"), tar).unwrap();
}

/// What a [`Hook`] decides for one request.
pub enum Answer {
    /// Send it on to the emulator.
    Forward,
    /// Answer with this JSON body (HTTP 200).
    Reply(Value),
    /// Send it on, run this once the emulator has answered, then lose the answer (the client
    /// gets a GraphQL error instead): a platform that acted on a request and died before
    /// replying.
    ForwardThenLose(Box<dyn FnOnce() + Send>),
}

/// Decides, for a GraphQL request body, whether the proxy answers it itself.
pub type Hook =
    Arc<dyn Fn(Value) -> std::pin::Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

/// A hook that forwards everything.
pub fn forward_all() -> Hook {
    Arc::new(|_| Box::pin(async { Answer::Forward }))
}

/// A GraphQL proxy on 127.0.0.1 in front of `upstream` (`{api base}/graphql`).
pub struct GraphqlProxy {
    /// Its base URL, for `RUNPOD_API_BASE_URL`.
    pub url: String,
    /// Every request body received, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for GraphqlProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Starts a proxy forwarding to `upstream` with the caller's `Authorization`; `hook` may answer
/// a request itself (it is called before forwarding, from the request's task).
pub async fn graphql_proxy(upstream: String, hook: Hook) -> GraphqlProxy {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
    let recorded = Arc::clone(&requests);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let (upstream, hook, recorded, http) = (
            upstream.clone(),
            Arc::clone(&hook),
            Arc::clone(&recorded),
            http.clone(),
        );
        async move {
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            recorded.lock().unwrap().push(request.clone());
            let then = match hook(request).await {
                Answer::Reply(answer) => return axum::Json(answer),
                Answer::Forward => None,
                Answer::ForwardThenLose(then) => Some(then),
            };
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let sent = http
                .post(&upstream)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await;
            let answer = match sent {
                Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Some(then) = then {
                then();
                return axum::Json(
                    serde_json::json!({"errors": [{"message": "the answer was lost"}]}),
                );
            }
            // The emulator may be killed under a request (the fault suite does it on purpose).
            axum::Json(answer.unwrap_or_else(
                |e| serde_json::json!({"errors": [{"message": format!("upstream: {e}")}]}),
            ))
        }
    };
    let app = axum::Router::new().route("/graphql", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    GraphqlProxy {
        url,
        requests,
        server,
    }
}

/// The operation a GraphQL document defines first: `query NAME` / `mutation NAME`.
pub fn operation_name(query: &str) -> Option<String> {
    let text = query.trim_start();
    let rest = text
        .strip_prefix("query")
        .or_else(|| text.strip_prefix("mutation"))?;
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The variable definitions of a document, `$name: Type` each, in order.
pub fn variable_definitions(query: &str) -> Vec<String> {
    let Some(open) = query.find('(') else {
        return Vec::new();
    };
    let Some(close) = query[open..].find(')') else {
        return Vec::new();
    };
    let head = &query[..open];
    if head.contains('{') {
        return Vec::new();
    }
    query[open + 1..open + close]
        .split(',')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|d| !d.is_empty())
        .collect()
}
