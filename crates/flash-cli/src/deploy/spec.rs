//! A manifest resource as `saveEndpoint` / `saveTemplate` input.

use flash_contract::env as vars;
use flash_contract::runpod;
use flash_platform::{EndpointSpec, TemplateSpec};
use runpod_flash::ApiKey;
use runpod_flash::manifest::ResourceConfig;

use super::DeployError;
use super::hash;
use crate::build::{ImageConfig, image_of};
use flash_contract::env::FLASH_SOURCE_FINGERPRINT as SOURCE_FINGERPRINT_ENV;
use serde_json::{Value, json};

/// What every endpoint of one deploy shares.
pub(crate) struct Context {
    pub(crate) app: String,
    pub(crate) env: String,
    pub(crate) environment_id: String,
    pub(crate) api_key: Option<ApiKey>,
    /// The build's source fingerprint: in every worker's env, so that a code-only change is a
    /// template change and rolls the workers (Runpod does not restart them when a build is
    /// activated).
    pub(crate) source_fingerprint: Option<String>,
}

/// The port a load-balanced worker serves on, set in its template as runpod 2.0 does (the
/// platform injects `PORT`/`PORT_HEALTH` only into a new template and does not re-inject them
/// when a template is saved again).
pub(crate) const LB_PORT: &str = "80";

