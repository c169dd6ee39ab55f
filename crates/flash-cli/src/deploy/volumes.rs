//! Network volumes named in the manifest without an id are found or created before deploy,
//! by name and datacenter, through Runpod's REST API (`{rest}/networkvolumes`), as Python Flash
//! does. Their ids are then part of the manifest the build records.

use serde_json::{Value, json};

use super::{DeployError, DeployOptions};
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
    let http = reqwest::Client::new();
    let base = options.rest_api_url.trim_end_matches('/');
    let key = options
        .api_key
        .as_ref()
        .map(|key| key.expose().to_owned())
        .unwrap_or_default();
    let mut known = list(&http, base, &key)
        .await
        .map_err(|message| DeployError::Volume {
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
                    let created = create(&http, base, &key, volume).await.map_err(|message| {
                        DeployError::Volume {
                            resource: name.clone(),
                            message: format!(
                                "creating network volume {}: {message}",
                                volume.name.as_deref().unwrap_or("(unnamed)")
                            ),
                        }
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

fn find(known: &[Value], volume: &NetworkVolume) -> Option<String> {
    known
        .iter()
        .find(|v| {
            v["name"].as_str() == volume.name.as_deref()
                && (volume.data_center_id.is_none()
                    || v["dataCenterId"].as_str() == volume.data_center_id.as_deref())
        })
        .and_then(|v| v["id"].as_str().map(str::to_owned))
}

async fn list(http: &reqwest::Client, base: &str, key: &str) -> Result<Vec<Value>, String> {
    let response = http
        .get(format!("{base}/networkvolumes"))
        .bearer_auth(key)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {status}: {e}"))?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(match body {
        Value::Array(list) => list,
        Value::Object(mut object) => match object.remove("networkVolumes") {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    })
}

async fn create(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    volume: &NetworkVolume,
) -> Result<Value, String> {
    let response = http
        .post(format!("{base}/networkvolumes"))
        .bearer_auth(key)
        .json(&json!({
            "name": volume.name,
            "size": volume.size.unwrap_or(100),
            "dataCenterId": volume.data_center_id,
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {status}: {e}"))?;
    if !status.is_success() || body["id"].as_str().is_none() {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(body)
}
