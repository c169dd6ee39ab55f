//! GraphQL mutations.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};

use super::types::{
    self, CreateFlashAppInput, CreateFlashEnvironmentInput, DeployBuildToEnvironmentInput,
    Endpoint, EndpointInput, FinalizeFlashArtifactUploadInput, FlashApp, FlashArtifactUpload,
    FlashBuild, FlashEnvironment, PodTemplate, PrepareFlashArtifactUploadInput, SaveTemplateInput,
    UpdateFlashBuildManifestInput,
};
use crate::artifacts::{self, MAX_ARTIFACT_BYTES};
use crate::core::{Core, EndpointRt};
use flash_contract::time::now_rfc3339;

use crate::state_store;
use crate::{ids, lb_proxy};

/// The mutation root.
pub(crate) struct Mutation;

fn core<'a>(ctx: &Context<'a>) -> &'a Arc<Core> {
    ctx.data_unchecked::<Arc<Core>>()
}

fn env_pairs(env: Option<&Vec<types::EnvironmentVariableInput>>) -> Vec<(String, String)> {
    env.map(|v| {
        v.iter()
            .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    })
    .unwrap_or_default()
}

#[Object]
impl Mutation {
    /// Creates a Flash app; names are unique.
    async fn create_flash_app(
        &self,
        ctx: &Context<'_>,
        input: CreateFlashAppInput,
    ) -> Result<FlashApp> {
        let core = core(ctx);
        let name = input.name.trim().to_owned();
        if name.is_empty() {
            return Err("createFlashApp: input.name must not be empty".into());
        }
        let app = {
            let mut store = core.store();
            if store.apps.values().any(|a| a.name == name) {
                return Err(format!("createFlashApp: an app named {name} already exists").into());
            }
            let app = state_store::App {
                id: format!("app_{}", ids::short(12)),
                name,
                created_at: now_rfc3339(),
            };
            store.apps.insert(app.id.clone(), app.clone());
            types::app(&store, &core.settings.base_url, &app)
        };
        core.persist();
        Ok(app)
    }

    /// Creates an environment in an app; names are unique per app.
    async fn create_flash_environment(
        &self,
        ctx: &Context<'_>,
        input: CreateFlashEnvironmentInput,
    ) -> Result<FlashEnvironment> {
        let core = core(ctx);
        let env = {
            let mut store = core.store();
            if !store.apps.contains_key(&input.flash_app_id) {
                return Err(format!(
                    "createFlashEnvironment: app not found: {}",
                    input.flash_app_id
                )
                .into());
            }
            if store
                .environments
                .values()
                .any(|e| e.app_id == input.flash_app_id && e.name == input.name)
            {
                return Err(format!(
                    "createFlashEnvironment: environment {} already exists",
                    input.name
                )
                .into());
            }
            let env = state_store::Environment {
                id: format!("env_{}", ids::short(12)),
                app_id: input.flash_app_id,
                name: input.name,
                state: "PENDING".to_owned(),
                active_build_id: None,
                created_at: now_rfc3339(),
            };
            store.environments.insert(env.id.clone(), env.clone());
            types::environment(&store, &core.settings.base_url, &env)
        };
        core.persist();
        Ok(env)
    }

    /// Hands out a URL (served by the emulator) to PUT an artifact to.
    async fn prepare_flash_artifact_upload(
        &self,
        ctx: &Context<'_>,
        input: PrepareFlashArtifactUploadInput,
    ) -> Result<FlashArtifactUpload> {
        let core = core(ctx);
        let max = i64::try_from(MAX_ARTIFACT_BYTES).unwrap_or(i64::MAX);
        if input.tarball_size <= 0 || input.tarball_size > max {
            return Err(format!(
                "prepareFlashArtifactUpload: tarballSize {} is outside 1..={max}",
                input.tarball_size
            )
            .into());
        }
        let upload = {
            let mut store = core.store();
            if !store.apps.contains_key(&input.flash_app_id) {
                return Err(format!(
                    "prepareFlashArtifactUpload: app not found: {}",
                    input.flash_app_id
                )
                .into());
            }
            let object_key = format!("{}-{}", input.flash_app_id, ids::short(16));
            let token = ids::short(32);
            store.uploads.insert(
                object_key.clone(),
                state_store::Upload {
                    object_key: object_key.clone(),
                    app_id: input.flash_app_id,
                    token: token.clone(),
                    uploaded: false,
                },
            );
            FlashArtifactUpload {
                upload_url: format!(
                    "{}/emulator/uploads/{object_key}?token={token}",
                    core.settings.base_url
                ),
                object_key,
                expires_at: None,
            }
        };
        core.persist();
        Ok(upload)
    }

