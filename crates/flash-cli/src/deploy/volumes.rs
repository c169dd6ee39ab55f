//! Network volumes named in the manifest without an id are found or created before deploy,
//! by name and datacenter, through Runpod's REST API (`{rest}/networkvolumes`), as Python Flash
//! does. Their ids are then part of the manifest the build records.

use serde_json::{Value, json};

use super::{DeployError, DeployOptions};
use runpod_flash::ApiKey;
use runpod_flash::manifest::{Manifest, NetworkVolume};

/// Fills in the id of every volume of `manifest` that has none.
///
/// # Errors
/// [`DeployError::Volume`] naming the resource and volume when listing or creating fails.
pub(crate) async fn resolve(
    manifest: &mut Manifest,
    options: &DeployOptions,
) -> Result<(), DeployError> {
    let needs_id = manifest.resources.values().any(|resource| {
        resource
            .network_volume
            .iter()
            .chain(resource.network_volumes.iter().flatten())
            .any(|v| v.id.is_none())
    });
    if !needs_id {
        return Ok(());
    }
    // Python Flash's REST client: its own User-Agent, a bounded wait, the key never echoed.
    let http = reqwest::Client::builder()
        .user_agent(runpod_flash::config::USER_AGENT)
        .timeout(runpod_flash::config::STATE_MANAGER_TIMEOUT)
        .build()
        .map_err(|e| DeployError::Volume {
            resource: "*".into(),
            message: format!("setting up the HTTP client: {e}"),
        })?;
    let base = options.rest_api_url.trim_end_matches('/');
    let key = options.api_key.clone();
    let rest = Rest {
        http: &http,
        base,
        key: key.as_ref(),
    };
    let mut known = rest.list().await.map_err(|message| DeployError::Volume {
        resource: "*".into(),
        message: format!("listing network volumes at {base}/networkvolumes: {message}"),
    })?;
    for (name, resource) in &mut manifest.resources {
        let volumes = resource
            .network_volume
            .iter_mut()
            .chain(resource.network_volumes.iter_mut().flatten());
        for volume in volumes.filter(|v| v.id.is_none()) {
            let id = match find(&known, volume) {
                Some(id) => id,
                None => {
                    let created =
                        rest.create(volume)
                            .await
                            .map_err(|message| DeployError::Volume {
                                resource: name.clone(),
                                message: format!(
                                    "creating network volume {}: {message}",
                                    volume.name.as_deref().unwrap_or("(unnamed)")
                                ),
                            })?;
                    let id = created["id"].as_str().unwrap_or_default().to_owned();
                    known.push(created);
                    id
                }
            };
            volume.id = Some(id);
        }
    }
    Ok(())
}

/// The datacenter a volume is looked up and created in: the manifest's, else Python Flash's
/// default.
fn data_center(volume: &NetworkVolume) -> &str {
    volume
        .data_center_id
        .as_deref()
        .unwrap_or(flash_contract::runpod::DEFAULT_VOLUME_DATACENTER)
}

fn find(known: &[Value], volume: &NetworkVolume) -> Option<String> {
    known
        .iter()
        .find(|v| {
            v["name"].as_str() == volume.name.as_deref()
                && v["dataCenterId"].as_str() == Some(data_center(volume))
        })
        .and_then(|v| v["id"].as_str().map(str::to_owned))
}

/// Runpod's REST API for network volumes.
struct Rest<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    key: Option<&'a ApiKey>,
}

impl Rest<'_> {
    async fn list(&self) -> Result<Vec<Value>, String> {
        let request = self.http.get(format!("{}/networkvolumes", self.base));
        Ok(match self.send(request).await? {
            Value::Array(list) => list,
            Value::Object(mut object) => match object.remove("networkVolumes") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        })
    }

    async fn create(&self, volume: &NetworkVolume) -> Result<Value, String> {
        let request = self
            .http
            .post(format!("{}/networkvolumes", self.base))
            .json(&json!({
                "name": volume.name,
                "size": volume.size.unwrap_or(100),
                "dataCenterId": data_center(volume),
            }));
        let body = self.send(request).await?;
        if body["id"].as_str().is_none() {
            return Err(self.redact(&format!("the answer has no volume id: {body}")));
        }
        Ok(body)
    }

    /// Sends with the Bearer key; any error text has the key redacted.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let request = match self.key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.redact(&e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.redact(&format!("HTTP {status}: {e}")))?;
        if !status.is_success() {
            let start: String = text.chars().take(512).collect();
            return Err(self.redact(&format!("HTTP {status}: {start}")));
        }
        serde_json::from_str(&text)
            .map_err(|e| self.redact(&format!("HTTP {status}: not JSON ({e})")))
    }

    fn redact(&self, text: &str) -> String {
        match self.key {
            Some(key) => key.redact(text),
            None => text.to_owned(),
        }
    }
}
