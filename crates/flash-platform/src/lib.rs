//! # flash-platform
//!
//! The platform half of Runpod's control plane: Flash apps, environments, builds, artifact
//! uploads, endpoints and templates, as `flash deploy`, `flash undeploy`, `flash env` and
//! `flash app` use them. A worker never needs these, so they live outside `runpod-flash`, which
//! keeps only the State Manager read path ([`StateManagerClient`]).
//!
//! [`Platform`] wraps a [`StateManagerClient`] and shares its transport: one connection pool,
//! the Bearer key, the per-request timeout, retries of queries on transient failures, mutations
//! sent exactly once, and [`StateManagerError`]s that name the operation and never contain the
//! key. The types here are hand-written; the graphql_client codegen stays private.

mod ops;

use std::ops::Deref;

use runpod_flash::ApiKey;
use runpod_flash::error::StateManagerError;
use runpod_flash::state_manager::StateManagerClient;
use serde_json::Value;

/// A State Manager client that also speaks the control plane's operations. Dereferences to the
/// [`StateManagerClient`] it wraps, for the State Manager's own operations (builds, manifests).
#[derive(Debug, Clone)]
pub struct Platform {
    client: StateManagerClient,
}

impl Platform {
    /// The control plane through `client`'s transport.
    pub fn new(client: StateManagerClient) -> Self {
        Self { client }
    }

    /// The State Manager client underneath.
    pub fn state_manager(&self) -> &StateManagerClient {
        &self.client
    }
}

impl Deref for Platform {
    type Target = StateManagerClient;

    fn deref(&self) -> &StateManagerClient {
        &self.client
    }
}

/// GraphQL operation names, as Python Flash sends them.
pub mod operation {
    use super::ops;

    /// Every Flash app of the key's owner.
    pub const GET_FLASH_APPS: &str = ops::get_flash_apps::OPERATION_NAME;
    /// A Flash app by name.
    pub const GET_FLASH_APP_BY_NAME: &str = ops::get_flash_app_by_name::OPERATION_NAME;
    /// A Flash environment by app and name.
    pub const GET_FLASH_ENVIRONMENT_BY_NAME: &str =
        ops::get_flash_environment_by_name::OPERATION_NAME;
    /// Creates a Flash app.
    pub const CREATE_FLASH_APP: &str = ops::create_flash_app::OPERATION_NAME;
    /// Creates a Flash environment.
    pub const CREATE_FLASH_ENVIRONMENT: &str = ops::create_flash_environment::OPERATION_NAME;
    /// Asks where to upload an artifact.
    pub const PREPARE_ARTIFACT_UPLOAD: &str = ops::prepare_artifact_upload::OPERATION_NAME;
    /// Turns an uploaded artifact into a build.
    pub const FINALIZE_ARTIFACT_UPLOAD: &str = ops::finalize_artifact_upload::OPERATION_NAME;
    /// Activates a build in an environment.
    pub const DEPLOY_BUILD_TO_ENVIRONMENT: &str = ops::deploy_build_to_environment::OPERATION_NAME;
    /// Deletes a Flash app.
    pub const DELETE_FLASH_APP: &str = ops::delete_flash_app::OPERATION_NAME;
    /// Deletes a Flash environment.
    pub const DELETE_FLASH_ENVIRONMENT: &str = ops::delete_flash_environment::OPERATION_NAME;
    /// Creates or updates an endpoint.
    pub const SAVE_ENDPOINT: &str = ops::save_endpoint::OPERATION_NAME;
    /// Creates or replaces a template.
    pub const SAVE_TEMPLATE: &str = ops::save_template::OPERATION_NAME;
    /// Deletes an endpoint.
    pub const DELETE_ENDPOINT: &str = ops::delete_endpoint::OPERATION_NAME;
    /// An endpoint by id.
    pub const GET_ENDPOINT: &str = ops::get_endpoint::OPERATION_NAME;
}

/// A Flash app with its environments and builds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FlashApp {
    /// App id.
    pub id: String,
    /// App name.
    pub name: Option<String>,
    /// Its environments.
    pub environments: Vec<EnvironmentSummary>,
    /// Its builds.
    pub builds: Vec<BuildSummary>,
}

