//! Publishing what was provisioned: each resource's endpoint id, deploy hash and URL in the new
//! build's manifest (`updateFlashBuildManifest`), which is how peers find one another.

use std::collections::BTreeMap;

use flash_platform::Platform;
use runpod_flash::manifest::ManifestDocument;

use super::{DeployError, DeployedEndpoint, EndpointAction, platform};

/// Writes the endpoints provisioned into `manifest` (which carries forward what ran before for
/// the others) and pushes it to build `build_id`.
pub(crate) async fn publish(
    client: &Platform,
    build_id: &str,
    manifest: &ManifestDocument,
    endpoints: &[DeployedEndpoint],
    hashes: &BTreeMap<&str, &str>,
) -> Result<(), DeployError> {
    let mut manifest = manifest.clone();
    for done in endpoints
        .iter()
        .filter(|e| e.action != EndpointAction::Deleted)
    {
        let hash = hashes.get(done.resource.as_str()).copied().unwrap_or("");
        manifest.set_deployed(&done.resource, &done.endpoint_id, hash, &done.url);
    }
    client
        .update_flash_build_manifest(build_id, &manifest.into_value())
        .await
        .map_err(platform(format!(
            "publishing the endpoint URLs in the manifest of build `{build_id}`"
        )))?;
    Ok(())
}
