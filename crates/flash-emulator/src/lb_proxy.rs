//! Load-balanced endpoints: each gets its own loopback listener, the emulator's stand-in for
//! `https://{id}.api.runpod.ai`, that forwards any method and path to one of its healthy workers
//! (round robin). A worker is healthy once `GET /ping` on its `PORT` answers 200.
//!
//! The same proxy is also reachable on the emulator's main listener at
//! `{base}/lb/{endpoint_id}/{*rest}`, which forwards to path `/{rest}` (query kept), so that a
//! deploy can derive every LB URL from one template without knowing per-endpoint ports; and by
//! name at `{base}/flash-lb{path}` (the Flash dispatcher, `dispatch.rs`).
//!
//! Auth: `Authorization: Bearer KEY` (or the bare key) with the emulator's API key, else 401.
//! While no worker is healthy a request waits (and counts as demand, so a worker is started) up
//! to the LB wait (builder setting, default 120 s), then gets 503
//! `{"error": "no workers available"}`. A worker that cannot be reached gives 502. Every proxied
//! response carries `X-Runpod-Worker-Id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Path, Request, State};
use axum::http::Uri;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use runpod_flash::http_server;

use crate::core::{Core, EndpointRt, WorkerPhase, wait_for};
use crate::http::{bearer_ok, error, unauthorized};

/// Largest request or response body (Runpod: 30 MB).
const MAX_BODY: usize = 30 * 1024 * 1024;
/// Longest time one proxied request may take (Runpod: 5.5 min).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(330);

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Binds the endpoint's listener and records its URL.
pub(crate) async fn start(core: &Arc<Core>, rt: &Arc<EndpointRt>) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind a load-balancer listener: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("load-balancer listener: {e}"))?;
    let url = format!("http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let mut st = rt.lock();
        st.lb.url = Some(url.clone());
        st.lb.stop = Some(stop_tx);
    }
    let app = Router::new()
        .fallback(proxy)
        .with_state((Arc::clone(core), Arc::clone(rt)));
    let mut shutdown = core.shutdown.subscribe();
    let name = rt.lock().cfg.name.clone();
    tracing::info!(endpoint = %name, %url, "load balancer listening");
    core.track(tokio::spawn(async move {
        let stop = async move {
            tokio::select! {
                _ = stop_rx => {}
                () = crate::core::stopped(&mut shutdown) => {}
            }
        };
        if let Err(e) =
            http_server::serve(listener, app, http_server::Limits::default(), stop).await
        {
            tracing::warn!(endpoint = %name, error = %e, "load balancer stopped");
        }
    }));
    Ok(url)
}

/// Decrements the in-flight counters when a request ends, however it ends.
struct Inflight {
    rt: Arc<EndpointRt>,
    worker: Option<String>,
}

impl Drop for Inflight {
    fn drop(&mut self) {
        let mut st = self.rt.lock();
        st.lb.inflight = st.lb.inflight.saturating_sub(1);
        st.lb.last_request = Instant::now();
        if let Some(w) = self.worker.as_ref().and_then(|id| st.workers.get_mut(id)) {
            w.lb_inflight = w.lb_inflight.saturating_sub(1);
            w.last_active = Instant::now();
            if w.lb_inflight == 0 && w.state == WorkerPhase::Running {
                w.state = WorkerPhase::Idle;
            }
        }
    }
}

fn pick(rt: &EndpointRt) -> Option<(String, u16)> {
    let mut st = rt.lock();
    let version = st.cfg.version;
    let ready: Vec<(String, u16)> = st
        .workers
        .values()
        .filter(|w| {
            matches!(w.state, WorkerPhase::Idle | WorkerPhase::Running) && w.version == version
        })
        .filter_map(|w| w.port.map(|p| (w.id.clone(), p)))
        .collect();
    let ready = if ready.is_empty() {
        st.workers
            .values()
            .filter(|w| matches!(w.state, WorkerPhase::Idle | WorkerPhase::Running))
            .filter_map(|w| w.port.map(|p| (w.id.clone(), p)))
            .collect()
    } else {
        ready
    };
    if ready.is_empty() {
        return None;
    }
    let i = st.lb.next % ready.len();
    st.lb.next = st.lb.next.wrapping_add(1);
    let chosen = ready[i].clone();
    if let Some(w) = st.workers.get_mut(&chosen.0) {
        w.lb_inflight += 1;
        w.state = WorkerPhase::Running;
    }
    Some(chosen)
}

/// `{base}/lb/{endpoint_id}`: the root path of an LB endpoint.
pub(crate) async fn path_proxy_root(
    State(core): State<Arc<Core>>,
    Path(endpoint_id): Path<String>,
    req: Request,
) -> Response {
    route_by_path(core, &endpoint_id, req).await
}