    /// Turns an uploaded artifact and its manifest into a build.
    async fn finalize_flash_artifact_upload(
        &self,
        ctx: &Context<'_>,
        input: FinalizeFlashArtifactUploadInput,
    ) -> Result<FlashBuild> {
        let core = core(ctx);
        let build = {
            let mut store = core.store();
            let Some(upload) = store.uploads.get(&input.object_key) else {
                return Err(format!(
                    "finalizeFlashArtifactUpload: unknown objectKey {}",
                    input.object_key
                )
                .into());
            };
            if upload.app_id != input.flash_app_id {
                return Err(format!(
                    "finalizeFlashArtifactUpload: objectKey {} belongs to another app",
                    input.object_key
                )
                .into());
            }
            if !upload.uploaded {
                return Err(format!(
                    "finalizeFlashArtifactUpload: nothing was uploaded for objectKey {}",
                    input.object_key
                )
                .into());
            }
            let build = state_store::Build {
                id: format!("build_{}", ids::short(12)),
                app_id: input.flash_app_id,
                object_key: input.object_key,
                manifest: input.manifest.0,
                created_at: now_rfc3339(),
            };
            store.builds.insert(build.id.clone(), build.clone());
            types::build(&build)
        };
        core.persist();
        Ok(build)
    }

    /// Makes a build the environment's active build. The artifact is unpacked and checked
    /// against the artifact contract here; the environment's endpoints roll onto it.
    async fn deploy_build_to_environment(
        &self,
        ctx: &Context<'_>,
        input: DeployBuildToEnvironmentInput,
    ) -> Result<FlashEnvironment> {
        let core = core(ctx);
        let object_key = {
            let store = core.store();
            let env = store
                .environments
                .get(&input.flash_environment_id)
                .ok_or_else(|| {
                    format!(
                        "deployBuildToEnvironment: environment not found: {}",
                        input.flash_environment_id
                    )
                })?;
            let build = store.builds.get(&input.flash_build_id).ok_or_else(|| {
                format!(
                    "deployBuildToEnvironment: build not found: {}",
                    input.flash_build_id
                )
            })?;
            if build.app_id != env.app_id {
                return Err(format!(
                    "deployBuildToEnvironment: build {} belongs to another app than environment {}",
                    build.id, env.id
                )
                .into());
            }
            build.object_key.clone()
        };
        let dir = core.settings.state_dir.clone();
        let dest = artifacts::build_dir(&dir, &input.flash_build_id);
        tokio::task::spawn_blocking(move || artifacts::unpack(&dir, &object_key, &dest))
            .await
            .map_err(|e| format!("deployBuildToEnvironment: unpack task failed: {e}"))?
            .map_err(|e| format!("deployBuildToEnvironment: {e}"))?;
        let (env, endpoint_ids) = {
            let mut store = core.store();
            let env = store
                .environments
                .get_mut(&input.flash_environment_id)
                .ok_or("deployBuildToEnvironment: environment vanished")?;
            env.active_build_id = Some(input.flash_build_id);
            env.state = "DEPLOYED".to_owned();
            let env = env.clone();
            let ids: Vec<String> = store
                .endpoints_of_env(&env.id)
                .iter()
                .map(|e| e.id.clone())
                .collect();
            for id in &ids {
                if let Some(e) = store.endpoints.get_mut(id) {
                    e.version += 1;
                }
            }
            (
                types::environment(&store, &core.settings.base_url, &env),
                ids,
            )
        };
        refresh_runtimes(core, &endpoint_ids);
        core.persist();
        Ok(env)
    }

    /// Replaces the whole manifest of a build.
    async fn update_flash_build_manifest(
        &self,
        ctx: &Context<'_>,
        input: UpdateFlashBuildManifestInput,
    ) -> Result<Option<FlashBuild>> {
        let core = core(ctx);
        let build = {
            let mut store = core.store();
            let build = store.builds.get_mut(&input.flash_build_id).ok_or_else(|| {
                format!(
                    "updateFlashBuildManifest: build not found: {}",
                    input.flash_build_id
                )
            })?;
            build.manifest = input.manifest.0;
            types::build(build)
        };
        core.persist();
        Ok(Some(build))
    }

    /// Deletes an app with its environments, builds and their endpoints.
    async fn delete_flash_app(&self, ctx: &Context<'_>, flash_app_id: String) -> Result<bool> {
        let core = core(ctx);
        let endpoints = {
            let mut store = core.store();
            if store.apps.shift_remove(&flash_app_id).is_none() {
                return Err(format!("deleteFlashApp: app not found: {flash_app_id}").into());
            }
            let envs: Vec<String> = store
                .environments
                .values()
                .filter(|e| e.app_id == flash_app_id)
                .map(|e| e.id.clone())
                .collect();
            store.environments.retain(|_, e| e.app_id != flash_app_id);
            store.builds.retain(|_, b| b.app_id != flash_app_id);
            store.uploads.retain(|_, u| u.app_id != flash_app_id);
            let eps: Vec<String> = store
                .endpoints
                .values()
                .filter(|e| {
                    e.flash_environment_id
                        .as_ref()
                        .is_some_and(|id| envs.contains(id))
                })
                .map(|e| e.id.clone())
                .collect();
            for id in &eps {
                store.endpoints.shift_remove(id);
            }
            eps
        };
        retire(core, &endpoints);
        core.persist();
        Ok(true)
    }