/// The worker environment of `resource`: its own `env`, then the Flash variables (which win),
/// the source fingerprint, `PORT`/`PORT_HEALTH` for load-balanced workers, then
/// `RUNPOD_API_KEY` only when the resource makes remote calls.
pub(crate) fn worker_env(
    name: &str,
    resource: &ResourceConfig,
    ctx: &Context,
) -> Vec<(String, String)> {
    let kind = if resource.load_balanced() { "lb" } else { "qb" };
    let injected: [(&str, &str); 5] = [
        (vars::FLASH_RESOURCE_NAME, name),
        (vars::FLASH_ENVIRONMENT_ID, &ctx.environment_id),
        (vars::FLASH_APP, &ctx.app),
        (vars::FLASH_ENV, &ctx.env),
        (vars::FLASH_ENDPOINT_TYPE, kind),
    ];
    let reserved = |key: &str| {
        key == vars::RUNPOD_API_KEY
            || key == SOURCE_FINGERPRINT_ENV
            || (resource.load_balanced() && (key == vars::PORT || key == vars::PORT_HEALTH))
            || injected.iter().any(|(k, _)| *k == key)
    };
    let mut env: Vec<(String, String)> = resource
        .env
        .iter()
        .flatten()
        .filter(|(k, _)| !reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(
        injected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    if let Some(fingerprint) = &ctx.source_fingerprint {
        env.push((SOURCE_FINGERPRINT_ENV.to_owned(), fingerprint.clone()));
    }
    if resource.load_balanced() {
        env.push((vars::PORT.to_owned(), LB_PORT.to_owned()));
        env.push((vars::PORT_HEALTH.to_owned(), LB_PORT.to_owned()));
    }
    if resource.calls_remote()
        && let Some(key) = &ctx.api_key
    {
        env.push((vars::RUNPOD_API_KEY.to_owned(), key.expose().to_owned()));
    }
    env
}

/// The template of `resource`, with the defaults Python Flash sends for what the manifest
/// leaves out: a 64 GB container disk (a CPU instance's own limit, vCPU x 10 or x 15 GB, for CPU
/// workers), no docker arguments, no start script, `80/http` for load-balanced workers.
///
/// Named `flash-{app}-{env}-{resource}-{8 hex}` with a fresh suffix every time it is sent.
/// Runpod requires unique template names and an endpoint's template outlives the endpoint, so a
/// stable name would collide when a deleted resource's endpoint is created again; a new name on
/// every create and update (runpod-flash 1.21 likewise renames per configuration) cannot. The
/// rename happens in place: an update replaces the endpoint's bound template.
pub(crate) fn template(
    name: &str,
    resource: &ResourceConfig,
    ctx: &Context,
    id: Option<String>,
) -> TemplateSpec {
    let tpl = resource.template.as_ref();
    TemplateSpec {
        id,
        name: format!("{}-{}", template_base_name(name, ctx), unique_suffix()),
        // `flash build` writes every resource's image; `deploy` fills in the ones an older
        // manifest lacks. This default is for a manifest that reaches here without either.
        image_name: Some(image_of(resource, &ImageConfig::default())),
        container_disk_in_gb: Some(
            tpl.and_then(|t| t.container_disk_in_gb)
                .unwrap_or_else(|| default_container_disk(resource)),
        ),
        docker_args: Some(tpl.and_then(|t| t.docker_args.clone()).unwrap_or_default()),
        start_script: Some(tpl.and_then(|t| t.start_script.clone()).unwrap_or_default()),
        ports: Some(if resource.load_balanced() {
            format!("{LB_PORT}/http")
        } else {
            String::new()
        }),
        env: worker_env(name, resource, ctx),
    }
}

/// The stable part of a template's name.
fn template_base_name(name: &str, ctx: &Context) -> String {
    format!("flash-{}-{}-{name}", ctx.app, ctx.env)
}

/// Eight hex digits that differ between any two calls (time, process, counter).
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{nanos}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    hash::sha256_hex(&seed)[..8].to_owned()
}

/// What the endpoint's template is, for [`hash::deploy_hash`]: every field of the rendered
/// template, with the API key's value replaced by a digest of it (so a rotation is a change, and
/// the hash, which is published in the manifest, says nothing about the key).
pub(crate) fn template_identity(name: &str, resource: &ResourceConfig, ctx: &Context) -> Value {
    let t = template(name, resource, ctx, None);
    let env: Vec<Value> = t
        .env
        .iter()
        .map(|(key, value)| {
            let value = if key == vars::RUNPOD_API_KEY {
                format!("sha256:{}", &hash::sha256_hex(value)[..16])
            } else {
                value.clone()
            };
            json!([key, value])
        })
        .collect();
    json!({
        // The stable part only: the suffix is new on every send.
        "name": template_base_name(name, ctx),
        "imageName": t.image_name,
        "containerDiskInGb": t.container_disk_in_gb,
        "dockerArgs": t.docker_args,
        "startScript": t.start_script,
        "ports": t.ports,
        "env": env,
    })
}

/// Python Flash's default container disk: 64 GB, or for CPU workers the smallest limit of their
/// instance types.
fn default_container_disk(resource: &ResourceConfig) -> u64 {
    resource
        .instance_ids
        .iter()
        .flatten()
        .filter_map(|id| runpod::cpu_container_disk_limit_gb(id))
        .min()
        .unwrap_or(runpod::GPU_CONTAINER_DISK_GB)
}

/// The `saveEndpoint` input of `resource`: every option of the manifest, and only those (unset
/// options are left out, never sent as null). `existing` is the id of the endpoint to update.
/// The template always travels inline, on create and on update, as runpod 2.0 sends it: one
/// atomic `saveEndpoint`, whose template change (env, image) is what rolls the workers.
pub(crate) fn endpoint(
    name: &str,
    resource: &ResourceConfig,
    ctx: &Context,
    existing: Option<&str>,
) -> Result<EndpointSpec, DeployError> {
    let volume_id = |v: &runpod_flash::manifest::NetworkVolume| {
        v.id.clone().ok_or_else(|| DeployError::Volume {
            resource: name.to_owned(),
            message: format!(
                "network volume {} has no id; create it on Runpod and put its id in the manifest",
                v.name.as_deref().unwrap_or("(unnamed)")
            ),
        })
    };
    let (network_volume_id, network_volume_ids) = match (
        &resource.network_volume_id,
        &resource.network_volume,
        &resource.network_volumes,
    ) {
        (Some(id), _, _) => (Some(id.clone()), None),
        (None, Some(v), _) => (Some(volume_id(v)?), None),
        (None, None, Some(vs)) if vs.len() == 1 => (Some(volume_id(&vs[0])?), None),
        (None, None, Some(vs)) => {
            let mut ids = Vec::with_capacity(vs.len());
            for v in vs {
                ids.push(volume_id(v)?);
            }
            (None, Some(ids))
        }
        (None, None, None) => (None, None),
    };
    // A manifest may bind a template of its own (Python Flash's `template_id`): it stays bound,
    // and is never replaced by one of ours.
    let (template_id, template) = match &resource.template_id {
        Some(tid) => (Some(tid.clone()), None),
        None => (None, Some(template(name, resource, ctx, None))),
    };
    // GPU fields only on GPU endpoints: "the RunPod GraphQL API rejects CPU endpoints with
    // GPU-specific fields" (runpod-flash 1.21 serverless_cpu.py).
    let cpu = resource
        .instance_ids
        .as_ref()
        .is_some_and(|ids| !ids.is_empty());
    fn gpu<T>(cpu: bool, value: Option<T>) -> Option<T> {
        if cpu { None } else { value }
    }
    Ok(EndpointSpec {
        id: existing.map(str::to_owned),
        name: name.to_owned(),
        kind: Some(if resource.load_balanced() { "LB" } else { "QB" }.to_owned()),
        workers_min: resource.workers_min,
        workers_max: resource.workers_max,
        idle_timeout: resource.idle_timeout,
        scaler_type: resource.scaler_type.clone(),
        scaler_value: resource.scaler_value,
        execution_timeout_ms: resource.execution_timeout_ms,
        locations: resource.locations.clone(),
        flash_environment_id: Some(ctx.environment_id.clone()),
        flashboot: resource.flashboot != Some(false),
        network_volume_id,
        network_volume_ids,
        gpu_ids: gpu(cpu, resource.gpu_ids.as_deref().map(runpod::expand_gpu_ids)),
        gpu_count: gpu(cpu, resource.gpu_count),
        min_cuda_version: gpu(cpu, resource.min_cuda_version.clone()),
        instance_ids: resource.instance_ids.clone(),
        template_id,
        template,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(key: Option<&ApiKey>) -> Context {
        Context {
            app: "demo".to_owned(),
            env: "dev".to_owned(),
            environment_id: "env_1".to_owned(),
            api_key: key.cloned(),
            source_fingerprint: Some("fp1".to_owned()),
        }
    }

    #[test]
    fn api_key_only_for_remote_callers() {
        let key = ApiKey::new("k").unwrap();
        let mut r = ResourceConfig {
            makes_remote_calls: Some(false),
            env: Some(
                [
                    ("A".to_owned(), "1".to_owned()),
                    ("FLASH_APP".to_owned(), "x".to_owned()),
                ]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        };
        let env = worker_env("w", &r, &ctx(Some(&key)));
        assert!(!env.iter().any(|(k, _)| k == "RUNPOD_API_KEY"));
        assert!(env.contains(&("A".to_owned(), "1".to_owned())));
        assert!(env.contains(&("FLASH_APP".to_owned(), "demo".to_owned())));
        assert!(env.contains(&("FLASH_ENDPOINT_TYPE".to_owned(), "qb".to_owned())));
        r.makes_remote_calls = Some(true);
        let env = worker_env("w", &r, &ctx(Some(&key)));
        assert!(env.contains(&("RUNPOD_API_KEY".to_owned(), "k".to_owned())));
    }

    #[test]
    fn every_option_reaches_save_endpoint() {
        let r = ResourceConfig {
            is_load_balanced: Some(true),
            workers_min: Some(1),
            workers_max: Some(4),
            idle_timeout: Some(9),
            scaler_type: Some("REQUEST_COUNT".to_owned()),
            scaler_value: Some(2),
            gpu_ids: Some("ADA_24".to_owned()),
            gpu_count: Some(2),
            min_cuda_version: Some("12.8".to_owned()),
            locations: Some("US-CA-2".to_owned()),
            execution_timeout_ms: Some(5000),
            flashboot: Some(false),
            network_volume_id: Some("vol".to_owned()),
            ..Default::default()
        };
        let spec = endpoint("api", &r, &ctx(None), None).unwrap();
        assert_eq!(spec.kind.as_deref(), Some("LB"));
        assert_eq!(
            (spec.workers_min, spec.workers_max, spec.idle_timeout),
            (Some(1), Some(4), Some(9))
        );
        assert_eq!(spec.gpu_count, Some(2));
        assert_eq!(spec.execution_timeout_ms, Some(5000));
        assert!(!spec.flashboot);
        assert_eq!(spec.network_volume_id.as_deref(), Some("vol"));
        assert_eq!(spec.flash_environment_id.as_deref(), Some("env_1"));
        let t = spec.template.unwrap();
        assert_eq!(
            t.image_name,
            Some(flash_contract::images::default_image(true, None)),
            "a GPU resource without an image gets the default GPU image"
        );
        assert_eq!(t.ports.as_deref(), Some("80/http"));
        assert_eq!(t.container_disk_in_gb, Some(64));
        assert_eq!(
            (t.docker_args.as_deref(), t.start_script.as_deref()),
            (Some(""), Some(""))
        );
        assert!(t.env.contains(&("PORT".to_owned(), "80".to_owned())));
        assert!(t.env.contains(&("PORT_HEALTH".to_owned(), "80".to_owned())));
        assert!(
            t.env
                .contains(&("_FLASH_SOURCE_FINGERPRINT".to_owned(), "fp1".to_owned()))
        );
        // An update carries the template inline too, never next to a templateId.
        let spec = endpoint("api", &r, &ctx(None), Some("ep")).unwrap();
        assert_eq!(spec.id.as_deref(), Some("ep"));
        assert!(spec.template.is_some() && spec.template_id.is_none());
    }

    #[test]
    fn the_template_identity_tracks_the_key_without_holding_it() {
        let r = ResourceConfig {
            makes_remote_calls: Some(true),
            ..Default::default()
        };
        let one = ApiKey::new("key-one").unwrap();
        let two = ApiKey::new("key-two").unwrap();
        let a = template_identity("w", &r, &ctx(Some(&one)));
        let b = template_identity("w", &r, &ctx(Some(&two)));
        assert_ne!(a, b, "a rotated key must change the deploy hash");
        assert!(!a.to_string().contains("key-one"), "{a}");
        let none = template_identity("w", &r, &ctx(None));
        assert_ne!(a, none);
        let mut fingerprint = ctx(Some(&one));
        fingerprint.source_fingerprint = Some("fp2".to_owned());
        assert_ne!(a, template_identity("w", &r, &fingerprint));
    }

    #[test]
    fn template_names_are_new_each_time_and_the_identity_is_not() {
        let r = ResourceConfig::default();
        let (a, b) = (
            template("w", &r, &ctx(None), None),
            template("w", &r, &ctx(None), None),
        );
        assert_ne!(a.name, b.name);
        assert!(
            a.name.starts_with("flash-demo-dev-w-")
                && a.name.len() == "flash-demo-dev-w-".len() + 8
        );
        assert_eq!(
            template_identity("w", &r, &ctx(None)),
            template_identity("w", &r, &ctx(None))
        );
    }

    #[test]
    fn the_manifest_image_reaches_the_template_and_the_identity() {
        let cpu = ResourceConfig {
            instance_ids: Some(vec!["cpu3c-1-2".to_owned()]),
            ..Default::default()
        };
        let t = template("c", &cpu, &ctx(None), None);
        assert_eq!(
            t.image_name,
            Some(flash_contract::images::default_image(false, None))
        );
        let pushed = ResourceConfig {
            image_name: Some("docker.io/me/flash-rs-worker-cpu:0.1.0".to_owned()),
            ..cpu.clone()
        };
        let t = template("c", &pushed, &ctx(None), None);
        assert_eq!(
            t.image_name.as_deref(),
            Some("docker.io/me/flash-rs-worker-cpu:0.1.0")
        );
        assert_ne!(
            template_identity("c", &cpu, &ctx(None)),
            template_identity("c", &pushed, &ctx(None)),
            "another image is another deploy hash"
        );
    }

    #[test]
    fn gpu_any_expands_and_cpu_endpoints_carry_no_gpu_fields() {
        let gpu = ResourceConfig {
            gpu_ids: Some("any".to_owned()),
            gpu_count: Some(1),
            ..Default::default()
        };
        let spec = endpoint("g", &gpu, &ctx(None), None).unwrap();
        assert_eq!(
            spec.gpu_ids.as_deref(),
            Some(runpod::GPU_POOLS.join(",").as_str())
        );
        let cpu = ResourceConfig {
            instance_ids: Some(vec!["cpu3c-1-2".to_owned(), "cpu3c-4-8".to_owned()]),
            gpu_ids: Some("any".to_owned()),
            gpu_count: Some(1),
            min_cuda_version: Some("12.8".to_owned()),
            ..Default::default()
        };
        let spec = endpoint("c", &cpu, &ctx(None), None).unwrap();
        assert_eq!(
            (spec.gpu_ids, spec.gpu_count, spec.min_cuda_version),
            (None, None, None)
        );
        assert_eq!(spec.template.unwrap().container_disk_in_gb, Some(10));
    }
}
