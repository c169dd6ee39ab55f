//! `flash undeploy [NAME | --all]`: delete the endpoints the platform lists for an environment.
//!
//! Driven by the platform, not by local files: whatever `flashEnvironmentByName` lists is what
//! gets deleted (filtered by name for `NAME`). Afterwards the deleted resources are taken out of
//! the active build's manifest (`endpoint_id`, `resources_endpoints`) so no peer routes to them,
//! and out of `.flash/resources.json`.

use flash_platform::{Platform, PlatformEndpoint};
use runpod_flash::manifest::ManifestDocument;
use serde::Serialize;

use crate::deploy::{DeployError, DeployOptions, local_state, platform};
use crate::project::Project;

/// What to undeploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndeployTarget {
    /// Every endpoint of the environment.
    All,
    /// The endpoint of one resource (by endpoint name).
    Resource(String),
}

/// The outcome of [`undeploy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndeployReport {
    /// App name.
    pub app: String,
    /// Environment name.
    pub environment: String,
    /// The deleted endpoints.
    pub deleted: Vec<PlatformEndpoint>,
}

/// The environment id and the endpoints [`undeploy`] would delete (for a confirmation prompt).
/// An app or environment that does not exist has nothing to undeploy.
///
/// # Errors
/// [`DeployError::Platform`] when a lookup fails.
pub async fn targets(
    options: &DeployOptions,
    target: &UndeployTarget,
) -> Result<Option<(String, Vec<PlatformEndpoint>)>, DeployError> {
    let client = client(options)?;
    targets_with(&client, options, target).await
}

async fn targets_with(
    client: &Platform,
    options: &DeployOptions,
    target: &UndeployTarget,
) -> Result<Option<(String, Vec<PlatformEndpoint>)>, DeployError> {
    let (app, env) = (&options.app, &options.env);
    let Some(found) = client
        .flash_app_by_name(app)
        .await
        .map_err(platform(format!("looking up app `{app}`")))?
    else {
        return Ok(None);
    };
    let Some(environment) = client
        .flash_environment_by_name(&found.id, env)
        .await
        .map_err(platform(format!(
            "looking up environment `{env}` of app `{app}`"
        )))?
    else {
        return Ok(None);
    };
    let endpoints = environment
        .endpoints
        .into_iter()
        .filter(|e| match target {
            UndeployTarget::All => true,
            UndeployTarget::Resource(name) => e.name.as_deref() == Some(name.as_str()),
        })
        .collect();
    Ok(Some((environment.id, endpoints)))
}

fn client(options: &DeployOptions) -> Result<Platform, DeployError> {
    if options.api_key.is_none() {
        return Err(DeployError::MissingApiKey);
    }
    options.client()
}

/// Deletes the endpoints of `target` in `options.app`/`options.env`, then drops them from the
/// active build's manifest and (with a project) from `.flash/resources.json`.
///
/// # Errors
/// [`DeployError::Platform`] naming the endpoint that could not be deleted.
pub async fn undeploy(
    project: Option<&Project>,
    options: &DeployOptions,
    target: &UndeployTarget,
) -> Result<UndeployReport, DeployError> {
    let client = client(options)?;
    let mut report = UndeployReport {
        app: options.app.clone(),
        environment: options.env.clone(),
        deleted: Vec::new(),
    };
    let Some((environment_id, endpoints)) = targets_with(&client, options, target).await? else {
        return Ok(report);
    };
    delete_endpoints(&client, &endpoints).await?;
    let names: Vec<String> = endpoints.iter().filter_map(|e| e.name.clone()).collect();
    forget_in_manifest(&client, &environment_id, &endpoints).await?;
    if let Some(project) = project {
        let key = local_state::key(&options.app, &options.env);
        local_state::update(&project.state_path(), |state| {
            if let Some(env) = state.environments.get_mut(&key) {
                env.resources.retain(|name, r| {
                    !names.contains(name) && !endpoints.iter().any(|e| e.id == r.endpoint_id)
                });
            }
        })?;
    }
    report.deleted = endpoints;
    Ok(report)
}

/// Deletes each endpoint; every failure is reported, the others still deleted.
pub(crate) async fn delete_endpoints(
    client: &Platform,
    endpoints: &[PlatformEndpoint],
) -> Result<(), DeployError> {
    let mut failures = Vec::new();
    for endpoint in endpoints {
        if let Err(source) = client.delete_endpoint(&endpoint.id).await {
            failures.push(
                DeployError::Platform {
                    step: format!(
                        "deleting endpoint `{}` ({})",
                        endpoint.id,
                        endpoint.name.as_deref().unwrap_or("unnamed")
                    ),
                    source,
                }
                .to_string(),
            );
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Provisioning { failures })
    }
}

/// Removes the deleted endpoints from the active build's manifest.
async fn forget_in_manifest(
    client: &Platform,
    environment_id: &str,
    deleted: &[PlatformEndpoint],
) -> Result<(), DeployError> {
    if deleted.is_empty() {
        return Ok(());
    }
    let Ok(environment) = client.flash_environment(environment_id).await else {
        return Ok(());
    };
    let Some(build_id) = environment.active_build_id.filter(|id| !id.is_empty()) else {
        return Ok(());
    };
    let Ok(build) = client.flash_build(&build_id).await else {
        return Ok(());
    };
    let Some(manifest) = build.manifest else {
        return Ok(());
    };
    let mut manifest = ManifestDocument::new(manifest);
    let ids: Vec<&str> = deleted.iter().map(|e| e.id.as_str()).collect();
    if manifest.forget_endpoints(&ids).is_empty() {
        return Ok(());
    }
    let manifest = manifest.into_value();
    client
        .update_flash_build_manifest(&build_id, &manifest)
        .await
        .map_err(platform(format!(
            "removing undeployed endpoints from the manifest of build `{build_id}`"
        )))?;
    Ok(())
}