/// An environment as listed under its app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnvironmentSummary {
    /// Environment id.
    pub id: String,
    /// Environment name.
    pub name: Option<String>,
    /// Platform state, verbatim.
    pub state: Option<String>,
    /// The build deployed to it.
    pub active_build_id: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
}

/// A build as listed under its app.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildSummary {
    /// Build id.
    pub id: String,
    /// Storage key of its artifact.
    pub object_key: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
}

/// An environment with the endpoints the platform says belong to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Environment {
    /// Environment id.
    pub id: String,
    /// Environment name.
    pub name: Option<String>,
    /// Platform state, verbatim.
    pub state: Option<String>,
    /// The build deployed to it.
    pub active_build_id: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
    /// Its endpoints.
    pub endpoints: Vec<PlatformEndpoint>,
    /// Names (or ids) of its network volumes.
    pub network_volumes: Vec<String>,
}

/// An endpoint as the platform reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlatformEndpoint {
    /// Endpoint id.
    pub id: String,
    /// Endpoint name.
    pub name: Option<String>,
    /// `QB` or `LB`.
    pub kind: Option<String>,
    /// Its template.
    pub template_id: Option<String>,
}

/// Where to upload an artifact (`prepareFlashArtifactUpload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUpload {
    /// Presigned URL to `PUT` the tarball to, without a Bearer key. Contains a token: do not log.
    pub upload_url: String,
    /// Storage key, passed to `finalizeFlashArtifactUpload`.
    pub object_key: String,
}

/// A template of `saveEndpoint` (inline) or `saveTemplate`.
///
/// `Debug` shows the env's keys only: values may be secrets (`RUNPOD_API_KEY`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TemplateSpec {
    /// Template id, for `saveTemplate` updates; ignored inline.
    pub id: Option<String>,
    /// Template name.
    pub name: String,
    /// Container image.
    pub image_name: Option<String>,
    /// Container disk in GB.
    pub container_disk_in_gb: Option<u64>,
    /// Extra docker arguments.
    pub docker_args: Option<String>,
    /// Start script.
    pub start_script: Option<String>,
    /// Exposed ports (`80/http` for load-balanced workers).
    pub ports: Option<String>,
    /// Environment variables, in order. May hold secrets: never log.
    pub env: Vec<(String, String)>,
}

impl std::fmt::Debug for TemplateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("TemplateSpec")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("image_name", &self.image_name)
            .field("container_disk_in_gb", &self.container_disk_in_gb)
            .field("docker_args", &self.docker_args)
            .field("start_script", &self.start_script)
            .field("ports", &self.ports)
            .field("env_keys", &keys)
            .finish()
    }
}

/// Input of `saveEndpoint`: create when `id` is `None`, else update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointSpec {
    /// Endpoint to update.
    pub id: Option<String>,
    /// Endpoint name.
    pub name: String,
    /// `QB` or `LB`.
    pub kind: Option<String>,
    /// Minimum workers.
    pub workers_min: Option<u32>,
    /// Maximum workers.
    pub workers_max: Option<u32>,
    /// Seconds a worker may idle.
    pub idle_timeout: Option<u32>,
    /// `QUEUE_DELAY` or `REQUEST_COUNT`.
    pub scaler_type: Option<String>,
    /// Scaler threshold.
    pub scaler_value: Option<u32>,
    /// Job timeout in ms, 0 for none.
    pub execution_timeout_ms: Option<u64>,
    /// Comma-separated datacenters.
    pub locations: Option<String>,
    /// The Flash environment the endpoint belongs to.
    pub flash_environment_id: Option<String>,
    /// Whether workers use FlashBoot (`flashBootType: FLASHBOOT`; left out otherwise, as every
    /// official client does: the enum has no "off" value over GraphQL).
    pub flashboot: bool,
    /// One network volume.
    pub network_volume_id: Option<String>,
    /// Several network volumes, by id.
    pub network_volume_ids: Option<Vec<String>>,
    /// Comma-separated GPU pools.
    pub gpu_ids: Option<String>,
    /// GPUs per worker.
    pub gpu_count: Option<u32>,
    /// Minimum CUDA version.
    pub min_cuda_version: Option<String>,
    /// CPU instance types.
    pub instance_ids: Option<Vec<String>>,
    /// An existing template (exclusive with `template`).
    pub template_id: Option<String>,
    /// An inline template (exclusive with `template_id`).
    pub template: Option<TemplateSpec>,
}

