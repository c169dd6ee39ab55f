//! prepare → PUT → finalize.

use flash_platform::Platform;
use runpod_flash::config;

use super::build_output::BuildOutput;
use super::{DeployError, platform};

/// prepare → PUT → finalize; the new build's id.
pub(crate) async fn upload(
    client: &Platform,
    app_id: &str,
    build: &BuildOutput,
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
    let mut failure = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(2u64 << attempt)).await;
        }
        let response = http
            .put(&target.upload_url)
            .header(reqwest::header::CONTENT_TYPE, "application/gzip")
            .timeout(std::time::Duration::from_secs(600))
            .body(build.artifact.clone())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
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
