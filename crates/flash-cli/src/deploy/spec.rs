//! A manifest resource as `saveEndpoint` / `saveTemplate` input.

use flash_contract::env as vars;
use flash_platform::{EndpointSpec, TemplateSpec};
use runpod_flash::ApiKey;
use runpod_flash::manifest::ResourceConfig;

use super::DeployError;

/// Container image of workers whose resource names none. The emulator ignores it.
pub const DEFAULT_WORKER_IMAGE: &str = "runpod/flash-rs:latest";

/// What every endpoint of one deploy shares.
pub(crate) struct Context {
    pub(crate) app: String,
    pub(crate) env: String,
    pub(crate) environment_id: String,
    pub(crate) api_key: Option<ApiKey>,
}

/// The worker environment of `resource`: its own `env`, then the Flash variables (which win),
/// then `RUNPOD_API_KEY` only when the resource makes remote calls.
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
    let reserved =
        |key: &str| key == vars::RUNPOD_API_KEY || injected.iter().any(|(k, _)| *k == key);
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
    if resource.calls_remote()
        && let Some(key) = &ctx.api_key
    {
        env.push((vars::RUNPOD_API_KEY.to_owned(), key.expose().to_owned()));
    }
    env
}

/// The template of `resource` (named after the environment and resource).
pub(crate) fn template(
    name: &str,
    resource: &ResourceConfig,
    ctx: &Context,
    id: Option<String>,
) -> TemplateSpec {
    let tpl = resource.template.as_ref();
    TemplateSpec {
        id,
        name: format!("flash-{}-{}-{name}", ctx.app, ctx.env),
        image_name: Some(
            resource
                .image_name
                .clone()
                .unwrap_or_else(|| DEFAULT_WORKER_IMAGE.to_owned()),
        ),
        container_disk_in_gb: tpl.and_then(|t| t.container_disk_in_gb),
        docker_args: tpl.and_then(|t| t.docker_args.clone()),
        start_script: tpl.and_then(|t| t.start_script.clone()),
        env: worker_env(name, resource, ctx),
    }
}

/// The `saveEndpoint` input of `resource`: every option of the manifest. `existing` is the id
/// and template id of the endpoint to update; without it the endpoint is created with an inline
/// template.
pub(crate) fn endpoint(
    name: &str,
    resource: &ResourceConfig,
    ctx: &Context,
    existing: Option<(&str, Option<&str>)>,
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
                ids.push((volume_id(v)?, v.data_center_id.clone()));
            }
            (None, Some(ids))
        }
        (None, None, None) => (None, None),
    };
    let (id, template_id, template) = match existing {
        Some((id, Some(template_id))) => (Some(id.to_owned()), Some(template_id.to_owned()), None),
        // No known template: send one inline; the platform replaces the endpoint's.
        Some((id, None)) => (
            Some(id.to_owned()),
            None,
            Some(template(name, resource, ctx, None)),
        ),
        None => match &resource.template_id {
            Some(tid) => (None, Some(tid.clone()), None),
            None => (None, None, Some(template(name, resource, ctx, None))),
        },
    };
    Ok(EndpointSpec {
        id,
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
        flash_boot_type: Some(
            if resource.flashboot == Some(false) {
                "OFF"
            } else {
                "FLASHBOOT"
            }
            .to_owned(),
        ),
        network_volume_id,
        network_volume_ids,
        gpu_ids: resource.gpu_ids.clone(),
        gpu_count: resource.gpu_count,
        min_cuda_version: resource.min_cuda_version.clone(),
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
        assert_eq!(spec.flash_boot_type.as_deref(), Some("OFF"));
        assert_eq!(spec.network_volume_id.as_deref(), Some("vol"));
        assert_eq!(spec.flash_environment_id.as_deref(), Some("env_1"));
        let t = spec.template.unwrap();
        assert_eq!(t.image_name.as_deref(), Some(DEFAULT_WORKER_IMAGE));
        let spec = endpoint("api", &r, &ctx(None), Some(("ep", Some("tpl")))).unwrap();
        assert!(spec.template.is_none());
        assert_eq!(spec.template_id.as_deref(), Some("tpl"));
    }
}
