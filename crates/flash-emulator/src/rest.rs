//! Runpod's REST API, the part Flash uses: network volumes (`GET` and `POST
//! {base}/rest/v1/networkvolumes`), Bearer auth. A volume's id names the directory its workers
//! share (see the supervisor's `FLASH_VOLUME_PATH`). Kept in memory only.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::core::{Core, lock};
use crate::http::{bearer_ok, error, unauthorized};

pub(crate) async fn list(State(core): State<Arc<Core>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&headers, &core.settings.api_key) {
        return unauthorized();
    }
    Json(Value::Array(lock(&core.volumes).clone())).into_response()
}

pub(crate) async fn create(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !bearer_ok(&headers, &core.settings.api_key) {
        return unauthorized();
    }
    let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "a network volume needs a `name`");
    };
    let size = body["size"].as_u64().unwrap_or(100);
    if !(10..=4096).contains(&size) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("size {size} GB is outside 10..=4096"),
        );
    }
    let volume = json!({
        "id": crate::ids::short(14),
        "name": name,
        "size": size,
        "dataCenterId": body["dataCenterId"].as_str().unwrap_or("EU-RO-1"),
    });
    lock(&core.volumes).push(volume.clone());
    Json(volume).into_response()
}
