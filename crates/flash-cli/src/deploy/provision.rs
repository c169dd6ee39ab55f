//! Carrying out the steps: endpoints created, updated or deleted, concurrently.

use std::sync::Arc;

use flash_platform::Platform;
use runpod_flash::manifest::ResourceConfig;

use super::build_output::BuildOutput;
use super::plan::Step;
use super::{
    DeployError, DeployOptions, DeployedEndpoint, EndpointAction, action_word, platform, spec,
};
use crate::progress::{Event, Progress};

/// Carries out every step concurrently; the endpoints provisioned, in plan order, and what
/// failed (one line each, naming the resource or endpoint).
pub(crate) async fn provision_all(
    client: &Platform,
    ctx: &Arc<spec::Context>,
    options: &DeployOptions,
    build: &BuildOutput,
    steps: &[Step],
    progress: &dyn Progress,
) -> (Vec<DeployedEndpoint>, Vec<String>) {
    let shared = Arc::new(options.clone());
    let mut names = Vec::with_capacity(steps.len());
    let mut tasks = tokio::task::JoinSet::new();
    for (index, step) in steps.iter().cloned().enumerate() {
        let resource = match &step {
            Step::Create { name, .. } | Step::Update { name, .. } | Step::Keep { name, .. } => {
                build
                    .manifest
                    .resources
                    .get(name)
                    .cloned()
                    .unwrap_or_default()
            }
            Step::Delete { .. } => ResourceConfig::default(),
        };
        let (resource_name, action) = match &step {
            Step::Create { name, .. } => (name.clone(), "creating"),
            Step::Update { name, .. } => (name.clone(), "updating"),
            Step::Keep { name, .. } => (name.clone(), "checking"),
            Step::Delete { endpoint } => (
                endpoint.name.clone().unwrap_or_else(|| endpoint.id.clone()),
                "deleting",
            ),
        };
        progress.event(&Event::EndpointStarted {
            resource: &resource_name,
            action,
        });
        names.push(resource_name);
        let (client, ctx, options) = (client.clone(), Arc::clone(ctx), Arc::clone(&shared));
        tasks.spawn(async move {
            let result = provision(&client, &ctx, &options, &resource, &step).await;
            (index, result)
        });
    }
    let mut results = Vec::with_capacity(steps.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => {
                // Each endpoint's final state as soon as it is known.
                let (index, result) = &done;
                let resource = names.get(*index).map_or("?", String::as_str);
                let line = match result {
                    Ok(e) => format!("{} ({})", action_word(e.action), e.endpoint_id),
                    Err(error) => error.to_string(),
                };
                progress.event(&Event::EndpointFinished {
                    resource,
                    line: &line,
                    ok: result.is_ok(),
                });
                results.push(done);
            }
            Err(error) => results.push((
                usize::MAX,
                Err(DeployError::Provisioning {
                    failures: vec![format!("a provisioning task failed: {error}")],
                }),
            )),
        }
    }
    results.sort_by_key(|(index, _)| *index);
    let mut endpoints = Vec::new();
    let mut failures = Vec::new();
    for (_, result) in results {
        match result {
            Ok(done) => endpoints.push(done),
            Err(error) => failures.push(error.to_string()),
        }
    }
    (endpoints, failures)
}

/// One step.
async fn provision(
    client: &Platform,
    ctx: &spec::Context,
    options: &DeployOptions,
    resource: &ResourceConfig,
    step: &Step,
) -> Result<DeployedEndpoint, DeployError> {
    let done = |name: &str, endpoint_id: String, action| {
        let load_balanced = resource.load_balanced();
        DeployedEndpoint {
            resource: name.to_owned(),
            url: options.endpoint_url(&endpoint_id, load_balanced),
            endpoint_id,
            load_balanced,
            action,
        }
    };
    match step {
        Step::Keep {
            name, endpoint_id, ..
        } => Ok(done(name, endpoint_id.clone(), EndpointAction::Unchanged)),
        Step::Create { name, .. } => {
            let spec = spec::endpoint(name, resource, ctx, None)?;
            let saved = client.save_endpoint(&spec).await.map_err(platform(format!(
                "creating the endpoint of resource `{name}`"
            )))?;
            Ok(done(name, saved.id, EndpointAction::Created))
        }
        Step::Update { name, endpoint, .. } => {
            // One saveEndpoint with the template inline, as runpod 2.0 updates an endpoint: the
            // template's env and image change atomically with the endpoint, and that change is
            // what rolls its workers.
            let spec = spec::endpoint(name, resource, ctx, Some(&endpoint.id))?;
            client.save_endpoint(&spec).await.map_err(platform(format!(
                "updating endpoint `{}` of resource `{name}`",
                endpoint.id
            )))?;
            Ok(done(name, endpoint.id.clone(), EndpointAction::Updated))
        }
        Step::Delete { endpoint } => {
            let name = endpoint.name.clone().unwrap_or_else(|| endpoint.id.clone());
            client
                .delete_endpoint(&endpoint.id)
                .await
                .map_err(platform(format!(
                    "deleting endpoint `{}` ({name}), which no resource claims any more",
                    endpoint.id
                )))?;
            Ok(DeployedEndpoint {
                resource: name,
                endpoint_id: endpoint.id.clone(),
                url: String::new(),
                load_balanced: endpoint.kind.as_deref() == Some("LB"),
                action: EndpointAction::Deleted,
            })
        }
    }
}
