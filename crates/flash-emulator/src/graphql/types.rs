//! GraphQL object and input types, named and shaped as Runpod's: exactly the types, fields,
//! arguments and nullability of `crates/flash/graphql/runpod.graphql` (what the official
//! clients use), so an input field no client sends is rejected by GraphQL validation. Checked
//! by `tests/schema_fidelity.rs`. Output nullability may be stricter (a non-null value is what
//! every client expects), never weaker.

use async_graphql::{Enum, InputObject, Json, SimpleObject};
use serde_json::Value;

use crate::state_store::{self, Store};

/// A Flash app.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashApp {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
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
    /// The endpoints saved with this environment's `flashEnvironmentId`.
    pub(crate) endpoints: Option<Vec<FlashEnvironmentEndpoint>>,
    /// The network volumes of those endpoints.
    pub(crate) network_volumes: Option<Vec<FlashEnvironmentNetworkVolume>>,
    /// The active build's artifact.
    pub(crate) active_artifact: Option<FlashArtifact>,
}

/// An endpoint as an environment lists it (only what the clients select there).
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashEnvironmentEndpoint {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

/// A network volume as an environment lists it.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashEnvironmentNetworkVolume {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
}

/// A Flash build.
#[derive(SimpleObject, Clone)]
pub(crate) struct FlashBuild {
    pub(crate) id: String,
    /// The build's flash_manifest.json, as JSON; null before one is written.
    pub(crate) manifest: Option<Json<Value>>,
    pub(crate) object_key: Option<String>,
    pub(crate) created_at: Option<String>,
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
    pub(crate) volume_in_gb: Option<i32>,
    pub(crate) volume_mount_path: Option<String>,
    pub(crate) ports: Option<String>,
    pub(crate) is_serverless: Option<bool>,
}

/// How workers boot. `FLASHBOOT` is the only value any client sends over GraphQL; flashboot
/// off is an absent field.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlashBootType {
    /// FlashBoot on.
    Flashboot,
}

impl FlashBootType {
    /// The stored form.
    pub(crate) const FLASHBOOT: &'static str = "FLASHBOOT";

    fn from_stored(value: Option<&str>) -> Option<Self> {
        (value == Some(Self::FLASHBOOT)).then_some(Self::Flashboot)
    }
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
    pub(crate) flash_boot_type: Option<FlashBootType>,
    pub(crate) env: Option<Vec<EnvironmentVariable>>,
    pub(crate) created_at: Option<String>,
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

/// An environment variable in an input (values are always strings).
#[derive(InputObject, Clone)]
pub(crate) struct EnvironmentVariableInput {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// The inline template of `saveEndpoint`.
#[derive(InputObject)]
pub(crate) struct EndpointTemplateInput {
    pub(crate) name: String,
    pub(crate) image_name: Option<String>,
    pub(crate) container_disk_in_gb: Option<i32>,
    pub(crate) docker_args: Option<String>,
    pub(crate) env: Option<Vec<EnvironmentVariableInput>>,
    pub(crate) ports: Option<String>,
    pub(crate) start_script: Option<String>,
    pub(crate) advanced_start: Option<bool>,
    pub(crate) container_registry_auth_id: Option<String>,
    pub(crate) config: Option<Json<Value>>,
}

/// A network volume reference of `saveEndpoint`.
#[derive(InputObject)]
pub(crate) struct EndpointNetworkVolumeInput {
    pub(crate) network_volume_id: String,
}

/// A global volume reference of `saveEndpoint` (runpod 2.0).
#[derive(InputObject)]
pub(crate) struct EndpointVolumeInput {
    pub(crate) volume_id: String,
    pub(crate) volume_type: String,
}

/// Input of `saveEndpoint` (create, or update when `id` is set).
#[derive(InputObject)]
pub(crate) struct EndpointInput {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) template_id: Option<String>,
    pub(crate) template: Option<EndpointTemplateInput>,
    #[graphql(name = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) workers_min: Option<i32>,
    pub(crate) workers_max: Option<i32>,
    #[graphql(name = "workersPFBTarget")]
    pub(crate) workers_pfb_target: Option<i32>,
    pub(crate) idle_timeout: Option<i32>,
    pub(crate) scaler_type: Option<String>,
    pub(crate) scaler_value: Option<i32>,
    pub(crate) execution_timeout_ms: Option<i64>,
    pub(crate) locations: Option<String>,
    pub(crate) flash_environment_id: Option<String>,
    pub(crate) flash_boot_type: Option<FlashBootType>,
    pub(crate) gpu_ids: Option<String>,
    pub(crate) gpu_count: Option<i32>,
    pub(crate) min_cuda_version: Option<String>,
    pub(crate) allowed_cuda_versions: Option<String>,
    pub(crate) instance_ids: Option<Vec<String>>,
    pub(crate) network_volume_id: Option<String>,
    pub(crate) network_volume_ids: Option<Vec<EndpointNetworkVolumeInput>>,
    pub(crate) volumes: Option<Vec<EndpointVolumeInput>>,
    pub(crate) model_references: Option<Vec<String>>,
}

/// Input of `saveTemplate` (create, or update when `id` is set).
#[derive(InputObject)]
pub(crate) struct SaveTemplateInput {
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) image_name: Option<String>,
    pub(crate) container_disk_in_gb: Option<i32>,
    pub(crate) docker_args: Option<String>,
    pub(crate) env: Vec<EnvironmentVariableInput>,
    pub(crate) volume_in_gb: i32,
    pub(crate) readme: Option<String>,
    pub(crate) volume_mount_path: Option<String>,
    pub(crate) ports: Option<String>,
    pub(crate) is_serverless: Option<bool>,
    pub(crate) container_registry_auth_id: Option<String>,
    pub(crate) start_ssh: Option<bool>,
    pub(crate) is_public: Option<bool>,
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
        env: Some(env_vars(&t.env)),
        volume_in_gb: t.volume_in_gb,
        volume_mount_path: t.volume_mount_path.clone(),
        ports: t.ports.clone(),
        is_serverless: t.is_serverless,
    }
}

fn env_vars(env: &[(String, String)]) -> Vec<EnvironmentVariable> {
    env.iter()
        .map(|(k, v)| EnvironmentVariable {
            key: k.clone(),
            value: Some(v.clone()),
        })
        .collect()
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
        workers_standby: None,
        workers_pfb_target: e.workers_pfb_target,
        gpu_count: e.gpu_count,
        allowed_cuda_versions: e.allowed_cuda_versions.clone(),
        min_cuda_version: e.min_cuda_version.clone(),
        execution_timeout_ms: Some(e.execution_timeout_ms),
        instance_ids: e.instance_ids.clone(),
        active_buildid: active,
        ide_pod_id: None,
        flash_boot_type: FlashBootType::from_stored(e.flash_boot_type.as_deref()),
        env: e
            .template_id
            .as_ref()
            .and_then(|t| store.templates.get(t))
            .map(|t| env_vars(&t.env)),
        created_at: Some(e.created_at.clone()),
    }
}

pub(crate) fn build(b: &state_store::Build) -> FlashBuild {
    FlashBuild {
        id: b.id.clone(),
        manifest: Some(Json(b.manifest.clone())),
        object_key: Some(b.object_key.clone()),
        created_at: Some(b.created_at.clone()),
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
        endpoints: Some(
            eps.into_iter()
                .map(|e| FlashEnvironmentEndpoint {
                    id: e.id.clone(),
                    name: Some(e.name.clone()),
                })
                .collect(),
        ),
        network_volumes: Some(
            volumes
                .into_iter()
                .map(|v| FlashEnvironmentNetworkVolume {
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