    /// Deletes an environment and its endpoints.
    async fn delete_flash_environment(
        &self,
        ctx: &Context<'_>,
        flash_environment_id: String,
    ) -> Result<bool> {
        let core = core(ctx);
        let endpoints = {
            let mut store = core.store();
            if store
                .environments
                .shift_remove(&flash_environment_id)
                .is_none()
            {
                return Err(format!(
                    "deleteFlashEnvironment: environment not found: {flash_environment_id}"
                )
                .into());
            }
            let eps: Vec<String> = store
                .endpoints_of_env(&flash_environment_id)
                .iter()
                .map(|e| e.id.clone())
                .collect();
            for id in &eps {
                store.endpoints.shift_remove(id);
            }
            eps
        };
        retire(core, &endpoints);
        core.persist();
        Ok(true)
    }

    /// Creates an endpoint, or updates the one named by `input.id`. Workers are started by the
    /// supervisor from the environment's active build.
    async fn save_endpoint(&self, ctx: &Context<'_>, input: EndpointInput) -> Result<Endpoint> {
        let core = core(ctx);
        let (record, created) = save_endpoint_record(core, input)?;
        let rt = {
            let mut map = crate::core::lock(&core.endpoints);
            let rt = map
                .entry(record.id.clone())
                .or_insert_with(|| Arc::new(EndpointRt::new(record.clone())))
                .clone();
            rt.lock().cfg = record.clone();
            rt
        };
        if record.load_balanced() && rt.lock().lb.url.is_none() {
            lb_proxy::start(core, &rt)
                .await
                .map_err(|e| format!("saveEndpoint: endpoint {}: {e}", record.name))?;
        }
        tracing::info!(endpoint = %record.name, id = %record.id, created, "endpoint saved");
        core.persist();
        let store = core.store();
        Ok(types::endpoint(&store, &record))
    }

    /// Creates or replaces a template (`env` is a full replacement).
    async fn save_template(
        &self,
        ctx: &Context<'_>,
        input: Option<SaveTemplateInput>,
    ) -> Result<PodTemplate> {
        let core = core(ctx);
        let input = input.ok_or("saveTemplate: input is required")?;
        let (tpl, users) = {
            let mut store = core.store();
            let id = match input.id {
                Some(id) if !store.templates.contains_key(&id) => {
                    return Err(format!("saveTemplate: template not found: {id}").into());
                }
                Some(id) => id,
                None => ids::short(10),
            };
            let tpl = state_store::Template {
                id: id.clone(),
                name: input.name,
                image_name: input.image_name,
                container_disk_in_gb: input.container_disk_in_gb,
                docker_args: input.docker_args,
                start_script: input.start_script,
                ports: input.ports,
                readme: input.readme,
                env: env_pairs(Some(&input.env)),
            };
            store.templates.insert(id.clone(), tpl.clone());
            let mut users = Vec::new();
            for e in store.endpoints.values_mut() {
                if e.template_id.as_deref() == Some(id.as_str()) {
                    e.version += 1;
                    users.push(e.id.clone());
                }
            }
            (types::template(&tpl), users)
        };
        refresh_runtimes(core, &users);
        core.persist();
        Ok(tpl)
    }

    /// Deletes an endpoint and stops its workers. Returns null, as Runpod does.
    async fn delete_endpoint(&self, ctx: &Context<'_>, id: String) -> Result<Option<bool>> {
        let core = core(ctx);
        if core.store().endpoints.shift_remove(&id).is_none() {
            return Err(format!("deleteEndpoint: endpoint not found: {id}").into());
        }
        retire(core, std::slice::from_ref(&id));
        core.persist();
        Ok(None)
    }
}

/// Copies updated endpoint records into their runtimes.
fn refresh_runtimes(core: &Core, ids: &[String]) {
    let store = core.store();
    for id in ids {
        if let (Some(rt), Some(rec)) = (core.endpoint(id), store.endpoints.get(id)) {
            rt.lock().cfg = rec.clone();
        }
    }
}

