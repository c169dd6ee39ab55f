//! The app and environment a deploy goes to, and what the environment runs now.

use flash_platform::{Environment, Platform};
use runpod_flash::error::StateManagerError;
use runpod_flash::manifest::ManifestDocument;

use super::{DeployError, platform};

/// The id of app `app`, created when absent.
pub(crate) async fn get_or_create_app(client: &Platform, app: &str) -> Result<String, DeployError> {
    match client
        .flash_app_by_name(app)
        .await
        .map_err(platform(format!("looking up app `{app}`")))?
    {
        Some(found) => Ok(found.id),
        None => client
            .create_flash_app(app)
            .await
            .map_err(platform(format!("creating app `{app}`"))),
    }
}

/// Environment `env` of app `app`, created when absent.
pub(crate) async fn get_or_create_environment(
    client: &Platform,
    app: &str,
    app_id: &str,
    env: &str,
) -> Result<Environment, DeployError> {
    let lookup = || async {
        client
            .flash_environment_by_name(app_id, env)
            .await
            .map_err(platform(format!(
                "looking up environment `{env}` of app `{app}`"
            )))
    };
    if let Some(found) = lookup().await? {
        return Ok(found);
    }
    client
        .create_flash_environment(app_id, env)
        .await
        .map_err(platform(format!(
            "creating environment `{env}` of app `{app}`"
        )))?;
    lookup()
        .await?
        .ok_or_else(|| DeployError::EnvironmentNotFound {
            app: app.to_owned(),
            env: env.to_owned(),
        })
}

/// The manifest of the environment's active build (what the previous deploy published); empty
/// before the first deploy.
pub(crate) async fn previous_build(
    client: &Platform,
    environment: &Environment,
) -> Result<ManifestDocument, DeployError> {
    let empty = || ManifestDocument::new(serde_json::Value::Null);
    let Some(build_id) = &environment.active_build_id else {
        return Ok(empty());
    };
    match client.flash_build(build_id).await {
        Ok(build) => Ok(build.manifest.map_or_else(empty, ManifestDocument::new)),
        Err(StateManagerError::Missing { .. }) => Ok(empty()),
        Err(source) => Err(DeployError::Platform {
            step: format!("reading the manifest of the active build `{build_id}`"),
            source,
        }),
    }
}
