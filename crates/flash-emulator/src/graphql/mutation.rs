//! GraphQL mutations.

use std::sync::Arc;

use async_graphql::{Context, Object, Result};

use super::types::{
    self, CreateFlashAppInput, CreateFlashEnvironmentInput, DeployBuildToEnvironmentInput,
    Endpoint, EndpointInput, FinalizeFlashArtifactUploadInput, FlashApp, FlashArtifactUpload,
    FlashBuild, FlashEnvironment, PodTemplate, PrepareFlashArtifactUploadInput, SaveTemplateInput,
    UpdateFlashBuildManifestInput,
};
use crate::artifacts::MAX_ARTIFACT_BYTES;
use crate::core::{Core, EndpointRt};
use flash_contract::runpod;
use flash_contract::time::now_rfc3339;

use crate::state_store;
use crate::{ids, lb_proxy};

/// The mutation root.
pub(crate) struct Mutation;

fn core<'a>(ctx: &Context<'a>) -> &'a Arc<Core> {
    ctx.data_unchecked::<Arc<Core>>()
}

fn env_pairs(env: &[types::EnvironmentVariableInput]) -> Vec<(String, String)> {
    env.iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

#[Object]
impl Mutation {
    /// Opens a login request, approved at once (anonymous; see [`super::login`]).
    async fn create_flash_auth_request(
        &self,
        ctx: &Context<'_>,
    ) -> Option<super::login::FlashAuthRequest> {
        Some(super::login::create(core(ctx)))
    }

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
            let expires = std::time::SystemTime::now() + state_store::Upload::VALID_FOR;
            let expires_at = expires
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            store.uploads.insert(
                object_key.clone(),
                state_store::Upload {
                    object_key: object_key.clone(),
                    app_id: input.flash_app_id,
                    token: token.clone(),
                    uploaded: false,
                    expires_at,
                    finalized: false,
                },
            );
            FlashArtifactUpload {
                upload_url: format!(
                    "{}/emulator/uploads/{object_key}?token={token}",
                    core.settings.base_url
                ),
                object_key,
                expires_at: Some(flash_contract::time::rfc3339(expires)),
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
            if let Some(upload) = store.uploads.get_mut(&input.object_key) {
                upload.finalized = true;
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

    /// Makes a build the environment's active build. Like Runpod, it neither looks inside the
    /// artifact nor restarts anything: running workers keep the build they started with, and
    /// workers started from now on (the supervisor unpacks the build at worker start) run this
    /// one. Rolling an endpoint onto a new build takes a version-triggering change, such as the
    /// template env change both official clients make (runpod-flash 1.21's
    /// `_FLASH_SOURCE_FINGERPRINT`, runpod 2.0's `RUNPOD_BUILD_ID`).
    async fn deploy_build_to_environment(
        &self,
        ctx: &Context<'_>,
        input: DeployBuildToEnvironmentInput,
    ) -> Result<FlashEnvironment> {
        let core = core(ctx);
        let (env, endpoint_ids) = {
            let mut store = core.store();
            let build = store.builds.get(&input.flash_build_id).ok_or_else(|| {
                format!(
                    "deployBuildToEnvironment: build not found: {}",
                    input.flash_build_id
                )
            })?;
            let build_app = build.app_id.clone();
            let env = store
                .environments
                .get_mut(&input.flash_environment_id)
                .ok_or_else(|| {
                    format!(
                        "deployBuildToEnvironment: environment not found: {}",
                        input.flash_environment_id
                    )
                })?;
            if build_app != env.app_id {
                return Err(format!(
                    "deployBuildToEnvironment: build {} belongs to another app than environment {}",
                    input.flash_build_id, env.id
                )
                .into());
            }
            env.active_build_id = Some(input.flash_build_id);
            env.state = "DEPLOYED".to_owned();
            let env = env.clone();
            let ids: Vec<String> = store
                .endpoints_of_env(&env.id)
                .iter()
                .map(|e| e.id.clone())
                .collect();
            (
                types::environment(&store, &core.settings.base_url, &env),
                ids,
            )
        };
        // Workers that could not start before (no build yet, or a broken one) may start now.
        for id in &endpoint_ids {
            if let Some(rt) = core.endpoint(id) {
                rt.lock().retry_start_now();
            }
        }
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
            // The app's artifacts go with it (a running worker keeps its own mounted link).
            for upload in store.uploads.values().filter(|u| u.app_id == flash_app_id) {
                let file =
                    crate::artifacts::upload_path(&core.settings.state_dir, &upload.object_key);
                if let Err(e) = std::fs::remove_file(&file)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(file = %file.display(), error = %e, "cannot remove an artifact");
                }
            }
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
    /// supervisor from the environment's active build. A change of the template or of what and
    /// where the workers run rolls them; scaling settings do not.
    async fn save_endpoint(&self, ctx: &Context<'_>, input: EndpointInput) -> Result<Endpoint> {
        let core = core(ctx);
        let (record, created, rolled) = save_endpoint_record(core, input)?;
        refresh_runtimes(core, &rolled);
        let rt = {
            let mut map = crate::core::lock(&core.endpoints);
            let rt = map
                .entry(record.id.clone())
                .or_insert_with(|| Arc::new(EndpointRt::new(record.clone())))
                .clone();
            let mut st = rt.lock();
            st.cfg = record.clone();
            st.retry_start_now();
            drop(st);
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

    /// Creates or updates a template; names are unique. `env` is a full replacement; other
    /// fields left out keep their value. A change of what workers run (image, disk, arguments,
    /// ports, env, ...) rolls the workers of every endpoint bound to the template.
    async fn save_template(
        &self,
        ctx: &Context<'_>,
        input: Option<SaveTemplateInput>,
    ) -> Result<PodTemplate> {
        let core = core(ctx);
        let input = input.ok_or("saveTemplate: input is required")?;
        let (tpl, users) = {
            let mut store = core.store();
            let name = input.name.trim().to_owned();
            if name.is_empty() {
                return Err("saveTemplate: input.name must not be empty".into());
            }
            let what = format!("saveTemplate: template {name}");
            // runpod-flash 1.21 always sends these with env and volumeInGb (which the schema
            // already requires).
            let missing: Vec<&str> = [
                ("input.imageName", input.image_name.is_none()),
                (
                    "input.containerDiskInGb",
                    input.container_disk_in_gb.is_none(),
                ),
                ("input.dockerArgs", input.docker_args.is_none()),
            ]
            .into_iter()
            .filter_map(|(field, absent)| absent.then_some(field))
            .collect();
            if !missing.is_empty() {
                return Err(format!("{what}: {} required", missing_list(&missing)).into());
            }
            if input.volume_in_gb < 0 {
                return Err(format!(
                    "{what}: input.volumeInGb must be >= 0, not {}",
                    input.volume_in_gb
                )
                .into());
            }
            let previous = match &input.id {
                Some(id) => Some(
                    store
                        .templates
                        .get(id)
                        .cloned()
                        .ok_or_else(|| format!("{what}: input.id: template not found: {id}"))?,
                ),
                None => None,
            };
            let id = input.id.clone().unwrap_or_else(|| ids::short(10));
            check_unique_name(&store, &what, "input.name", &name, Some(&id))?;
            let mut tpl = previous.clone().unwrap_or_default();
            tpl.id = id.clone();
            tpl.name = name;
            tpl.image_name = input.image_name;
            tpl.container_disk_in_gb = input.container_disk_in_gb;
            tpl.docker_args = input.docker_args;
            tpl.env = env_pairs(&input.env);
            tpl.volume_in_gb = Some(input.volume_in_gb);
            macro_rules! keep_unless_given {
                ($($field:ident),*) => { $( if input.$field.is_some() { tpl.$field = input.$field; } )* };
            }
            keep_unless_given!(
                readme,
                volume_mount_path,
                ports,
                is_serverless,
                container_registry_auth_id,
                start_ssh,
                is_public
            );
            let changed = previous
                .as_ref()
                .is_some_and(|p| p.worker_identity() != tpl.worker_identity());
            store.templates.insert(id.clone(), tpl.clone());
            let users = if changed {
                roll_template_users(&mut store, &id, None)
            } else {
                Vec::new()
            };
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

/// `a is` / `a and b are`, for "… required" messages.
fn missing_list(fields: &[&str]) -> String {
    match fields {
        [one] => format!("{one} is"),
        [rest @ .., last] => format!("{} and {last} are", rest.join(", ")),
        [] => String::new(),
    }
}

/// Template names are unique: `name` may only be the template `own`'s.
fn check_unique_name(
    store: &state_store::Store,
    what: &str,
    field: &str,
    name: &str,
    own: Option<&str>,
) -> Result<()> {
    match store
        .templates
        .values()
        .find(|t| t.name == name && Some(t.id.as_str()) != own)
    {
        Some(other) => Err(format!(
            "{what}: {field}: a template named {name} already exists ({}); template names are unique",
            other.id
        )
        .into()),
        None => Ok(()),
    }
}

/// Bumps the version of every endpoint bound to template `id` except `except`; returns their ids.
fn roll_template_users(
    store: &mut state_store::Store,
    id: &str,
    except: Option<&str>,
) -> Vec<String> {
    let mut users = Vec::new();
    for e in store.endpoints.values_mut() {
        if e.template_id.as_deref() == Some(id) && Some(e.id.as_str()) != except {
            e.version += 1;
            users.push(e.id.clone());
        }
    }
    users
}

/// `gpuIds`: comma-separated GPU pool ids, at least one, plus the `-<GPU type>` negations
/// runpod-flash 1.21 adds for explicit GPU types. No wildcard: Runpod rejects "any".
fn check_gpu_ids(what: &str, gpu_ids: &str) -> Result<()> {
    let known = || runpod::GPU_POOLS.join(",");
    let mut pools = 0;
    for item in gpu_ids.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("{what}: input.gpuIds {gpu_ids:?} has an empty item").into());
        }
        if item.eq_ignore_ascii_case(runpod::ANY_GPU) {
            return Err(format!(
                "{what}: input.gpuIds: {item:?} is not a GPU pool id (Runpod has no wildcard); \
                 list the pools instead: {}",
                known()
            )
            .into());
        }
        if let Some(gpu_type) = item.strip_prefix('-') {
            let gpu_type = gpu_type.trim();
            if gpu_type.is_empty()
                || gpu_type.eq_ignore_ascii_case(runpod::ANY_GPU)
                || runpod::GPU_POOLS.contains(&gpu_type)
            {
                return Err(format!(
                    "{what}: input.gpuIds: {item:?} must negate a GPU type, e.g. \"-NVIDIA L4\""
                )
                .into());
            }
            continue;
        }
        if !runpod::GPU_POOLS.contains(&item) {
            return Err(format!(
                "{what}: input.gpuIds: unknown GPU pool id {item:?} (known: {})",
                known()
            )
            .into());
        }
        pools += 1;
    }
    if pools == 0 {
        return Err(format!("{what}: input.gpuIds {gpu_ids:?} names no GPU pool").into());
    }
    Ok(())
}

/// What an endpoint update changes that Runpod replaces workers for (a rolling release): the
/// template binding, the environment (its build) and what and where the workers run. Scaling
/// settings (workers, idle timeout, scaler, execution timeout) and the name are not.
fn worker_identity(e: &state_store::Endpoint) -> impl PartialEq + '_ {
    (
        (
            &e.template_id,
            &e.flash_environment_id,
            &e.flash_boot_type,
            &e.locations,
        ),
        (
            &e.gpu_ids,
            e.gpu_count,
            &e.min_cuda_version,
            &e.allowed_cuda_versions,
            &e.instance_ids,
        ),
        (&e.network_volume_ids, &e.volumes, &e.model_references),
    )
}

/// Validates and applies a `saveEndpoint` input. Nothing is stored unless every check passes.
/// Returns the record, whether it was created, and the other endpoints whose workers roll
/// because their (shared) template changed.
fn save_endpoint_record(
    core: &Core,
    input: EndpointInput,
) -> Result<(state_store::Endpoint, bool, Vec<String>)> {
    let mut store = core.store();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        return Err("saveEndpoint: input.name must not be empty".into());
    }
    let what = format!("saveEndpoint: endpoint {name}");
    let (mut rec, created) = match &input.id {
        Some(id) => (
            store
                .endpoints
                .get(id)
                .cloned()
                .ok_or_else(|| format!("{what}: input.id: endpoint not found: {id}"))?,
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
    let before = rec.clone();

    // The template: inline or by id, never both; a new endpoint needs one.
    if input.template.is_some() && input.template_id.is_some() {
        return Err(format!(
            "{what}: input.template and input.templateId are mutually exclusive (Runpod rejects \
             both together): send the inline template, or the id of an existing one"
        )
        .into());
    }
    if created && input.template.is_none() && input.template_id.is_none() {
        return Err(format!(
            "{what}: a new endpoint needs input.template (inline) or input.templateId"
        )
        .into());
    }
    if let Some(tid) = &input.template_id
        && !store.templates.contains_key(tid)
    {
        return Err(format!("{what}: input.templateId: template not found: {tid}").into());
    }

    rec.name = name;
    if let Some(kind) = input.kind {
        if kind != "QB" && kind != "LB" {
            return Err(format!("{what}: input.type must be QB or LB, not {kind:?}").into());
        }
        if !created && kind != rec.kind {
            return Err(format!(
                "{what}: input.type cannot change from {} to {kind}",
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
    if input.workers_pfb_target.is_some() {
        rec.workers_pfb_target = input.workers_pfb_target;
    }
    if input.locations.is_some() {
        rec.locations = input.locations;
    }
    if let Some(boot) = input.flash_boot_type {
        rec.flash_boot_type = Some(match boot {
            types::FlashBootType::Flashboot => types::FlashBootType::FLASHBOOT.to_owned(),
        });
    }
    if rec.workers_min < 0 || rec.workers_max < rec.workers_min {
        return Err(format!(
            "{what}: need 0 <= workersMin ({}) <= workersMax ({})",
            rec.workers_min, rec.workers_max
        )
        .into());
    }
    if rec.idle_timeout < 0 || rec.execution_timeout_ms < 0 {
        return Err(format!("{what}: idleTimeout and executionTimeoutMs must be >= 0").into());
    }
    if let Some(env_id) = input.flash_environment_id {
        if !store.environments.contains_key(&env_id) {
            return Err(format!(
                "{what}: input.flashEnvironmentId: environment not found: {env_id}"
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
    if let Some(v) = input.volumes {
        rec.volumes = v
            .into_iter()
            .map(|v| state_store::Volume {
                volume_id: v.volume_id,
                volume_type: v.volume_type,
            })
            .collect();
    }
    if let Some(v) = input.model_references {
        rec.model_references = v;
    }

    // Compute: a CPU endpoint (instanceIds) takes no GPU fields.
    if let Some(ids) = &input.instance_ids
        && let Some(bad) = ids
            .iter()
            .find(|id| !runpod::CPU_INSTANCES.contains(&id.as_str()))
    {
        return Err(format!(
            "{what}: input.instanceIds: unknown CPU instance id {bad:?} (known: {})",
            runpod::CPU_INSTANCES.join(",")
        )
        .into());
    }
    let cpu = match &input.instance_ids {
        Some(ids) => !ids.is_empty(),
        None => rec.instance_ids.as_ref().is_some_and(|ids| !ids.is_empty()),
    };
    let gpu_fields: Vec<&str> = [
        ("input.gpuIds", input.gpu_ids.is_some()),
        ("input.gpuCount", input.gpu_count.is_some()),
        ("input.minCudaVersion", input.min_cuda_version.is_some()),
        (
            "input.allowedCudaVersions",
            input.allowed_cuda_versions.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    if cpu && !gpu_fields.is_empty() {
        return Err(format!(
            "{what}: a CPU endpoint (instanceIds) takes no GPU fields, but {} given",
            missing_list(&gpu_fields)
        )
        .into());
    }
    if let Some(gpu_ids) = &input.gpu_ids {
        check_gpu_ids(&what, gpu_ids)?;
    }
    if let Some(n) = input.gpu_count
        && n < 1
    {
        return Err(format!("{what}: input.gpuCount must be >= 1, not {n}").into());
    }
    if let Some(ids) = input.instance_ids {
        if !ids.is_empty() {
            rec.gpu_ids = None;
            rec.gpu_count = None;
            rec.min_cuda_version = None;
            rec.allowed_cuda_versions = None;
        }
        rec.instance_ids = Some(ids);
    }
    macro_rules! take_opt {
        ($($field:ident),*) => { $( if input.$field.is_some() { rec.$field = input.$field; } )* };
    }
    take_opt!(gpu_ids, gpu_count, min_cuda_version, allowed_cuda_versions);

    // Bind the template; an inline one on update replaces the endpoint's bound template in
    // place. Last, so that a rejected input stores nothing.
    let mut changed_template = None;
    if let Some(tid) = input.template_id {
        rec.template_id = Some(tid);
    } else if let Some(t) = input.template {
        let tname = t.name.trim().to_owned();
        if tname.is_empty() {
            return Err(format!("{what}: input.template.name must not be empty").into());
        }
        let twhat = format!("{what}: template {tname}");
        // Both official clients always send these five (runpod-flash 1.21 the full PodTemplate
        // model, runpod 2.0 deploy.py).
        let missing: Vec<&str> = [
            ("input.template.imageName", t.image_name.is_none()),
            (
                "input.template.containerDiskInGb",
                t.container_disk_in_gb.is_none(),
            ),
            ("input.template.dockerArgs", t.docker_args.is_none()),
            ("input.template.env", t.env.is_none()),
        ]
        .into_iter()
        .filter_map(|(field, absent)| absent.then_some(field))
        .collect();
        if !missing.is_empty() {
            return Err(format!("{twhat}: {} required", missing_list(&missing)).into());
        }
        let own = if created {
            None
        } else {
            rec.template_id.clone()
        };
        check_unique_name(
            &store,
            &twhat,
            "input.template.name",
            &tname,
            own.as_deref(),
        )?;
        let previous = own.as_ref().and_then(|id| store.templates.get(id)).cloned();
        let id = own.unwrap_or_else(|| ids::short(10));
        let mut tpl = previous.clone().unwrap_or_default();
        tpl.id = id.clone();
        tpl.name = tname;
        tpl.image_name = t.image_name;
        tpl.container_disk_in_gb = t.container_disk_in_gb;
        tpl.docker_args = t.docker_args;
        tpl.env = t.env.as_deref().map(env_pairs).unwrap_or_default();
        macro_rules! keep_unless_given {
            ($($field:ident),*) => { $( if t.$field.is_some() { tpl.$field = t.$field; } )* };
        }
        keep_unless_given!(
            ports,
            start_script,
            advanced_start,
            container_registry_auth_id
        );
        if let Some(config) = t.config {
            tpl.config = Some(config.0);
        }
        if previous
            .as_ref()
            .is_some_and(|p| p.worker_identity() != tpl.worker_identity())
        {
            changed_template = Some(id.clone());
        }
        store.templates.insert(id.clone(), tpl);
        rec.template_id = Some(id);
    }

    if !created && (changed_template.is_some() || worker_identity(&before) != worker_identity(&rec))
    {
        rec.version += 1;
    }
    store.endpoints.insert(rec.id.clone(), rec.clone());
    let rolled = match &changed_template {
        Some(tid) => roll_template_users(&mut store, tid, Some(&rec.id)),
        None => Vec::new(),
    };
    Ok((rec, created, rolled))
}