/// Marks endpoint runtimes deleted: the supervisor stops their workers and the LB listener stops.
fn retire(core: &Core, ids: &[String]) {
    for id in ids {
        if let Some(rt) = core.endpoint(id) {
            let stop = {
                let mut st = rt.lock();
                st.deleted = true;
                st.lb.stop.take()
            };
            if let Some(stop) = stop {
                let _ = stop.send(());
            }
            rt.changed.notify_waiters();
            rt.job_ready.notify_waiters();
        }
    }
}

fn save_endpoint_record(
    core: &Core,
    input: EndpointInput,
) -> Result<(state_store::Endpoint, bool)> {
    let mut store = core.store();
    let (mut rec, created) = match &input.id {
        Some(id) => (
            store
                .endpoints
                .get(id)
                .cloned()
                .ok_or_else(|| format!("saveEndpoint: endpoint not found: {id}"))?,
            false,
        ),
        None => (
            state_store::Endpoint {
                id: ids::short(14),
                ai_key: ids::ai_key(),
                kind: "QB".to_owned(),
                workers_min: 0,
                workers_max: 3,
                idle_timeout: 5,
                scaler_type: "QUEUE_DELAY".to_owned(),
                scaler_value: 4,
                execution_timeout_ms: 600_000,
                version: 0,
                created_at: now_rfc3339(),
                ..Default::default()
            },
            true,
        ),
    };
    let name = input.name.trim();
    if name.is_empty() {
        return Err("saveEndpoint: input.name must not be empty".into());
    }
    rec.name = name.to_owned();
    if let Some(kind) = input.kind {
        let kind = kind.to_ascii_uppercase();
        if kind != "QB" && kind != "LB" {
            return Err(format!(
                "saveEndpoint: endpoint {name}: input.type must be QB or LB, not {kind}"
            )
            .into());
        }
        if !created && kind != rec.kind {
            return Err(format!(
                "saveEndpoint: endpoint {name}: input.type cannot change from {}",
                rec.kind
            )
            .into());
        }
        rec.kind = kind;
    }
    macro_rules! take {
        ($($field:ident),*) => { $( if let Some(v) = input.$field { rec.$field = v; } )* };
    }
    take!(
        workers_min,
        workers_max,
        idle_timeout,
        scaler_type,
        scaler_value,
        execution_timeout_ms
    );
    macro_rules! take_opt {
        ($($field:ident),*) => { $( if input.$field.is_some() { rec.$field = input.$field; } )* };
    }
    take_opt!(
        workers_standby,
        workers_pfb_target,
        locations,
        flash_boot_type,
        gpu_ids,
        gpu_count,
        min_cuda_version,
        allowed_cuda_versions,
        instance_ids
    );
    if rec.workers_min < 0 || rec.workers_max < rec.workers_min {
        return Err(format!(
            "saveEndpoint: endpoint {name}: need 0 <= workersMin ({}) <= workersMax ({})",
            rec.workers_min, rec.workers_max
        )
        .into());
    }
    if rec.idle_timeout < 0 || rec.execution_timeout_ms < 0 {
        return Err(format!(
            "saveEndpoint: endpoint {name}: idleTimeout and executionTimeoutMs must be >= 0"
        )
        .into());
    }
    if let Some(env_id) = input.flash_environment_id {
        if !store.environments.contains_key(&env_id) {
            return Err(format!(
                "saveEndpoint: endpoint {name}: flashEnvironmentId not found: {env_id}"
            )
            .into());
        }
        rec.flash_environment_id = Some(env_id);
    }
    if let Some(v) = input.network_volume_ids {
        rec.network_volume_ids = v.into_iter().map(|v| v.network_volume_id).collect();
    } else if let Some(v) = input.network_volume_id {
        rec.network_volume_ids = vec![v];
    }
    match (input.template_id, input.template) {
        (Some(_), Some(_)) => {
            return Err(format!(
                "saveEndpoint: endpoint {name}: give templateId or template, not both"
            )
            .into());
        }
        (Some(tid), None) => {
            if !store.templates.contains_key(&tid) {
                return Err(
                    format!("saveEndpoint: endpoint {name}: templateId not found: {tid}").into(),
                );
            }
            rec.template_id = Some(tid);
        }
        (None, Some(t)) => {
            let id = rec.template_id.clone().unwrap_or_else(|| ids::short(10));
            let tpl = state_store::Template {
                id: id.clone(),
                name: t.name.unwrap_or_else(|| format!("{name}__template")),
                image_name: t.image_name,
                container_disk_in_gb: t.container_disk_in_gb,
                docker_args: t.docker_args,
                start_script: t.start_script,
                ports: t.ports,
                readme: t.readme,
                env: env_pairs(t.env.as_ref()),
            };
            store.templates.insert(id.clone(), tpl);
            rec.template_id = Some(id);
        }
        (None, None) => {}
    }
    if !created {
        rec.version += 1;
    }
    store.endpoints.insert(rec.id.clone(), rec.clone());
    Ok((rec, created))
}
