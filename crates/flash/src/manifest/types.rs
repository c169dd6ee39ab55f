//! serde types for `flash_manifest.json`, with every field Python Flash writes.
//!
//! Field names follow the file (Python mixes `snake_case` and `camelCase`). Fields Python may
//! leave out are `Option`s, so a load + save gives back an equal JSON value; accessor methods
//! supply the defaults. Keys this crate does not know are kept in each struct's `extra` map and
//! written back unchanged.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::ApiKey;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version; Python Flash always writes `"1.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Python version of the app (Python Flash only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// UTC ISO-8601 build time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    /// App name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// Resources (endpoints) by name.
    #[serde(default)]
    pub resources: IndexMap<String, ResourceConfig>,
    /// Function name to the name of the resource that owns it.
    #[serde(default)]
    pub function_registry: IndexMap<String, String>,
    /// Per load-balanced resource, `"METHOD /path"` to function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<IndexMap<String, IndexMap<String, String>>>,
    /// SHA-256 over the shipped sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_fingerprint: Option<String>,
    /// The target triple the packed executable was built for (`x86_64-unknown-linux-gnu`),
    /// under the key `flash_contract::artifact::TARGET_FIELD` (`"target"`): the boot step
    /// refuses an artifact whose target does not run on the worker. Rust Flash only; Python
    /// Flash manifests have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// After deploy: resource name to endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_endpoints: Option<IndexMap<String, String>>,
    /// Keys this crate does not know, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One resource (a Runpod endpoint) and its functions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResourceConfig {
    /// Python's resource class name (`LiveServerless`, `CpuLiveLoadBalancer`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Source file, relative to the build directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<String>,
    /// Dev-server URL prefix (Python Flash only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_path_prefix: Option<String>,
    /// Dotted module path of the source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_path: Option<String>,
    /// The functions this resource serves.
    #[serde(default)]
    pub functions: Vec<FunctionEntry>,
    /// Load-balanced (HTTP) rather than queue-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_load_balanced: Option<bool>,
    /// Python Flash's "live" resource flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_live_resource: Option<bool>,
    /// Module-level variable holding the resource config; `null` when declared inline.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub config_variable: Option<Option<String>>,
    /// Whether any function of this resource calls another resource's functions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub makes_remote_calls: Option<bool>,
    /// Jobs one worker runs at once (queue resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Worker image.
    #[serde(rename = "imageName", default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
    /// Python version declared on the resource (Python Flash only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
    /// Existing Runpod template to use.
    #[serde(
        rename = "templateId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub template_id: Option<String>,
    /// GPU pools, comma-separated (GPU resources).
    #[serde(rename = "gpuIds", default, skip_serializing_if = "Option::is_none")]
    pub gpu_ids: Option<String>,
    /// CPU instance types (CPU resources).
    #[serde(
        rename = "instanceIds",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_ids: Option<Vec<String>>,
    /// Minimum workers kept running.
    #[serde(
        rename = "workersMin",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub workers_min: Option<u32>,
    /// Maximum workers.
    #[serde(
        rename = "workersMax",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub workers_max: Option<u32>,
    /// Seconds an idle worker lives.
    #[serde(
        rename = "idleTimeout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<u32>,
    /// `QUEUE_DELAY` or `REQUEST_COUNT`.
    #[serde(
        rename = "scalerType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub scaler_type: Option<String>,
    /// The scaler's threshold.
    #[serde(
        rename = "scalerValue",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub scaler_value: Option<u32>,
    /// Datacenters, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<String>,
    /// Minimum CUDA version (GPU resources).
    #[serde(
        rename = "minCudaVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_cuda_version: Option<String>,
    /// Environment variables given to the workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<IndexMap<String, String>>,
    /// Network volumes (two or more).
    #[serde(
        rename = "networkVolumes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_volumes: Option<Vec<NetworkVolume>>,
    /// One network volume.
    #[serde(
        rename = "networkVolume",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_volume: Option<NetworkVolume>,
    /// Id of one existing network volume.
    #[serde(
        rename = "networkVolumeId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_volume_id: Option<String>,
    /// Pod template settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateConfig>,
    /// GPUs per worker (Rust Flash; Python Flash drops it at deploy).
    #[serde(rename = "gpuCount", default, skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<u32>,
    /// Platform execution timeout per job in ms, 0 for none (Rust Flash).
    #[serde(
        rename = "executionTimeoutMs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_timeout_ms: Option<u64>,
    /// FlashBoot (faster cold starts from cached snapshots), default on (Rust Flash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flashboot: Option<bool>,
    /// Programs the workers need on `PATH`; checked by each worker at start (Rust Flash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_dependencies: Option<Vec<String>>,
    // Python writes these two after `template`; keeping its order makes a rewritten manifest
    // byte-identical to the original.
    /// Generated Python handler file (Python Flash only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_file: Option<String>,
    /// Python version of the worker image (Python Flash only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_python_version: Option<String>,
    /// After deploy: the Runpod endpoint id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    /// After deploy, State Manager copy only: the endpoint's key. Redacted in `Debug`.
    #[serde(rename = "aiKey", default, skip_serializing_if = "Option::is_none")]
    pub ai_key: Option<ApiKey>,
    /// Keys this crate does not know, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResourceConfig {
    /// Whether this resource serves HTTP routes (`is_load_balanced`, default false).
    pub fn load_balanced(&self) -> bool {
        self.is_load_balanced.unwrap_or(false)
    }

    /// Whether this resource calls other resources. Unknown counts as yes, as in Python Flash:
    /// wrongly assuming no would break its calls.
    pub fn calls_remote(&self) -> bool {
        self.makes_remote_calls.unwrap_or(true)
    }

    /// The function called `name`, if this resource lists it.
    pub fn function(&self, name: &str) -> Option<&FunctionEntry> {
        self.functions.iter().find(|f| f.name == name)
    }
}