/// `{base}/lb/{endpoint_id}/{*rest}`: path `/{rest}` of an LB endpoint.
pub(crate) async fn path_proxy(
    State(core): State<Arc<Core>>,
    Path((endpoint_id, _rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    route_by_path(core, &endpoint_id, req).await
}

/// The worker's path of a request to `/lb/{endpoint_id}{rest}`: `rest` exactly as the client
/// sent it, still percent-encoded, so `%2F`, `%3F` or `%23` stay inside one path segment (as a
/// worker behind Runpod's load balancer sees them) and never add a route, a query or a
/// fragment.
fn worker_path(uri: &Uri) -> String {
    let raw = uri.path();
    // "/lb/{id}" then the rest: skip the first two segments of the raw path.
    let rest = raw
        .strip_prefix("/lb/")
        .and_then(|after| after.find('/').map(|i| &after[i..]))
        .unwrap_or("/");
    match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    }
}

async fn route_by_path(core: Arc<Core>, endpoint_id: &str, req: Request) -> Response {
    if !bearer_ok(req.headers(), &core.settings.api_key) {
        return unauthorized();
    }
    let rt = match core.endpoint(endpoint_id) {
        Some(rt) if rt.lock().cfg.load_balanced() => rt,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("load-balanced endpoint {endpoint_id} not found"),
            );
        }
    };
    let (mut parts, body) = req.into_parts();
    let path = worker_path(&parts.uri);
    match path.parse::<Uri>() {
        Ok(uri) => parts.uri = uri,
        Err(e) => {
            return error(StatusCode::BAD_REQUEST, format!("bad path {path}: {e}"));
        }
    }
    proxy(State((core, rt)), Request::from_parts(parts, body)).await
}

/// Forwards `req` (its URI already the worker's path) to a healthy worker of `rt`: what every
/// form of addressing a load-balanced endpoint ends in (its own listener, `/lb/{id}`, the Flash
/// dispatcher's `/flash-lb`).
pub(crate) async fn forward(core: Arc<Core>, rt: Arc<EndpointRt>, req: Request) -> Response {
    proxy(State((core, rt)), req).await
}

async fn proxy(State((core, rt)): State<(Arc<Core>, Arc<EndpointRt>)>, req: Request) -> Response {
    if !bearer_ok(req.headers(), &core.settings.api_key) {
        return unauthorized();
    }
    let name = {
        let st = rt.lock();
        if st.deleted {
            return error(
                StatusCode::NOT_FOUND,
                format!("endpoint {} not found", rt.id),
            );
        }
        st.cfg.name.clone()
    };
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("endpoint {name}: request body: {e}"),
            );
        }
    };
    let mut guard = Inflight {
        rt: Arc::clone(&rt),
        worker: None,
    };
    {
        let mut st = rt.lock();
        st.lb.inflight += 1;
        st.lb.last_request = Instant::now();
    }
    let deadline = tokio::time::Instant::now() + core.settings.lb_wait;
    let Some((worker, port)) = wait_for(&rt.healthy, deadline, || pick(&rt)).await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no workers available");
    };
    guard.worker = Some(worker.clone());
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut out = core
        .http
        .request(parts.method.clone(), &url)
        .timeout(REQUEST_TIMEOUT)
        .body(body);
    for (k, v) in &parts.headers {
        if k == header::HOST || k == header::CONTENT_LENGTH || HOP_BY_HOP.contains(&k.as_str()) {
            continue;
        }
        out = out.header(k, v);
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                format!("endpoint {name}: worker {worker} did not answer: {e}"),
            );
        }
    };
    let status = resp.status();
    if let Some(n) = resp.content_length().filter(|n| *n > MAX_BODY as u64) {
        return error(
            StatusCode::BAD_GATEWAY,
            format!(
                "endpoint {name}: worker {worker} answered {n} bytes, over the {MAX_BODY}-byte response limit"
            ),
        );
    }
    let headers = resp.headers().clone();
    // Streamed, not buffered: a chunked or server-sent-events answer reaches the client as the
    // worker writes it. The request counts as in flight until its body ends.
    let body = Body::from_stream(capped(
        resp,
        MAX_BODY,
        guard,
        format!("endpoint {name}: worker {worker}"),
    ));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (k, v) in &headers {
        if k == header::CONTENT_LENGTH || HOP_BY_HOP.contains(&k.as_str()) {
            continue;
        }
        response.headers_mut().append(k.clone(), v.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&worker) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-runpod-worker-id"), v);
    }
    response.into_response()
}

/// The body of `resp`, ended with an error (the client sees a truncated answer, never a
/// complete-looking one) once it passes `cap` bytes. `guard` lives as long as the body.
fn capped(
    resp: reqwest::Response,
    cap: usize,
    guard: Inflight,
    who: String,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::try_unfold(
        (resp, 0usize, guard, who),
        move |(mut resp, sent, guard, who)| async move {
            let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| std::io::Error::other(format!("{who}: response: {e}")))?
            else {
                return Ok(None);
            };
            let sent = sent + chunk.len();
            if sent > cap {
                tracing::warn!("{who}: response passed the {cap}-byte limit; cut off");
                return Err(std::io::Error::other(format!(
                    "{who}: response over the {cap}-byte limit"
                )));
            }
            Ok(Some((chunk, (resp, sent, guard, who))))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_gets_the_path_as_the_client_encoded_it() {
        let path = |u: &str| worker_path(&u.parse::<Uri>().unwrap());
        assert_eq!(path("/lb/ep1"), "/");
        assert_eq!(path("/lb/ep1/"), "/");
        assert_eq!(path("/lb/ep1/echo?q=1"), "/echo?q=1");
        assert_eq!(path("/lb/ep1/notes/a%20b"), "/notes/a%20b");
        assert_eq!(path("/lb/ep1/files/a%2Fb"), "/files/a%2Fb");
        assert_eq!(path("/lb/ep1/echo%3Fx=1"), "/echo%3Fx=1");
        assert_eq!(path("/lb/ep1/echo%23frag?y=2"), "/echo%23frag?y=2");
    }
}
