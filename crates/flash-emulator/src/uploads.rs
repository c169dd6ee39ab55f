//! The presigned-upload stand-in: `PUT /emulator/uploads/{object_key}?token=...` stores an
//! artifact, and `GET /emulator/artifacts/{object_key}` serves it back (the `downloadUrl`).
//! Like a presigned URL, the upload needs no API key, only the token from
//! `prepareFlashArtifactUpload`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;

use crate::artifacts::{MAX_ARTIFACT_BYTES, upload_path};
use crate::core::Core;
use crate::http::{bearer_ok, error, unauthorized};

/// The upload and download routes.
pub(crate) fn routes() -> Router<Arc<Core>> {
    Router::new()
        .route(
            "/emulator/uploads/{key}",
            put(upload).layer(DefaultBodyLimit::max(MAX_ARTIFACT_BYTES)),
        )
        .route("/emulator/artifacts/{key}", get(download))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn upload(
    State(core): State<Arc<Core>>,
    Path(key): Path<String>,
    Query(q): Query<TokenQuery>,
    body: Bytes,
) -> Result<Response, Response> {
    {
        let store = core.store();
        let Some(up) = store.uploads.get(&key) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("no upload slot for objectKey {key}"),
            ));
        };
        if q.token.as_deref() != Some(up.token.as_str()) {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("bad upload token for objectKey {key}"),
            ));
        }
    }
    if body.len() < 2 || body[..2] != [0x1f, 0x8b] {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("artifact {key} is not gzip data"),
        ));
    }
    let path = upload_path(&core.settings.state_dir, &key);
    let write = async {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&path, &body).await
    };
    write.await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot store artifact {key}: {e}"),
        )
    })?;
    if let Some(up) = core.store().uploads.get_mut(&key) {
        up.uploaded = true;
    }
    core.persist();
    Ok(StatusCode::OK.into_response())
}

async fn download(
    State(core): State<Arc<Core>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !bearer_ok(&headers, &core.settings.api_key) {
        return unauthorized();
    }
    match tokio::fs::read(upload_path(&core.settings.state_dir, &key)).await {
        Ok(bytes) => ([("content-type", "application/gzip")], bytes).into_response(),
        Err(_) => error(StatusCode::NOT_FOUND, format!("artifact {key} not found")),
    }
}
