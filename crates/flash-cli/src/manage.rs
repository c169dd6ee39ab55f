//! `flash env list|get|create|delete` and `flash app list|get|create|delete`: thin wrappers
//! over the platform operations. Deletes first delete the endpoints the platform lists for each
//! environment, then the environment or app.

use flash_platform::Platform;
use flash_platform::{Environment, EnvironmentSummary, FlashApp, PlatformEndpoint};

use crate::deploy::{DeployError, DeployOptions, platform};
use crate::undeploy::delete_endpoints;

fn client(options: &DeployOptions) -> Result<Platform, DeployError> {
    if options.api_key.is_none() {
        return Err(DeployError::MissingApiKey);
    }
    options.client()
}

async fn app_by_name(client: &Platform, app: &str) -> Result<FlashApp, DeployError> {
    client
        .flash_app_by_name(app)
        .await
        .map_err(platform(format!("looking up app `{app}`")))?
        .ok_or_else(|| DeployError::AppNotFound {
            app: app.to_owned(),
        })
}

async fn env_by_name(
    client: &Platform,
    app: &str,
    app_id: &str,
    env: &str,
) -> Result<Option<Environment>, DeployError> {
    client
        .flash_environment_by_name(app_id, env)
        .await
        .map_err(platform(format!(
            "looking up environment `{env}` of app `{app}`"
        )))
}

/// Every app of the key's owner.
///
/// # Errors
/// [`DeployError::Platform`] when the request fails.
pub async fn app_list(options: &DeployOptions) -> Result<Vec<FlashApp>, DeployError> {
    client(options)?
        .flash_apps()
        .await
        .map_err(platform("listing Flash apps"))
}

/// App `options.app`.
///
/// # Errors
/// [`DeployError::AppNotFound`] when there is none.
pub async fn app_get(options: &DeployOptions) -> Result<FlashApp, DeployError> {
    app_by_name(&client(options)?, &options.app).await
}

/// Creates app `options.app`; returns it.
///
/// # Errors
/// [`DeployError::Platform`] when it exists already or the request fails.
pub async fn app_create(options: &DeployOptions) -> Result<FlashApp, DeployError> {
    let client = client(options)?;
    let app = &options.app;
    client
        .create_flash_app(app)
        .await
        .map_err(platform(format!("creating app `{app}`")))?;
    app_by_name(&client, app).await
}

/// Deletes app `options.app`: the endpoints of each of its environments, then the app.
/// Returns the deleted endpoints.
///
/// # Errors
/// [`DeployError::AppNotFound`], or [`DeployError::Platform`] naming what failed.
pub async fn app_delete(options: &DeployOptions) -> Result<Vec<PlatformEndpoint>, DeployError> {
    let client = client(options)?;
    let app = &options.app;
    let found = app_by_name(&client, app).await?;
    let mut deleted = Vec::new();
    for summary in &found.environments {
        let Some(name) = &summary.name else { continue };
        if let Some(env) = env_by_name(&client, app, &found.id, name).await? {
            delete_endpoints(&client, &env.endpoints).await?;
            deleted.extend(env.endpoints);
        }
    }
    client
        .delete_flash_app(&found.id)
        .await
        .map_err(platform(format!("deleting app `{app}`")))?;
    Ok(deleted)
}

/// The environments of app `options.app`.
///
/// # Errors
/// [`DeployError::AppNotFound`] when there is no such app.
pub async fn env_list(options: &DeployOptions) -> Result<Vec<EnvironmentSummary>, DeployError> {
    Ok(app_by_name(&client(options)?, &options.app)
        .await?
        .environments)
}

/// Environment `options.env` of app `options.app`, with its endpoints.
///
/// # Errors
/// [`DeployError::AppNotFound`] or [`DeployError::EnvironmentNotFound`].
pub async fn env_get(options: &DeployOptions) -> Result<Environment, DeployError> {
    let client = client(options)?;
    let found = app_by_name(&client, &options.app).await?;
    env_by_name(&client, &options.app, &found.id, &options.env)
        .await?
        .ok_or_else(|| DeployError::EnvironmentNotFound {
            app: options.app.clone(),
            env: options.env.clone(),
        })
}

/// Creates environment `options.env` in app `options.app` (creating the app when absent).
///
/// # Errors
/// [`DeployError::Platform`] when it exists already or a request fails.
pub async fn env_create(options: &DeployOptions) -> Result<Environment, DeployError> {
    let client = client(options)?;
    let (app, env) = (&options.app, &options.env);
    let app_id = match client
        .flash_app_by_name(app)
        .await
        .map_err(platform(format!("looking up app `{app}`")))?
    {
        Some(found) => found.id,
        None => client
            .create_flash_app(app)
            .await
            .map_err(platform(format!("creating app `{app}`")))?,
    };
    client
        .create_flash_environment(&app_id, env)
        .await
        .map_err(platform(format!(
            "creating environment `{env}` of app `{app}`"
        )))?;
    env_by_name(&client, app, &app_id, env)
        .await?
        .ok_or_else(|| DeployError::EnvironmentNotFound {
            app: app.clone(),
            env: env.clone(),
        })
}

/// Deletes environment `options.env` of app `options.app`: its endpoints, then the
/// environment. Returns the deleted endpoints.
///
/// # Errors
/// [`DeployError::AppNotFound`], [`DeployError::EnvironmentNotFound`], or
/// [`DeployError::Platform`] naming what failed.
pub async fn env_delete(options: &DeployOptions) -> Result<Vec<PlatformEndpoint>, DeployError> {
    let client = client(options)?;
    let (app, env) = (&options.app, &options.env);
    let found = app_by_name(&client, app).await?;
    let environment = env_by_name(&client, app, &found.id, env)
        .await?
        .ok_or_else(|| DeployError::EnvironmentNotFound {
            app: app.clone(),
            env: env.clone(),
        })?;
    delete_endpoints(&client, &environment.endpoints).await?;
    client
        .delete_flash_environment(&environment.id)
        .await
        .map_err(platform(format!(
            "deleting environment `{env}` of app `{app}`"
        )))?;
    Ok(environment.endpoints)
}
