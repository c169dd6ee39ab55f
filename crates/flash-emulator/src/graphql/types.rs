//! GraphQL object and input types, named and shaped as Runpod's. Nullability is loose where
//! Runpod's is not known, matching the State Manager client's schema file.

use async_graphql::{InputObject, Json, SimpleObject};
use serde_json::Value;

use crate::state_store::{self, Store};

/// A Flash app.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashApp {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) created_at: Option<String>,
    pub(crate) flash_environments: Option<Vec<FlashEnvironment>>,
    pub(crate) flash_builds: Option<Vec<FlashBuild>>,
}

/// A Flash environment.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashEnvironment {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) state: Option<String>,
    /// The build currently deployed to this environment, if any.
    pub(crate) active_build_id: Option<String>,
    pub(crate) created_at: Option<String>,
    pub(crate) flash_app_id: Option<String>,
    pub(crate) endpoints: Option<Vec<Endpoint>>,
    pub(crate) network_volumes: Option<Vec<NetworkVolume>>,
    /// The active build's artifact.
    pub(crate) active_artifact: Option<FlashArtifact>,
}

/// A Flash build.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashBuild {
    pub(crate) id: String,
    /// The build's flash_manifest.json, as JSON; null before one is written.
    pub(crate) manifest: Option<Json<Value>>,
    pub(crate) object_key: Option<String>,
    pub(crate) created_at: Option<String>,
    pub(crate) flash_app_id: Option<String>,
}

/// A build artifact in storage.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashArtifact {
    pub(crate) object_key: Option<String>,
    pub(crate) download_url: Option<String>,
    pub(crate) expires_at: Option<String>,
}

/// Where to PUT a build artifact.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashArtifactUpload {
    pub(crate) upload_url: String,
    pub(crate) object_key: String,
    pub(crate) expires_at: Option<String>,
}

/// A network volume.
#[derive(SimpleObject, Clone)]
pub(crate) struct NetworkVolume {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

/// A volume attached to an endpoint.
#[derive(SimpleObject, Clone)]
pub(crate) struct EndpointNetworkVolume {
    pub(crate) network_volume_id: Option<String>,
    pub(crate) data_center_id: Option<String>,
}

/// An environment variable of a template.
#[derive(SimpleObject, Clone)]
pub(crate) struct EnvironmentVariable {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

/// A pod template.
#[derive(SimpleObject, Clone)]
pub(crate) struct PodTemplate {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) image_name: Option<String>,
    pub(crate) container_disk_in_gb: Option<i32>,
    pub(crate) docker_args: Option<String>,
    pub(crate) readme: Option<String>,
    pub(crate) env: Option<Vec<EnvironmentVariable>>,
}

/// A serverless endpoint.
#[derive(SimpleObject, Clone)]
pub(crate) struct Endpoint {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) ai_key: Option<String>,
    pub(crate) gpu_ids: Option<String>,
    pub(crate) idle_timeout: Option<i32>,
    pub(crate) locations: Option<String>,
    pub(crate) network_volume_id: Option<String>,
    pub(crate) network_volume_ids: Option<Vec<EndpointNetworkVolume>>,
    pub(crate) flash_environment_id: Option<String>,
    pub(crate) scaler_type: Option<String>,
    pub(crate) scaler_value: Option<i32>,
    pub(crate) template_id: Option<String>,
    #[graphql(name = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) version: Option<i32>,
    pub(crate) workers_max: Option<i32>,
    pub(crate) workers_min: Option<i32>,
    pub(crate) workers_standby: Option<i32>,
    #[graphql(name = "workersPFBTarget")]
    pub(crate) workers_pfb_target: Option<i32>,
    pub(crate) gpu_count: Option<i32>,
    pub(crate) allowed_cuda_versions: Option<String>,
    pub(crate) min_cuda_version: Option<String>,
    pub(crate) execution_timeout_ms: Option<i64>,
    pub(crate) instance_ids: Option<Vec<String>>,
    #[graphql(name = "activeBuildid")]
    pub(crate) active_buildid: Option<String>,
    pub(crate) ide_pod_id: Option<String>,
    pub(crate) flash_boot_type: Option<String>,
    pub(crate) template: Option<PodTemplate>,
}

/// Input of `createFlashApp`.
#[derive(InputObject)]
pub(crate) struct CreateFlashAppInput {
    pub(crate) name: String,
}

/// Input of `createFlashEnvironment`.
#[derive(InputObject)]
pub(crate) struct CreateFlashEnvironmentInput {
    pub(crate) flash_app_id: String,
    pub(crate) name: String,
}

