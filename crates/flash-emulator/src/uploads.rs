//! The presigned-upload stand-in: `PUT /emulator/uploads/{object_key}?token=...` stores an
//! artifact, and `GET /emulator/artifacts/{object_key}` serves it back (the `downloadUrl`).
//! Like a presigned URL, the upload needs no API key, only the token from
//! `prepareFlashArtifactUpload`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
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
    body: Body,
) -> Result<Response, Response> {
    // Checked before a byte of the body is read: an upload without a valid slot and token
    // costs the emulator nothing.
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
    let path = upload_path(&core.settings.state_dir, &key);
    // A new file renamed into place: workers hold links to earlier uploads' files, which must
    // never change under them.
    let tmp = path.with_extension(format!("upload-{}", crate::ids::short(8)));
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot store artifact {key}: {e}"),
            )
        })?;
    }
    let stored = match store_body(body, &tmp, MAX_ARTIFACT_BYTES).await {
        Ok(()) => tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| Refused::Io(e.to_string())),
        Err(refused) => Err(refused),
    };
    if let Err(refused) = stored {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(refused.reply(&key));
    }
    if let Some(up) = core.store().uploads.get_mut(&key) {
        up.uploaded = true;
    }
    core.persist();
    Ok(StatusCode::OK.into_response())
}

/// Why an upload body was not stored.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    NotGzip,
    TooLarge(usize),
    Body(String),
    Io(String),
}

impl Refused {
    fn reply(&self, key: &str) -> Response {
        match self {
            Self::NotGzip => error(
                StatusCode::BAD_REQUEST,
                format!("artifact {key} is not gzip data"),
            ),
            Self::TooLarge(limit) => error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("artifact {key} is over the {limit}-byte limit of a build artifact"),
            ),
            Self::Body(e) => error(
                StatusCode::BAD_REQUEST,
                format!("artifact {key}: the upload was cut off: {e}"),
            ),
            Self::Io(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot store artifact {key}: {e}"),
            ),
        }
    }
}

/// Writes `body` to `path` as it arrives (never more than one chunk in memory), refusing it
/// once it passes `limit` bytes or when it does not start like gzip data.
async fn store_body(body: Body, path: &std::path::Path, limit: usize) -> Result<(), Refused> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let mut stream = body.into_data_stream();
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Refused::Io(e.to_string()))?;
    let mut written = 0usize;
    let mut head: Vec<u8> = Vec::with_capacity(2);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Refused::Body(e.to_string()))?;
        if head.len() < 2 {
            head.extend(chunk.iter().take(2 - head.len()));
            if head.len() == 2 && head != [0x1f, 0x8b] {
                return Err(Refused::NotGzip);
            }
        }
        written += chunk.len();
        if written > limit {
            return Err(Refused::TooLarge(limit));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| Refused::Io(e.to_string()))?;
    }
    if head.len() < 2 {
        return Err(Refused::NotGzip);
    }
    file.sync_all()
        .await
        .map_err(|e| Refused::Io(e.to_string()))
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
    // Streamed from the file: an artifact may be 1.5 GB.
    match tokio::fs::File::open(upload_path(&core.settings.state_dir, &key)).await {
        Ok(file) => {
            let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0; 256 * 1024];
                let n = file.read(&mut buf).await?;
                buf.truncate(n);
                Ok::<_, std::io::Error>((n > 0).then(|| (Bytes::from(buf), file)))
            });
            (
                [("content-type", "application/gzip")],
                Body::from_stream(chunks),
            )
                .into_response()
        }
        Err(_) => error(StatusCode::NOT_FOUND, format!("artifact {key} not found")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(chunks: Vec<&'static [u8]>, limit: usize) -> (Result<(), Refused>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        let result = store_body(Body::from_stream(stream), &path, limit).await;
        (result, std::fs::read(&path).unwrap_or_default())
    }

    #[tokio::test]
    async fn an_upload_is_written_as_it_arrives_and_refused_past_the_limit_or_without_gzip_magic() {
        let (ok, written) = store(vec![&[0x1f], &[0x8b, 1, 2], &[3]], 5).await;
        assert_eq!(ok, Ok(()));
        assert_eq!(written, [0x1f, 0x8b, 1, 2, 3]);
        let (over, _) = store(vec![&[0x1f, 0x8b, 1], &[2, 3, 4]], 5).await;
        assert_eq!(over, Err(Refused::TooLarge(5)));
        let (plain, _) = store(vec![b"PK", b"zip"], 100).await;
        assert_eq!(plain, Err(Refused::NotGzip));
        let (short, _) = store(vec![&[0x1f]], 100).await;
        assert_eq!(short, Err(Refused::NotGzip));
    }
}
