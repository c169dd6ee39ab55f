//! The load-balanced worker: each function at its method and path, `/ping` for the load
//! balancer's health checks. No `/execute`, ever.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::dispatch::{self, FunctionTable};
use crate::call::{CallContext, FunctionMeta, TraceParent, ValueStream, WireError};
use crate::config;
use crate::registry::HttpMethod;

/// Set once the worker is ready for traffic: `/ping` answers 204 before, 200 after.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the worker ready.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `/ping`: 204 while starting, 200 when ready (Runpod's load-balancer health contract).
pub fn health_router(readiness: Readiness) -> axum::Router {
    axum::Router::new().route(
        "/ping",
        get(move || {
            let readiness = readiness.clone();
            async move {
                if readiness.is_ready() {
                    (
                        StatusCode::OK,
                        Json(serde_json::json!({"status": "healthy"})),
                    )
                        .into_response()
                } else {
                    StatusCode::NO_CONTENT.into_response()
                }
            }
        }),
    )
}

/// The routes of every load-balanced function in `table`.
pub fn router(table: &FunctionTable) -> axum::Router {
    let mut by_path: HashMap<&'static str, MethodRouter> = HashMap::new();
    for &meta in table.functions() {
        let Some(route) = meta.route else { continue };
        let handler =
            move |path: Path<HashMap<String, String>>,
                  query: RawQuery,
                  headers: HeaderMap,
                  body: Bytes| serve(meta, path, query, headers, body);
        let entry = by_path.remove(route.path).unwrap_or_default();
        let entry = match route.method {
            HttpMethod::Get => entry.merge(get(handler)),
            HttpMethod::Post => entry.merge(post(handler)),
            HttpMethod::Put => entry.merge(put(handler)),
            HttpMethod::Patch => entry.merge(patch(handler)),
            HttpMethod::Delete => entry.merge(delete(handler)),
        };
        by_path.insert(route.path, entry);
    }
    let mut router = axum::Router::new();
    for (path, methods) in by_path {
        router = router.route(path, methods);
    }
    router
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                WireError::new("NotFound", "no such route"),
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(
            config::MAX_PAYLOAD_BYTES,
        ))
}

fn error(status: StatusCode, error: WireError) -> Response {
    (status, Json(error)).into_response()
}

async fn serve(
    meta: &'static FunctionMeta,
    Path(path): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut args = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(args)) => args,
            Ok(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    WireError::new(
                        "ArgumentError",
                        format!(
                            "the body of `{}` must be a JSON object of arguments by name",
                            meta.name
                        ),
                    ),
                );
            }
            Err(parse) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    WireError::new(
                        "ArgumentError",
                        format!("the body of `{}` is not JSON: {parse}", meta.name),
                    ),
                );
            }
        }
    };
    if let Some(query) = query {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            args.insert(name.into_owned(), Value::String(value.into_owned()));
        }
    }
    for (name, value) in path {
        args.insert(name, Value::String(value));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let caller = header("traceparent").and_then(TraceParent::parse);
    let context = CallContext {
        deadline: header(config::DEADLINE_HEADER)
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms)),
        trace: Some(caller.map_or_else(TraceParent::new_root, |t| t.child())),
    };
    let answer = match meta.stream {
        Some(start) => match dispatch::invoke_stream(meta.name, start, args, context) {
            Ok(items) => return events(items),
            Err(wire) => Err(wire),
        },
        None => dispatch::invoke_traced(meta, args, context, caller.map(|t| t.span_id)).await,
    };
    match answer {
        Ok(value) => Json(value).into_response(),
        Err(wire) if wire.error_type == "ArgumentError" => error(StatusCode::BAD_REQUEST, wire),
        Err(wire) if wire.error_type == "DeadlineExceeded" => {
            error(StatusCode::GATEWAY_TIMEOUT, wire)
        }
        Err(wire) => error(StatusCode::INTERNAL_SERVER_ERROR, wire),
    }
}

/// A streaming function's answer: `text/event-stream`, an event per item as it is produced,
/// then an `end` event, or an `error` event with the function's error
/// ([`flash_contract::http::sse`]). Comments keep an idle stream's connection open through
/// proxies. The caller closing the connection drops `items`, and with it the producer.
fn events(items: ValueStream) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use flash_contract::http::sse::{END_EVENT, ERROR_EVENT};
    let events = futures_util::stream::unfold(Some(items), |items| async move {
        let mut items = items?;
        let event = match items.next().await {
            Some(Ok(value)) => {
                return Some((Ok(Event::default().data(value.to_string())), Some(items)));
            }
            Some(Err(wire)) => Event::default()
                .event(ERROR_EVENT)
                .data(serde_json::to_string(&wire).unwrap_or_else(|_| wire.error_message.clone())),
            None => Event::default().event(END_EVENT).data("{}"),
        };
        Some((Ok::<_, std::convert::Infallible>(event), None))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(config::SSE_KEEP_ALIVE))
        .into_response()
}