/// Input of `flashEnvironmentByName`.
#[derive(InputObject)]
pub(crate) struct FlashEnvironmentByNameInput {
    pub(crate) flash_app_id: String,
    pub(crate) name: String,
}

/// Input of `prepareFlashArtifactUpload`.
#[derive(InputObject)]
pub(crate) struct PrepareFlashArtifactUploadInput {
    pub(crate) flash_app_id: String,
    pub(crate) tarball_size: i64,
}

/// Input of `finalizeFlashArtifactUpload`.
#[derive(InputObject)]
pub(crate) struct FinalizeFlashArtifactUploadInput {
    pub(crate) flash_app_id: String,
    pub(crate) object_key: String,
    pub(crate) manifest: Json<Value>,
}

/// Input of `deployBuildToEnvironment`.
#[derive(InputObject)]
pub(crate) struct DeployBuildToEnvironmentInput {
    pub(crate) flash_environment_id: String,
    pub(crate) flash_build_id: String,
}

/// Input of `updateFlashBuildManifest`.
#[derive(InputObject)]
pub(crate) struct UpdateFlashBuildManifestInput {
    pub(crate) flash_build_id: String,
    pub(crate) manifest: Json<Value>,
}

/// An environment variable in an input.
#[derive(InputObject, Clone)]
pub(crate) struct EnvironmentVariableInput {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

/// An inline template of `saveEndpoint`.
#[derive(InputObject)]
pub(crate) struct EndpointTemplateInput {
    pub(crate) name: Option<String>,
    pub(crate) image_name: Option<String>,
    pub(crate) container_disk_in_gb: Option<i32>,
    pub(crate) docker_args: Option<String>,
    pub(crate) env: Option<Vec<EnvironmentVariableInput>>,
    pub(crate) start_script: Option<String>,
    pub(crate) advanced_start: Option<bool>,
    pub(crate) container_registry_auth_id: Option<String>,
    pub(crate) ports: Option<String>,
    pub(crate) config: Option<Json<Value>>,
    pub(crate) readme: Option<String>,
    pub(crate) volume_in_gb: Option<i32>,
}

/// A volume reference of `saveEndpoint`.
#[derive(InputObject)]
pub(crate) struct EndpointNetworkVolumeInput {
    pub(crate) network_volume_id: String,
    pub(crate) data_center_id: Option<String>,
}

/// Input of `saveEndpoint` (create, or update when `id` is set).
#[derive(InputObject)]
pub(crate) struct EndpointInput {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    #[graphql(name = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) workers_min: Option<i32>,
    pub(crate) workers_max: Option<i32>,
    pub(crate) workers_standby: Option<i32>,
    #[graphql(name = "workersPFBTarget")]
    pub(crate) workers_pfb_target: Option<i32>,
    pub(crate) idle_timeout: Option<i32>,
    pub(crate) scaler_type: Option<String>,
    pub(crate) scaler_value: Option<i32>,
    pub(crate) execution_timeout_ms: Option<i64>,
    pub(crate) locations: Option<String>,
    pub(crate) flash_environment_id: Option<String>,
    pub(crate) flash_boot_type: Option<String>,
    pub(crate) network_volume_id: Option<String>,
    pub(crate) network_volume_ids: Option<Vec<EndpointNetworkVolumeInput>>,
    pub(crate) gpu_ids: Option<String>,
    pub(crate) gpu_count: Option<i32>,
    pub(crate) min_cuda_version: Option<String>,
    pub(crate) allowed_cuda_versions: Option<String>,
    pub(crate) instance_ids: Option<Vec<String>>,
    pub(crate) template_id: Option<String>,
    pub(crate) template: Option<EndpointTemplateInput>,
}

/// Input of `saveTemplate`.
#[derive(InputObject)]
pub(crate) struct SaveTemplateInput {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) image_name: Option<String>,
    pub(crate) container_disk_in_gb: Option<i32>,
    pub(crate) docker_args: Option<String>,
    pub(crate) env: Vec<EnvironmentVariableInput>,
    pub(crate) readme: Option<String>,
    pub(crate) volume_in_gb: Option<i32>,
    pub(crate) start_script: Option<String>,
    pub(crate) ports: Option<String>,
}

/// The owner of the API key.
#[derive(Clone)]
pub(crate) struct User;

// ---- conversions from the store ----

