//! A proxy between workers and the emulator's job plane that injects the faults of a real
//! network: requests dropped before they reach the platform, answers lost after the platform
//! acted on the request (the connection closes with no response), delays, and 503s.
//!
//! Built on hyper directly because a lost answer must be a connection closed before any byte
//! of a response: a service error does exactly that, while a framework would answer 500.
#![allow(unreachable_pub)] // items of a test-only module

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The job-plane request kinds, from the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// job-take and job-take-batch.
    Take,
    /// job-done (results and progress).
    Done,
    /// job-stream.
    Stream,
    /// The heartbeat.
    Ping,
    /// job-stop.
    Stop,
    /// Anything else.
    Other,
}

impl Route {
    fn of(path: &str) -> Self {
        let op = path.split('/').nth(3).unwrap_or_default();
        match op {
            "job-take" | "job-take-batch" => Self::Take,
            "job-done" => Self::Done,
            "job-stream" => Self::Stream,
            "ping" => Self::Ping,
            "job-stop" => Self::Stop,
            _ => Self::Other,
        }
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Not forwarded; the connection closes without an answer.
    Drop,
    /// Forwarded (the platform acts on it); the connection then closes without an answer.
    Reset,
    /// Forwarded after this delay.
    Delay(Duration),
    /// Not forwarded; answered 503.
    Unavailable,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Reset => "reset",
            Self::Delay(_) => "delay",
            Self::Unavailable => "503",
        }
    }
}

/// Decides the fault of the `n`th request (from 0) of each route.
pub type Plan = Arc<dyn Fn(Route, u64) -> Option<Fault> + Send + Sync>;

struct State {
    plan: Plan,
    upstream: OnceLock<String>,
    http: reqwest::Client,
    seen: Mutex<BTreeMap<Route, u64>>,
    injected: Mutex<BTreeMap<(Route, &'static str), u64>>,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("url", &self.url)
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Where requests go (the emulator's base URL); set once, after the emulator started with
    /// this proxy's URL.
    pub fn set_upstream(&self, url: &str) {
        let _ = self
            .state
            .upstream
            .set(url.trim_end_matches('/').to_owned());
    }

    /// Requests received per route.
    pub fn seen(&self) -> BTreeMap<Route, u64> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Faults injected per route and kind.
    pub fn injected(&self) -> BTreeMap<(Route, &'static str), u64> {
        self.state.injected.lock().unwrap().clone()
    }
}

/// Starts a proxy on 127.0.0.1 that applies `plan`.
pub async fn start(plan: Plan) -> FaultProxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(State {
        plan,
        upstream: OnceLock::new(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        seen: Mutex::default(),
        injected: Mutex::default(),
    });
    let shared = Arc::clone(&state);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = Arc::clone(&shared);
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&state), req));
                // A connection ended by an injected fault is an error here, by design.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    FaultProxy { url, state, task }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let route = Route::of(req.uri().path());
    let n = {
        let mut seen = state.seen.lock().unwrap();
        let count = seen.entry(route).or_default();
        *count += 1;
        *count - 1
    };
    let fault = (state.plan)(route, n);
    if let Some(f) = fault {
        *state
            .injected
            .lock()
            .unwrap()
            .entry((route, f.name()))
            .or_default() += 1;
    }
    match fault {
        Some(Fault::Drop) => return Err(std::io::Error::other("injected: dropped")),
        Some(Fault::Unavailable) => {
            let mut r = Response::new(Body::from(r#"{"error": "injected: unavailable"}"#));
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Ok(r);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Reset) | None => {}
    }
    let upstream = state
        .upstream
        .get()
        .ok_or_else(|| std::io::Error::other("no upstream yet"))?;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(Body::new(body), 64 << 20)
        .await
        .map_err(std::io::Error::other)?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = state
        .http
        .request(parts.method.clone(), format!("{upstream}{path}"))
        .body(body);
    for (k, v) in &parts.headers {
        if k != hyper::header::HOST && k != hyper::header::CONTENT_LENGTH {
            out = out.header(k, v);
        }
    }
    let answer = out.send().await.map_err(std::io::Error::other)?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(std::io::Error::other)?;
    if fault == Some(Fault::Reset) {
        return Err(std::io::Error::other("injected: answer lost"));
    }
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    for (k, v) in &headers {
        if k != hyper::header::CONTENT_LENGTH && k != hyper::header::TRANSFER_ENCODING {
            r.headers_mut().append(k.clone(), v.clone());
        }
    }
    Ok(r)
}
