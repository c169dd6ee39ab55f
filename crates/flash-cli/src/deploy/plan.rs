//! What to do with each resource and endpoint.

use std::collections::BTreeMap;

use flash_platform::PlatformEndpoint;
use runpod_flash::manifest::ManifestDocument;
use serde_json::Value;

use super::build_output::BuildOutput;
use super::{hash, spec};

/// What to do with one resource or endpoint.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Create {
        name: String,
        hash: String,
    },
    Update {
        name: String,
        hash: String,
        endpoint: PlatformEndpoint,
    },
    Keep {
        name: String,
        hash: String,
        endpoint_id: String,
    },
    Delete {
        endpoint: PlatformEndpoint,
    },
}

/// Each provisioned resource's deploy hash.
pub(crate) fn hashes_of(steps: &[Step]) -> BTreeMap<&str, &str> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Keep { name, hash, .. }
            | Step::Create { name, hash }
            | Step::Update { name, hash, .. } => Some((name.as_str(), hash.as_str())),
            Step::Delete { .. } => None,
        })
        .collect()
}

/// Decides the steps from the new manifest, the previous build's manifest and the platform's
/// endpoint list of the environment. A resource is kept only when the previous deploy
/// provisioned it with the same deploy hash: the same entry and the same rendered template
/// (source fingerprint and API key included).
pub(crate) fn plan(
    build: &BuildOutput,
    previous: &ManifestDocument,
    listed: &[PlatformEndpoint],
    ctx: &spec::Context,
) -> Vec<Step> {
    let local = build.raw.resources();
    let mut claimed: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for name in build.manifest.resources.keys() {
        let entry = local.get(name).cloned().unwrap_or(Value::Null);
        let resource = &build.manifest.resources[name];
        let hash = hash::deploy_hash(&entry, &spec::template_identity(name, resource, ctx));
        // The endpoint the previous manifest records, if the platform still lists it.
        let tracked = previous.endpoint_id(name).and_then(|id| {
            let endpoint = listed.iter().find(|e| e.id == id)?;
            Some((previous.deploy_hash(name), endpoint))
        });
        let step = match tracked {
            Some((prev_hash, endpoint)) if prev_hash.as_deref() == Some(hash.as_str()) => {
                Step::Keep {
                    name: name.clone(),
                    hash,
                    endpoint_id: endpoint.id.clone(),
                }
            }
            Some((_, endpoint)) => Step::Update {
                name: name.clone(),
                hash,
                endpoint: endpoint.clone(),
            },
            // An endpoint of this environment with the resource's name that no manifest records
            // (an interrupted deploy): adopt it instead of creating a twin.
            None => match listed
                .iter()
                .find(|e| e.name.as_deref() == Some(name.as_str()) && !claimed.contains(&e.id))
            {
                Some(endpoint) => Step::Update {
                    name: name.clone(),
                    hash,
                    endpoint: endpoint.clone(),
                },
                None => Step::Create {
                    name: name.clone(),
                    hash,
                },
            },
        };
        match &step {
            Step::Keep { endpoint_id, .. } => claimed.push(endpoint_id.clone()),
            Step::Update { endpoint, .. } => claimed.push(endpoint.id.clone()),
            Step::Create { .. } | Step::Delete { .. } => {}
        }
        steps.push(step);
    }
    for endpoint in listed {
        if !claimed.contains(&endpoint.id) {
            steps.push(Step::Delete {
                endpoint: endpoint.clone(),
            });
        }
    }
    steps
}
