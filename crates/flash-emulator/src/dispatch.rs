//! Runpod's Flash dispatcher, `/v2/flash/...`: the queue routes of an endpoint addressed by name
//! (runpod-wire.md §5). `X-Flash-App`, `X-Flash-Environment` and `X-Flash-Endpoint` name the app,
//! the environment and the resource; the endpoint is the one saved in that environment
//! (`flashEnvironmentId`) under that name, or with that id (runpod 2.0's id-based stubs send an
//! id in `X-Flash-Endpoint`). Everything after resolution is the id route's own handler.
//!
//! Load-balanced endpoints by name: Runpod serves them at `https://flash.{endpoint domain}{path}`
//! with the same headers. The emulator serves that host as `flash.localhost` (any port;
//! `flash_contract::dispatch::LOOPBACK_LB_HOST` says why that name): a request whose Host (or
//! HTTP/2 authority) is `flash.localhost:{port}` is path `{path}` of the endpoint the headers
//! name, whatever the path. For clients that cannot choose the host, the same is
//! served at the path prefix `{base}/flash-lb` (`{base}/flash-lb/classify` is `/classify` on
//! the endpoint's worker, query and percent-encoding kept). Both then proxy as `lb_proxy.rs`
//! does. A queue endpoint named there is 400 (it serves no HTTP paths), as a load-balanced one
//! named on the queue routes is.
//!
//! Refusals, in this order: a bad key 401; a missing (or empty, or non-ASCII) header 400 naming
//! it; an unknown app, environment or endpoint 404 naming which.

// Handlers return `Result<Response, Response>` (see data_plane.rs).
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use flash_contract::dispatch::{HEADER_APP, HEADER_ENDPOINT, HEADER_ENVIRONMENT};

use crate::core::Core;
use crate::data_plane::{self, Reply, Target, WaitQuery};
use crate::http::{bearer_ok, error, unauthorized};

/// The path prefix of load-balanced endpoints by name, on the emulator's main listener.
pub(crate) const LB_PREFIX: &str = "/flash-lb";

/// The host of load-balanced endpoints by name.
pub(crate) use flash_contract::dispatch::LOOPBACK_LB_HOST as LB_HOST;

/// The dispatcher's queue routes, relative to `/v2`.
pub(crate) fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route("/flash/run", post(run))
        .route("/flash/runsync", post(runsync))
        .route("/flash/status/{job}", get(status).post(status))
        .route("/flash/stream/{job}", get(stream).post(stream))
        .route("/flash/cancel/{job}", post(cancel))
        .route("/flash/retry/{job}", post(retry))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Response> {
    match headers.get(name).map(|v| v.to_str().map(str::trim)) {
        Some(Ok(value)) if !value.is_empty() => Ok(value),
        Some(Err(_)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("header {name} is not ASCII text"),
        )),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "header {name} is missing; the Flash dispatcher needs {HEADER_APP}, {HEADER_ENVIRONMENT} and {HEADER_ENDPOINT}"
            ),
        )),
    }
}

/// The endpoint the headers name.
pub(crate) fn resolve(core: &Core, headers: &HeaderMap) -> Result<Target, Response> {
    if !bearer_ok(headers, &core.settings.api_key) {
        return Err(unauthorized());
    }
    let app = header(headers, HEADER_APP)?;
    let env = header(headers, HEADER_ENVIRONMENT)?;
    let resource = header(headers, HEADER_ENDPOINT)?;
    let not_found = |what: String| Err(error(StatusCode::NOT_FOUND, what));
    let id = {
        let store = core.store();
        let Some(app_rec) = store.apps.values().find(|a| a.name == app) else {
            return not_found(format!("flash app {app} not found"));
        };
        let Some(env_rec) = store
            .environments
            .values()
            .find(|e| e.app_id == app_rec.id && e.name == env)
        else {
            return not_found(format!("environment {env} not found in flash app {app}"));
        };
        let saved = store.endpoints_of_env(&env_rec.id);
        // A name first: deployed endpoint names are resource names. An id only when no name
        // matches, and only an endpoint of this environment (the stub names app and env too).
        let found = saved
            .iter()
            .find(|e| e.name == resource)
            .or_else(|| saved.iter().find(|e| e.id == resource));
        match found {
            Some(e) => e.id.clone(),
            None => {
                return not_found(format!(
                    "endpoint {resource} not found in environment {env} of flash app {app}"
                ));
            }
        }
    };
    let label = format!("{resource} (flash app {app}, environment {env})");
    match core.endpoint(&id) {
        Some(rt) if !rt.lock().deleted => Ok(Target { rt, label }),
        _ => not_found(format!(
            "endpoint {resource} not found in environment {env} of flash app {app}"
        )),
    }
}