/// One function (or class) of a resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionEntry {
    /// Function or class name; unique across the app.
    pub name: String,
    /// Module path of its definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Whether it is async.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_async: Option<bool>,
    /// Whether it is a class (a stateful endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_class: Option<bool>,
    /// Public methods of a class, in definition order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_methods: Option<Vec<String>>,
    /// HTTP method (load-balanced resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// HTTP path, possibly with `{param}` segments (load-balanced resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_path: Option<String>,
    /// Keys this crate does not know, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A network volume reference.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetworkVolume {
    /// Volume name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Volume id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Size in GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Datacenter.
    #[serde(
        rename = "dataCenterId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub data_center_id: Option<String>,
    /// Keys this crate does not know, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Pod template settings of a resource.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TemplateConfig {
    /// Container disk in GB.
    #[serde(
        rename = "containerDiskInGb",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_disk_in_gb: Option<u64>,
    /// Extra docker arguments.
    #[serde(
        rename = "dockerArgs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_args: Option<String>,
    /// Start script.
    #[serde(
        rename = "startScript",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_script: Option<String>,
    /// Advanced start flag.
    #[serde(
        rename = "advancedStart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub advanced_start: Option<bool>,
    /// Registry credentials id.
    #[serde(
        rename = "containerRegistryAuthId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_registry_auth_id: Option<String>,
    /// Keys this crate does not know, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reads a field that may be present-and-null, keeping "null" apart from "absent".
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `target` key is the one the boot step reads; absent when unset, so manifests without
    /// it (Python Flash's, older Rust builds) round-trip unchanged.
    #[test]
    fn target_is_the_contract_field_and_optional() {
        // The serde attribute cannot name the constant: pin the two together here.
        assert_eq!(flash_contract::artifact::TARGET_FIELD, "target");
        let manifest = Manifest {
            target: Some("x86_64-unknown-linux-gnu".to_owned()),
            ..Manifest::default()
        };
        let value = serde_json::to_value(&manifest).expect("serializes");
        assert_eq!(
            value[flash_contract::artifact::TARGET_FIELD],
            "x86_64-unknown-linux-gnu"
        );
        let back: Manifest = serde_json::from_value(value).expect("parses");
        assert_eq!(back.target.as_deref(), Some("x86_64-unknown-linux-gnu"));
        assert!(back.extra.is_empty(), "not duplicated into extra");

        let none = serde_json::to_value(Manifest::default()).expect("serializes");
        assert!(none.get("target").is_none(), "{none}");
    }

    #[test]
    fn python_manifests_still_parse_and_round_trip() {
        for (name, text) in [
            (
                "01_hello_world",
                include_str!("../../tests/fixtures/manifests/valid/01_hello_world.json"),
            ),
            (
                "03_mixed_workers",
                include_str!("../../tests/fixtures/manifests/valid/03_mixed_workers.json"),
            ),
            (
                "05_load_balancer",
                include_str!("../../tests/fixtures/manifests/valid/05_load_balancer.json"),
            ),
        ] {
            let original: Value = serde_json::from_str(text).expect("fixture is JSON");
            let manifest: Manifest =
                serde_json::from_value(original.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(manifest.target, None, "{name}");
            assert!(!manifest.resources.is_empty(), "{name}");
            assert_eq!(
                serde_json::to_value(&manifest).expect("serializes"),
                original,
                "{name}"
            );
        }
    }
}
