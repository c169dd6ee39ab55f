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
        if !q
            .token
            .as_deref()
            .is_some_and(|t| same_secret(t.as_bytes(), up.token.as_bytes()))
        {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("bad upload token for objectKey {key}"),
            ));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if up.expires_at != 0 && now > up.expires_at {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("the upload URL for objectKey {key} has expired; prepare a new upload"),
            ));
        }
        if up.finalized {
            return Err(error(
                StatusCode::CONFLICT,
                format!("objectKey {key} is already a build; its artifact cannot be replaced"),
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
    // A new file renamed into place: workers hold links to earlier uploads' files, which must
    // never change under them.
    let tmp = path.with_extension(format!("upload-{}", crate::ids::short(8)));
    let write = async {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&tmp, &body).await?;
        tokio::fs::rename(&tmp, &path).await
    };
    write.await.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
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

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
