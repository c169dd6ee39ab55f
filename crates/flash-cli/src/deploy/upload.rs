//! prepare → PUT → finalize.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flash_platform::Platform;
use runpod_flash::config;

use crate::progress::{Event, Progress};

use super::build_output::BuildOutput;
use super::{DeployError, platform};

/// prepare → PUT → finalize; the new build's id.
pub(crate) async fn upload(
    client: &Platform,
    app_id: &str,
    build: &BuildOutput,
    progress: &dyn Progress,
) -> Result<String, DeployError> {
    let size = u64::try_from(build.artifact.len()).unwrap_or(u64::MAX);
    let target = client
        .prepare_artifact_upload(app_id, size)
        .await
        .map_err(platform("preparing the artifact upload"))?;
    let upload_error = |message: String| DeployError::Upload {
        path: build.artifact_path.clone(),
        message,
    };
    let http = reqwest::Client::builder()
        .user_agent(config::USER_AGENT)
        .build()
        .map_err(|e| upload_error(format!("cannot set up the HTTP client: {e}")))?;
    let artifact = Arc::new(build.artifact.clone());
    let mut failure = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2u64 << attempt)).await;
        }
        let sent = Arc::new(AtomicU64::new(0));
        let request = http
            .put(&target.upload_url)
            .header(reqwest::header::CONTENT_TYPE, "application/gzip")
            // A stream has no length of its own, and presigned PUTs refuse chunked bodies.
            .header(reqwest::header::CONTENT_LENGTH, size)
            .timeout(Duration::from_secs(600))
            .body(counted_body(&artifact, &sent))
            .send();
        let response = report_while(request, &sent, size, progress).await;
        match response {
            Ok(r) if r.status().is_success() => {
                progress.event(&Event::Upload {
                    sent: size,
                    total: size,
                });
                failure = None;
                break;
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                failure = Some(format!(
                    "HTTP {status}: {}",
                    body.chars().take(300).collect::<String>()
                ));
                if !status.is_server_error() {
                    break;
                }
            }
            // Without the URL: it carries the upload token.
            Err(e) => failure = Some(e.without_url().to_string()),
        }
    }
    if let Some(message) = failure {
        return Err(upload_error(message));
    }
    client
        .finalize_artifact_upload(app_id, &target.object_key, &build.raw.as_value())
        .await
        .map_err(platform("finalizing the artifact upload"))
}

/// How much of the artifact the HTTP client takes at a time (and so the progress step).
const CHUNK: usize = 256 * 1024;

/// The artifact as a stream of chunks that adds each chunk's length to `sent` as the HTTP
/// client takes it.
fn counted_body(artifact: &Arc<Vec<u8>>, sent: &Arc<AtomicU64>) -> reqwest::Body {
    let (artifact, sent) = (Arc::clone(artifact), Arc::clone(sent));
    let chunks = artifact.len().div_ceil(CHUNK);
    reqwest::Body::wrap_stream(futures_util::stream::iter((0..chunks).map(move |i| {
        let chunk = artifact[i * CHUNK..artifact.len().min((i + 1) * CHUNK)].to_vec();
        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(chunk)
    })))
}

/// Awaits `request`, reporting `sent` every 100 ms meanwhile.
async fn report_while<T>(
    request: impl Future<Output = T>,
    sent: &AtomicU64,
    total: u64,
    progress: &dyn Progress,
) -> T {
    tokio::pin!(request);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            done = &mut request => return done,
            _ = tick.tick() => progress.event(&Event::Upload {
                // Below the total until the server has answered.
                sent: sent.load(Ordering::Relaxed).min(total.saturating_sub(1)),
                total,
            }),
        }
    }
}
