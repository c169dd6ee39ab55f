//! Small HTTP helpers shared by the routes: auth checks and JSON error replies.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use runpod_flash::ApiKey;

/// A JSON reply `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The 401 reply of the data plane and the load balancer.
pub(crate) fn unauthorized() -> Response {
    error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

/// Whether `headers` carry `Authorization: Bearer KEY` or the bare key (Runpod accepts both on
/// the client planes).
pub(crate) fn bearer_ok(headers: &HeaderMap, key: &ApiKey) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let value = value.trim();
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim();
    constant_time_eq(token.as_bytes(), key.expose().as_bytes())
}

/// Whether `headers` carry `Authorization: <raw key>` exactly (the worker job plane).
pub(crate) fn raw_key_ok(headers: &HeaderMap, key: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| constant_time_eq(v.trim().as_bytes(), key.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
