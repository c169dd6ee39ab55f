//! A minimal worker for the emulator's tests: implements the job protocol (job-take → compute →
//! job-done) with behaviour chosen by the job input, and in LB mode (`PORT` set) serves `/ping`
//! and `/echo` on `PORT`.
//!
//! Inputs: `{"op": "echo", "value": v}`, `{"op": "sleep", "ms": n}`, `{"op": "fail", "message": m}`,
//! `{"op": "crash", "marker": path}` (exits 3 unless the marker file exists, creating it first),
//! `{"op": "env", "names": [..]}`, `{"op": "write"|"read", "file": name, "content": c}` (in
//! `FLASH_VOLUME_PATH`), `{"op": "stream", "chunks": [..]}`, `{"op": "manifest"}` (the manifest at
//! `FLASH_MANIFEST_PATH`), `{"op": "noise", "bytes": n}` (prints
//! a line holding a 0xFF byte, then one of `n` bytes, on stdout and stderr, and echoes `value`).
//!
//! With `TEST_WORKER_BOOT_FAIL` set it prints that value on stderr and exits 4 at once (a worker
//! that cannot boot).

// Printing is this worker's job: the emulator captures its output as worker logs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use serde_json::{Value, json};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn with_query(url: &str, q: &str) -> String {
    if url.contains('?') {
        format!("{url}&{q}")
    } else {
        format!("{url}?{q}")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pod = var("RUNPOD_POD_ID");
    if let Ok(message) = std::env::var("TEST_WORKER_BOOT_FAIL") {
        eprintln!("{message}");
        std::process::exit(4);
    }
    println!("worker {pod} starting for {}", var("FLASH_RESOURCE_NAME"));
    if let Ok(port) = std::env::var("PORT") {
        serve_lb(&port).await;
        return;
    }
    let key = var("RUNPOD_AI_API_KEY");
    let take = var("RUNPOD_WEBHOOK_GET_JOB").replace("$ID", &pod);
    let done = var("RUNPOD_WEBHOOK_POST_OUTPUT").replace("$RUNPOD_POD_ID", &pod);
    let stream = var("RUNPOD_WEBHOOK_POST_STREAM").replace("$RUNPOD_POD_ID", &pod);
    let ping = var("RUNPOD_WEBHOOK_PING").replace("$RUNPOD_POD_ID", &pod);
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    let _ = http.get(&ping).header("Authorization", &key).send().await;
    loop {
        let resp = http
            .get(with_query(&take, "job_in_progress=0"))
            .header("Authorization", &key)
            .send()
            .await;
        let job: Value = match resp {
            Ok(r) if r.status() == 200 => r.json().await.unwrap_or(Value::Null),
            Ok(_) => continue,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Some(id) = job.get("id").and_then(Value::as_str) else {
            continue;
        };
        let input = job.get("input").cloned().unwrap_or(Value::Null);
        println!("job {id} op {}", input.get("op").unwrap_or(&Value::Null));
        let op = input.get("op").and_then(Value::as_str).unwrap_or("echo");
        let body = match op {
            "sleep" => {
                let ms = input.get("ms").and_then(Value::as_u64).unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                json!({"output": {"slept": ms, "worker": pod}})
            }
            "fail" => json!({"error": input.get("message").cloned().unwrap_or(json!("failed"))}),
            "crash" => {
                let marker = input.get("marker").and_then(Value::as_str).unwrap_or("");
                if !std::path::Path::new(marker).exists() {
                    let _ = std::fs::write(marker, b"crashed once");
                    eprintln!("crashing on purpose");
                    std::process::exit(3);
                }
                json!({"output": "survived"})
            }
            "env" => {
                let names = input
                    .get("names")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let map: serde_json::Map<String, Value> = names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|n| {
                        (
                            n.to_owned(),
                            std::env::var(n).map_or(Value::Null, Value::String),
                        )
                    })
                    .collect();
                json!({"output": map})
            }
            "manifest" => {
                let manifest = std::fs::read_to_string(var("FLASH_MANIFEST_PATH"))
                    .ok()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                    .unwrap_or(Value::Null);
                json!({"output": manifest})
            }
            "write" | "read" => {
                let dir = var("FLASH_VOLUME_PATH");
                let file = std::path::Path::new(&dir)
                    .join(input.get("file").and_then(Value::as_str).unwrap_or("f"));
                if op == "write" {
                    let c = input.get("content").and_then(Value::as_str).unwrap_or("");
                    match std::fs::write(&file, c) {
                        Ok(()) => json!({"output": "written"}),
                        Err(e) => json!({"error": e.to_string()}),
                    }
                } else {
                    match std::fs::read_to_string(&file) {
                        Ok(s) => json!({"output": s}),
                        Err(e) => json!({"error": e.to_string()}),
                    }
                }
            }
            "noise" => {
                use std::io::Write as _;
                let n = input.get("bytes").and_then(Value::as_u64).unwrap_or(0);
                let long = vec![b'x'; usize::try_from(n).unwrap_or(0)];
                for mut out in [
                    Box::new(std::io::stdout()) as Box<dyn std::io::Write>,
                    Box::new(std::io::stderr()),
                ] {
                    // A panic here (EPIPE) is what the test looks for.
                    out.write_all(b"invalid \xff utf-8\n").unwrap();
                    out.write_all(&long).unwrap();
                    out.write_all(b"\nafter the long line\n").unwrap();
                    out.flush().unwrap();
                }
                json!({"output": input.get("value").cloned().unwrap_or(Value::Null)})
            }
            "stream" => {
                let chunks = input
                    .get("chunks")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let url = with_query(&stream.replace("$ID", id), "isStream=false");
                for c in &chunks {
                    let _ = http
                        .post(&url)
                        .header("Authorization", &key)
                        .body(json!({"output": c}).to_string())
                        .send()
                        .await;
                }
                json!({"output": chunks})
            }
            _ => json!({"output": input.get("value").cloned().unwrap_or(Value::Null)}),
        };
        let url = with_query(&done.replace("$ID", id), "isStream=false");
        let _ = http
            .post(&url)
            .header("Authorization", &key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await;
    }
}

#[derive(serde::Deserialize)]
struct BytesQuery {
    n: usize,
    #[serde(default)]
    chunked: bool,
}

/// `n` bytes of `x`: with a Content-Length, or chunked (1 MiB chunks) when `chunked`.
async fn bytes(
    axum::extract::Query(q): axum::extract::Query<BytesQuery>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !q.chunked {
        return vec![b'x'; q.n].into_response();
    }
    const CHUNK: usize = 1 << 20;
    let chunks = (0..q.n.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(q.n - i * CHUNK);
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; len]))
    });
    axum::body::Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