async fn run(State(core): State<Arc<Core>>, headers: HeaderMap, body: Bytes) -> Reply {
    data_plane::do_run(&core, &resolve(&core, &headers)?, &body)
}

async fn runsync(
    State(core): State<Arc<Core>>,
    Query(q): Query<WaitQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    data_plane::do_runsync(&core, &resolve(&core, &headers)?, &q, &body).await
}

async fn status(
    State(core): State<Arc<Core>>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> Reply {
    data_plane::do_status(&resolve(&core, &headers)?, &job)
}

async fn stream(
    State(core): State<Arc<Core>>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> Reply {
    data_plane::do_stream(&resolve(&core, &headers)?, &job)
}

async fn cancel(
    State(core): State<Arc<Core>>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> Reply {
    data_plane::do_cancel(&resolve(&core, &headers)?, &job)
}

async fn retry(
    State(core): State<Arc<Core>>,
    Path(job): Path<String>,
    headers: HeaderMap,
) -> Reply {
    data_plane::do_retry(&resolve(&core, &headers)?, &job)
}

/// `{base}/flash-lb{path}`: the load-balanced endpoint the headers name, path `{path}`.
pub(crate) async fn lb(State(core): State<Arc<Core>>, req: Request) -> Response {
    let path = worker_path(req.uri());
    lb_at(core, req, path).await
}

/// Every request of the main listener passes here first: one for [`LB_HOST`] is the
/// dispatcher's, whatever its path, so no route of the emulator's own can shadow a worker's.
pub(crate) async fn by_host(State(core): State<Arc<Core>>, req: Request, next: Next) -> Response {
    if !is_lb_host(&req) {
        return next.run(req).await;
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    lb_at(core, req, path).await
}

/// Whether `req` is addressed to [`LB_HOST`]: its URI's authority (HTTP/2, or an absolute
/// request target) or else its Host header. Any port: the request reached this listener.
fn is_lb_host(req: &Request) -> bool {
    let from_header = || {
        let value = req.headers().get(header::HOST)?.to_str().ok()?;
        value.parse::<Authority>().ok()
    };
    let authority = req.uri().authority().cloned().or_else(from_header);
    authority.is_some_and(|a| a.host().trim_end_matches('.').eq_ignore_ascii_case(LB_HOST))
}

/// Path `path` of the load-balanced endpoint the headers of `req` name.
async fn lb_at(core: Arc<Core>, req: Request, path: String) -> Response {
    let target = match resolve(&core, req.headers()) {
        Ok(target) => target,
        Err(refusal) => return refusal,
    };
    if !target.rt.lock().cfg.load_balanced() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "endpoint {} is a queue endpoint; call it at /v2/flash/run or /v2/flash/runsync",
                target.label
            ),
        );
    }
    let (mut parts, body) = req.into_parts();
    match path.parse::<Uri>() {
        Ok(uri) => parts.uri = uri,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad path {path}: {e}")),
    }
    crate::lb_proxy::forward(core, target.rt, Request::from_parts(parts, body)).await
}

/// The worker's path of a request to `/flash-lb{rest}`: `rest` as the client encoded it (so
/// `%2F` stays inside a segment), `/` when empty, the query kept.
fn worker_path(uri: &Uri) -> String {
    let rest = uri.path().strip_prefix(LB_PREFIX).unwrap_or("/");
    let rest = if rest.is_empty() { "/" } else { rest };
    match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_gets_the_path_after_the_prefix_as_encoded() {
        let path = |u: &str| worker_path(&u.parse::<Uri>().unwrap());
        assert_eq!(path("/flash-lb"), "/");
        assert_eq!(path("/flash-lb/"), "/");
        assert_eq!(path("/flash-lb/echo?q=1"), "/echo?q=1");
        assert_eq!(path("/flash-lb/files/a%2Fb"), "/files/a%2Fb");
    }
}