/// What `saveEndpoint` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedEndpoint {
    /// Endpoint id.
    pub id: String,
    /// Endpoint name.
    pub name: Option<String>,
    /// `QB` or `LB`.
    pub kind: Option<String>,
    /// Its template.
    pub template_id: Option<String>,
    /// The endpoint's key (redacted in `Debug`).
    pub ai_key: Option<ApiKey>,
    /// Configuration version.
    pub version: Option<i64>,
}

/// Env pairs as the GraphQL input items `make` builds.
fn env_input<T>(env: &[(String, String)], make: impl Fn(String, String) -> T) -> Vec<T> {
    env.iter()
        .map(|(key, value)| make(key.clone(), value.clone()))
        .collect()
}

fn to_i64(value: Option<u32>) -> Option<i64> {
    value.map(i64::from)
}

fn to_i64_u64(value: Option<u64>) -> Option<i64> {
    value.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// "... not found" in a GraphQL error of a by-name lookup means "absent".
fn is_not_found(error: &StateManagerError) -> bool {
    matches!(error, StateManagerError::GraphQl { messages, .. }
        if messages.iter().any(|m| m.to_ascii_lowercase().contains("not found")))
}

impl Platform {
    /// Every Flash app of the key's owner (`getFlashApps`).
    pub async fn flash_apps(&self) -> Result<Vec<FlashApp>, StateManagerError> {
        use ops::get_flash_apps as q;
        let data = self.client.query::<ops::GetFlashApps>(q::Variables).await?;
        Ok(data
            .myself
            .flash_apps
            .unwrap_or_default()
            .into_iter()
            .map(|a| FlashApp {
                id: a.id,
                name: a.name,
                environments: a
                    .flash_environments
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| EnvironmentSummary {
                        id: e.id,
                        name: e.name,
                        state: e.state,
                        active_build_id: e.active_build_id,
                        created_at: e.created_at,
                    })
                    .collect(),
                builds: a
                    .flash_builds
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| BuildSummary {
                        id: b.id,
                        object_key: b.object_key,
                        created_at: b.created_at,
                    })
                    .collect(),
            })
            .collect())
    }

    /// The Flash app named `name` (`getFlashAppByName`), `None` when there is none.
    pub async fn flash_app_by_name(
        &self,
        name: &str,
    ) -> Result<Option<FlashApp>, StateManagerError> {
        use ops::get_flash_app_by_name as q;
        let variables = q::Variables {
            flash_app_name: name.to_owned(),
        };
        let a = match self.client.query::<ops::GetFlashAppByName>(variables).await {
            Ok(data) => data.flash_app_by_name,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(Some(FlashApp {
            id: a.id,
            name: a.name,
            environments: a
                .flash_environments
                .unwrap_or_default()
                .into_iter()
                .map(|e| EnvironmentSummary {
                    id: e.id,
                    name: e.name,
                    state: e.state,
                    active_build_id: e.active_build_id,
                    created_at: e.created_at,
                })
                .collect(),
            builds: a
                .flash_builds
                .unwrap_or_default()
                .into_iter()
                .map(|b| BuildSummary {
                    id: b.id,
                    object_key: b.object_key,
                    created_at: b.created_at,
                })
                .collect(),
        }))
    }

    /// The environment `name` of app `app_id` with its endpoints (`getFlashEnvironmentByName`),
    /// `None` when there is none.
    pub async fn flash_environment_by_name(
        &self,
        app_id: &str,
        name: &str,
    ) -> Result<Option<Environment>, StateManagerError> {
        use ops::get_flash_environment_by_name as q;
        let variables = q::Variables {
            input: q::FlashEnvironmentByNameInput {
                flash_app_id: app_id.to_owned(),
                name: name.to_owned(),
            },
        };
        let e = match self
            .client
            .query::<ops::GetFlashEnvironmentByName>(variables)
            .await
        {
            Ok(data) => data.flash_environment_by_name,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(e) = e else { return Ok(None) };
        Ok(Some(Environment {
            id: e.id,
            name: e.name,
            state: e.state,
            active_build_id: e.active_build_id.filter(|id| !id.is_empty()),
            created_at: e.created_at,
            endpoints: e
                .endpoints
                .unwrap_or_default()
                .into_iter()
                // An environment lists only ids and names (all any official client selects
                // there); `endpoint` has the rest.
                .map(|p| PlatformEndpoint {
                    id: p.id,
                    name: p.name,
                    kind: None,
                    template_id: None,
                })
                .collect(),
            network_volumes: e
                .network_volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name.unwrap_or(v.id))
                .collect(),
        }))
    }

    /// Creates the Flash app `name` (`createFlashApp`); returns its id.
    pub async fn create_flash_app(&self, name: &str) -> Result<String, StateManagerError> {
        use ops::create_flash_app as q;
        let variables = q::Variables {
            input: q::CreateFlashAppInput {
                name: name.to_owned(),
            },
        };
        let data = self.client.mutate::<ops::CreateFlashApp>(variables).await?;
        Ok(data.create_flash_app.id)
    }

    /// Creates environment `name` in app `app_id` (`createFlashEnvironment`); returns its id.
    pub async fn create_flash_environment(
        &self,
        app_id: &str,
        name: &str,
    ) -> Result<String, StateManagerError> {
        use ops::create_flash_environment as q;
        let variables = q::Variables {
            input: q::CreateFlashEnvironmentInput {
                flash_app_id: app_id.to_owned(),
                name: name.to_owned(),
            },
        };
        let data = self
            .client
            .mutate::<ops::CreateFlashEnvironment>(variables)
            .await?;
        Ok(data.create_flash_environment.id)
    }

    /// Asks where to upload an artifact of `size` bytes for app `app_id`
    /// (`prepareFlashArtifactUpload`).
    pub async fn prepare_artifact_upload(
        &self,
        app_id: &str,
        size: u64,
    ) -> Result<ArtifactUpload, StateManagerError> {
        use ops::prepare_artifact_upload as q;
        let variables = q::Variables {
            input: q::PrepareFlashArtifactUploadInput {
                flash_app_id: app_id.to_owned(),
                tarball_size: i64::try_from(size).unwrap_or(i64::MAX),
            },
        };
        let data = self
            .client
            .mutate::<ops::PrepareArtifactUpload>(variables)
            .await?;
        Ok(ArtifactUpload {
            upload_url: data.prepare_flash_artifact_upload.upload_url,
            object_key: data.prepare_flash_artifact_upload.object_key,
        })
    }

    /// Turns the uploaded `object_key` and its `manifest` into a build
    /// (`finalizeFlashArtifactUpload`); returns the build id.
    pub async fn finalize_artifact_upload(
        &self,
        app_id: &str,
        object_key: &str,
        manifest: &Value,
    ) -> Result<String, StateManagerError> {
        use ops::finalize_artifact_upload as q;
        let variables = q::Variables {
            input: q::FinalizeFlashArtifactUploadInput {
                flash_app_id: app_id.to_owned(),
                object_key: object_key.to_owned(),
                manifest: manifest.clone(),
            },
        };
        let data = self
            .client
            .mutate::<ops::FinalizeArtifactUpload>(variables)
            .await?;
        Ok(data.finalize_flash_artifact_upload.id)
    }

    /// Makes `build_id` the active build of `environment_id` (`deployBuildToEnvironment`).
    pub async fn deploy_build_to_environment(
        &self,
        environment_id: &str,
        build_id: &str,
    ) -> Result<(), StateManagerError> {
        use ops::deploy_build_to_environment as q;
        let variables = q::Variables {
            input: q::DeployBuildToEnvironmentInput {
                flash_environment_id: environment_id.to_owned(),
                flash_build_id: build_id.to_owned(),
            },
        };
        self.client
            .mutate::<ops::DeployBuildToEnvironment>(variables)
            .await?;
        Ok(())
    }

    /// Deletes app `app_id` with its environments, builds and endpoints (`deleteFlashApp`).
    pub async fn delete_flash_app(&self, app_id: &str) -> Result<(), StateManagerError> {
        use ops::delete_flash_app as q;
        let variables = q::Variables {
            flash_app_id: app_id.to_owned(),
        };
        self.client.mutate::<ops::DeleteFlashApp>(variables).await?;
        Ok(())
    }

    /// Deletes environment `environment_id` and its endpoints (`deleteFlashEnvironment`).
    pub async fn delete_flash_environment(
        &self,
        environment_id: &str,
    ) -> Result<(), StateManagerError> {
        use ops::delete_flash_environment as q;
        let variables = q::Variables {
            flash_environment_id: environment_id.to_owned(),
        };
        self.client
            .mutate::<ops::DeleteFlashEnvironment>(variables)
            .await?;
        Ok(())
    }

    /// Creates or updates an endpoint (`saveEndpoint`).
    pub async fn save_endpoint(
        &self,
        spec: &EndpointSpec,
    ) -> Result<SavedEndpoint, StateManagerError> {
        use ops::save_endpoint as q;
        let template = spec.template.as_ref().map(|t| q::EndpointTemplateInput {
            name: t.name.clone(),
            image_name: t.image_name.clone(),
            container_disk_in_gb: to_i64_u64(t.container_disk_in_gb),
            docker_args: t.docker_args.clone(),
            env: Some(env_input(&t.env, |key, value| {
                q::EnvironmentVariableInput { key, value }
            })),
            ports: t.ports.clone(),
            start_script: t.start_script.clone(),
            advanced_start: None,
            container_registry_auth_id: None,
            config: None,
        });
        let input = q::EndpointInput {
            id: spec.id.clone(),
            name: spec.name.clone(),
            type_: spec.kind.clone(),
            workers_min: to_i64(spec.workers_min),
            workers_max: to_i64(spec.workers_max),
            workers_pfb_target: None,
            idle_timeout: to_i64(spec.idle_timeout),
            scaler_type: spec.scaler_type.clone(),
            scaler_value: to_i64(spec.scaler_value),
            execution_timeout_ms: to_i64_u64(spec.execution_timeout_ms),
            locations: spec.locations.clone(),
            flash_environment_id: spec.flash_environment_id.clone(),
            flash_boot_type: spec.flashboot.then_some(q::FlashBootType::Flashboot),
            network_volume_id: spec.network_volume_id.clone(),
            network_volume_ids: spec.network_volume_ids.as_ref().map(|ids| {
                ids.iter()
                    .map(|id| q::EndpointNetworkVolumeInput {
                        network_volume_id: id.clone(),
                    })
                    .collect()
            }),
            volumes: None,
            model_references: None,
            gpu_ids: spec.gpu_ids.clone(),
            gpu_count: to_i64(spec.gpu_count),
            min_cuda_version: spec.min_cuda_version.clone(),
            allowed_cuda_versions: None,
            instance_ids: spec.instance_ids.clone(),
            template_id: spec.template_id.clone(),
            template,
        };
        let data = self
            .client
            .mutate::<ops::SaveEndpoint>(q::Variables { input })
            .await?;
        let e = data
            .save_endpoint
            .ok_or_else(|| StateManagerError::Missing {
                operation: operation::SAVE_ENDPOINT,
                what: format!("no endpoint in the answer for `{}`", spec.name),
            })?;
        Ok(SavedEndpoint {
            id: e.id,
            name: e.name,
            kind: e.type_,
            template_id: e.template_id,
            ai_key: e.ai_key.and_then(ApiKey::new),
            version: e.version,
        })
    }

    /// Creates or replaces a template (`saveTemplate`; `env` is a full replacement); returns
    /// its id.
    pub async fn save_template(&self, spec: &TemplateSpec) -> Result<String, StateManagerError> {
        use ops::save_template as q;
        // As Python Flash 1.21 updates a template: exactly these keys, `volumeInGb: 0` ("the
        // savetemplate mutation requires volumeInGb") and the env in full (it replaces it).
        let input = q::SaveTemplateInput {
            id: spec.id.clone(),
            name: spec.name.clone(),
            image_name: spec.image_name.clone(),
            container_disk_in_gb: to_i64_u64(spec.container_disk_in_gb),
            docker_args: spec.docker_args.clone(),
            env: env_input(&spec.env, |key, value| q::EnvironmentVariableInput {
                key,
                value,
            }),
            volume_in_gb: 0,
            readme: None,
            volume_mount_path: None,
            ports: None,
            is_serverless: None,
            container_registry_auth_id: None,
            start_ssh: None,
            is_public: None,
        };
        let data = self
            .client
            .mutate::<ops::SaveTemplate>(q::Variables { input: Some(input) })
            .await?;
        data.save_template
            .map(|t| t.id)
            .ok_or_else(|| StateManagerError::Missing {
                operation: operation::SAVE_TEMPLATE,
                what: format!("no template in the answer for `{}`", spec.name),
            })
    }

    /// Deletes endpoint `endpoint_id` (`deleteEndpoint`).
    ///
    /// When the delete fails but `getEndpoint` then reports no such endpoint, it counts as
    /// deleted (as in Python Flash).
    pub async fn delete_endpoint(&self, endpoint_id: &str) -> Result<(), StateManagerError> {
        use ops::delete_endpoint as q;
        let variables = q::Variables {
            id: endpoint_id.to_owned(),
        };
        match self.client.mutate::<ops::DeleteEndpoint>(variables).await {
            Ok(_) => Ok(()),
            Err(error) => match self.endpoint(endpoint_id).await {
                Ok(None) => Ok(()),
                _ => Err(error),
            },
        }
    }

    /// Endpoint `endpoint_id` (`getEndpoint`), `None` when it does not exist.
    pub async fn endpoint(
        &self,
        endpoint_id: &str,
    ) -> Result<Option<PlatformEndpoint>, StateManagerError> {
        use ops::get_endpoint as q;
        let variables = q::Variables {
            id: endpoint_id.to_owned(),
        };
        let data = self.client.query::<ops::GetEndpoint>(variables).await?;
        Ok(data.myself.endpoint.map(|e| PlatformEndpoint {
            id: e.id,
            name: e.name,
            kind: e.type_,
            template_id: e.template_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_match_python_flash() {
        assert_eq!(operation::GET_FLASH_APP_BY_NAME, "getFlashAppByName");
        assert_eq!(operation::PREPARE_ARTIFACT_UPLOAD, "PrepareArtifactUpload");
        assert_eq!(
            operation::FINALIZE_ARTIFACT_UPLOAD,
            "FinalizeArtifactUpload"
        );
        assert_eq!(operation::SAVE_ENDPOINT, "saveEndpoint");
        assert_eq!(operation::DELETE_ENDPOINT, "deleteEndpoint");
    }

    #[test]
    fn template_debug_hides_env_values() {
        let spec = TemplateSpec {
            name: "t".to_owned(),
            env: vec![("RUNPOD_API_KEY".to_owned(), "secret-value".to_owned())],
            ..TemplateSpec::default()
        };
        let text = format!("{spec:?}");
        assert!(
            text.contains("RUNPOD_API_KEY") && !text.contains("secret-value"),
            "{text}"
        );
    }

    #[test]
    fn not_found_errors_are_recognized() {
        let error = StateManagerError::GraphQl {
            operation: operation::GET_FLASH_APP_BY_NAME,
            messages: vec!["flashAppByName: app not found: x".to_owned()],
        };
        assert!(is_not_found(&error));
        let error = StateManagerError::GraphQl {
            operation: operation::GET_FLASH_APP_BY_NAME,
            messages: vec!["boom".to_owned()],
        };
        assert!(!is_not_found(&error));
    }
}