#[derive(serde::Deserialize)]
struct DripQuery {
    gate: String,
}

/// "first\n", then, once the file `gate` exists, "second\n": a client that sees the first
/// line before creating the gate proves the answer was streamed through.
async fn drip(axum::extract::Query(q): axum::extract::Query<DripQuery>) -> axum::body::Body {
    let lines = futures_util::stream::unfold(0, move |step| {
        let gate = q.gate.clone();
        async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>("first\n"), 1)),
                1 => {
                    while !std::path::Path::new(&gate).exists() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Some((Ok("second\n"), 2))
                }
                _ => None,
            }
        }
    });
    axum::body::Body::from_stream(lines)
}

async fn serve_lb(port: &str) {
    use axum::routing::{get, post};
    let pod = var("RUNPOD_POD_ID");
    let app = axum::Router::new()
        .route(
            "/ping",
            get(|| async { axum::Json(json!({"status": "healthy"})) }),
        )
        .route(
            "/echo",
            post(move |body: String| {
                let pod = pod.clone();
                async move { axum::Json(json!({"body": body, "worker": pod})) }
            }),
        )
        .route("/bytes", get(bytes))
        .route("/drip", get(drip));
    let Ok(listener) = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await else {
        eprintln!("cannot bind port {port}");
        std::process::exit(2);
    };
    let _ = axum::serve(listener, app).await;
}