pub(crate) fn template(t: &state_store::Template) -> PodTemplate {
    PodTemplate {
        id: t.id.clone(),
        name: Some(t.name.clone()),
        image_name: t.image_name.clone(),
        container_disk_in_gb: t.container_disk_in_gb,
        docker_args: t.docker_args.clone(),
        readme: t.readme.clone(),
        env: Some(
            t.env
                .iter()
                .map(|(k, v)| EnvironmentVariable {
                    key: k.clone(),
                    value: Some(v.clone()),
                })
                .collect(),
        ),
    }
}

pub(crate) fn endpoint(store: &Store, e: &state_store::Endpoint) -> Endpoint {
    let active = e
        .flash_environment_id
        .as_ref()
        .and_then(|id| store.environments.get(id))
        .and_then(|env| env.active_build_id.clone());
    Endpoint {
        id: e.id.clone(),
        name: Some(e.name.clone()),
        ai_key: Some(e.ai_key.clone()),
        gpu_ids: e.gpu_ids.clone(),
        idle_timeout: Some(e.idle_timeout),
        locations: e.locations.clone(),
        network_volume_id: e.network_volume_ids.first().cloned(),
        network_volume_ids: Some(
            e.network_volume_ids
                .iter()
                .map(|v| EndpointNetworkVolume {
                    network_volume_id: Some(v.clone()),
                    data_center_id: None,
                })
                .collect(),
        ),
        flash_environment_id: e.flash_environment_id.clone(),
        scaler_type: Some(e.scaler_type.clone()),
        scaler_value: Some(e.scaler_value),
        template_id: e.template_id.clone(),
        kind: Some(e.kind.clone()),
        user_id: Some(crate::graphql::USER_ID.to_owned()),
        version: Some(e.version),
        workers_max: Some(e.workers_max),
        workers_min: Some(e.workers_min),
        workers_standby: e.workers_standby,
        workers_pfb_target: e.workers_pfb_target,
        gpu_count: e.gpu_count,
        allowed_cuda_versions: e.allowed_cuda_versions.clone(),
        min_cuda_version: e.min_cuda_version.clone(),
        execution_timeout_ms: Some(e.execution_timeout_ms),
        instance_ids: e.instance_ids.clone(),
        active_buildid: active,
        ide_pod_id: None,
        flash_boot_type: e.flash_boot_type.clone(),
        template: e
            .template_id
            .as_ref()
            .and_then(|t| store.templates.get(t))
            .map(template),
    }
}

pub(crate) fn build(b: &state_store::Build) -> FlashBuild {
    FlashBuild {
        id: b.id.clone(),
        manifest: Some(Json(b.manifest.clone())),
        object_key: Some(b.object_key.clone()),
        created_at: Some(b.created_at.clone()),
        flash_app_id: Some(b.app_id.clone()),
    }
}

pub(crate) fn environment(
    store: &Store,
    base_url: &str,
    env: &state_store::Environment,
) -> FlashEnvironment {
    let eps = store.endpoints_of_env(&env.id);
    let mut volumes: Vec<String> = eps
        .iter()
        .flat_map(|e| e.network_volume_ids.clone())
        .collect();
    volumes.sort();
    volumes.dedup();
    let active_artifact = env
        .active_build_id
        .as_ref()
        .and_then(|b| store.builds.get(b))
        .map(|b| FlashArtifact {
            object_key: Some(b.object_key.clone()),
            download_url: Some(format!("{base_url}/emulator/artifacts/{}", b.object_key)),
            expires_at: None,
        });
    FlashEnvironment {
        id: env.id.clone(),
        name: Some(env.name.clone()),
        state: Some(env.state.clone()),
        active_build_id: env.active_build_id.clone(),
        created_at: Some(env.created_at.clone()),
        flash_app_id: Some(env.app_id.clone()),
        endpoints: Some(eps.into_iter().map(|e| endpoint(store, e)).collect()),
        network_volumes: Some(
            volumes
                .into_iter()
                .map(|v| NetworkVolume {
                    name: Some(v.clone()),
                    id: v,
                })
                .collect(),
        ),
        active_artifact,
    }
}

pub(crate) fn app(store: &Store, base_url: &str, a: &state_store::App) -> FlashApp {
    FlashApp {
        id: a.id.clone(),
        name: Some(a.name.clone()),
        created_at: Some(a.created_at.clone()),
        flash_environments: Some(
            store
                .environments
                .values()
                .filter(|e| e.app_id == a.id)
                .map(|e| environment(store, base_url, e))
                .collect(),
        ),
        flash_builds: Some(
            store
                .builds
                .values()
                .filter(|b| b.app_id == a.id)
                .map(build)
                .collect(),
        ),
    }
}
