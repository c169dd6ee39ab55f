//! Which worker image each resource runs, decided at build time and written into the manifest's
//! `imageName`, so the manifest says exactly what deploys and the deploy hash covers it.
//!
//! For a resource, the first of:
//!
//! 1. its own `Resource::image(..)` (already in the manifest entry);
//! 2. `FLASH_CPU_IMAGE` / `FLASH_GPU_IMAGE` (full names), then `cpu-image` / `gpu-image` in the
//!    app's `[package.metadata.flash]`;
//! 3. the Flash-for-Rust default, [`default_image`], under the registry of
//!    `FLASH_IMAGE_REGISTRY`, else `image-registry`, else none (a name only the local emulator
//!    runs).

use std::path::Path;

use flash_contract::env;
use flash_contract::images::default_image;
use runpod_flash::manifest::{Manifest, ResourceConfig};
use serde_json::Value;

use super::BuildError;

/// The keys of `[package.metadata.flash]`.
const REGISTRY_KEY: &str = "image-registry";
const CPU_KEY: &str = "cpu-image";
const GPU_KEY: &str = "gpu-image";
const KEYS: [&str; 3] = [REGISTRY_KEY, CPU_KEY, GPU_KEY];

/// Image settings from one place: `[package.metadata.flash]` or the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// Registry the default images are under (`docker.io/me`).
    pub registry: Option<String>,
    /// Full image name for CPU resources.
    pub cpu_image: Option<String>,
    /// Full image name for GPU resources.
    pub gpu_image: Option<String>,
}

impl ImageConfig {
    /// `FLASH_IMAGE_REGISTRY`, `FLASH_CPU_IMAGE` and `FLASH_GPU_IMAGE` (blank counts as unset).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with variables from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self {
            registry: var(env::FLASH_IMAGE_REGISTRY),
            cpu_image: var(env::FLASH_CPU_IMAGE),
            gpu_image: var(env::FLASH_GPU_IMAGE),
        }
    }

    /// These settings, with `under`'s where these have none.
    #[must_use]
    pub fn over(&self, under: &Self) -> Self {
        Self {
            registry: self.registry.clone().or_else(|| under.registry.clone()),
            cpu_image: self.cpu_image.clone().or_else(|| under.cpu_image.clone()),
            gpu_image: self.gpu_image.clone().or_else(|| under.gpu_image.clone()),
        }
    }

    /// The image of a resource that names none: the full name for its kind, else the default
    /// image under the registry.
    pub fn image(&self, gpu: bool) -> String {
        let explicit = if gpu {
            &self.gpu_image
        } else {
            &self.cpu_image
        };
        explicit
            .clone()
            .unwrap_or_else(|| default_image(gpu, self.registry.as_deref()))
    }
}

/// Whether `resource` runs on GPU workers: it lists no CPU instance types and is not one of
/// Python Flash's `Cpu*` resource classes.
pub fn is_gpu(resource: &ResourceConfig) -> bool {
    let cpu_instances = resource
        .instance_ids
        .as_ref()
        .is_some_and(|ids| !ids.is_empty());
    let cpu_class = resource
        .resource_type
        .as_deref()
        .is_some_and(|t| t.starts_with("Cpu"));
    !cpu_instances && !cpu_class
}

/// The image `resource` runs: its own `imageName`, else `config`'s for its kind.
pub fn image_of(resource: &ResourceConfig, config: &ImageConfig) -> String {
    resource
        .image_name
        .clone()
        .unwrap_or_else(|| config.image(is_gpu(resource)))
}

/// Writes every resource's image into its `imageName`.
pub(crate) fn resolve(manifest: &mut Manifest, config: &ImageConfig) {
    for resource in manifest.resources.values_mut() {
        let image = image_of(resource, config);
        resource.image_name = Some(image);
    }
}

/// Reads `[package.metadata.flash]` from the package's `metadata` (as `cargo metadata` gives
/// it). Unknown keys are warnings; a value of the wrong type, blank, or with whitespace is an
/// error naming `Cargo.toml` and the key.
pub(crate) fn from_metadata(
    metadata: &Value,
    manifest: &Path,
    warnings: &mut Vec<String>,
) -> Result<ImageConfig, BuildError> {
    let fail = |key: &str, message: String| BuildError::Config {
        manifest: manifest.to_owned(),
        key: key.to_owned(),
        message,
    };
    let table = match metadata.get("flash") {
        None | Some(Value::Null) => return Ok(ImageConfig::default()),
        Some(Value::Object(table)) => table,
        Some(other) => {
            return Err(fail(
                "package.metadata.flash",
                format!("must be a table, not {}", kind(other)),
            ));
        }
    };
    let mut config = ImageConfig::default();
    for (key, value) in table {
        let slot = match key.as_str() {
            REGISTRY_KEY => &mut config.registry,
            CPU_KEY => &mut config.cpu_image,
            GPU_KEY => &mut config.gpu_image,
            unknown => {
                let hint = KEYS
                    .iter()
                    .find(|k| k.replace('-', "_") == unknown.replace('-', "_"))
                    .map_or_else(String::new, |k| format!("; did you mean `{k}`?"));
                warnings.push(format!(
                    "{}: unknown key `{unknown}` in [package.metadata.flash] (known: {}){hint}",
                    manifest.display(),
                    KEYS.join(", ")
                ));
                continue;
            }
        };
        let full = format!("package.metadata.flash.{key}");
        let Value::String(text) = value else {
            return Err(fail(
                &full,
                format!("must be a string, not {}", kind(value)),
            ));
        };
        let text = text.trim();
        if text.is_empty() {
            return Err(fail(&full, "must not be empty".to_owned()));
        }
        if text.chars().any(char::is_whitespace) {
            return Err(fail(
                &full,
                format!("`{text}` is not an image name: it contains whitespace"),
            ));
        }
        *slot = Some(text.to_owned());
    }
    Ok(config)
}

/// `a boolean`, `an integer`, ... for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use flash_contract::images::DEFAULT_TAG;
    use serde_json::json;

    use super::*;

    fn parse(metadata: &Value) -> (Result<ImageConfig, BuildError>, Vec<String>) {
        let mut warnings = Vec::new();
        let result = from_metadata(metadata, Path::new("app/Cargo.toml"), &mut warnings);
        (result, warnings)
    }

    #[test]
    fn metadata_keys_are_read() {
        let (config, warnings) = parse(&json!({"flash": {
            "image-registry": " docker.io/me ",
            "cpu-image": "ghcr.io/me/cpu:1",
        }, "other-tool": {"x": 1}}));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            config.expect("valid"),
            ImageConfig {
                registry: Some("docker.io/me".to_owned()),
                cpu_image: Some("ghcr.io/me/cpu:1".to_owned()),
                gpu_image: None,
            }
        );
        for empty in [json!(null), json!({}), json!({"flash": null})] {
            let (config, warnings) = parse(&empty);
            assert_eq!(config.expect("no config"), ImageConfig::default());
            assert!(warnings.is_empty());
        }
    }

    #[test]
    fn unknown_keys_warn_and_name_the_key() {
        let (config, warnings) = parse(&json!({"flash": {
            "image_registry": "docker.io/me",
            "colour": "blue",
        }}));
        assert_eq!(config.expect("warnings only"), ImageConfig::default());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("app/Cargo.toml")
                && warnings[0].contains("`image_registry`")
                && warnings[0].contains("did you mean `image-registry`?"),
            "{warnings:?}"
        );
        assert!(warnings[1].contains("`colour`") && !warnings[1].contains("did you mean"));
    }

    #[test]
    fn wrong_types_are_errors_naming_cargo_toml_and_the_key() {
        for (metadata, key, says) in [
            (
                json!({"flash": {"image-registry": 5}}),
                "package.metadata.flash.image-registry",
                "must be a string, not an integer",
            ),
            (
                json!({"flash": {"gpu-image": ["a"]}}),
                "package.metadata.flash.gpu-image",
                "must be a string, not an array",
            ),
            (
                json!({"flash": {"cpu-image": "  "}}),
                "package.metadata.flash.cpu-image",
                "must not be empty",
            ),
            (
                json!({"flash": {"cpu-image": "my image"}}),
                "package.metadata.flash.cpu-image",
                "whitespace",
            ),
            (
                json!({"flash": "docker.io/me"}),
                "package.metadata.flash",
                "must be a table, not a string",
            ),
        ] {
            let (result, _) = parse(&metadata);
            let error = result.expect_err("invalid");
            assert!(
                matches!(&error, BuildError::Config { key: k, .. } if k == key),
                "{error:?}"
            );
            let text = error.to_string();
            assert!(text.contains("app/Cargo.toml"), "{text}");
            assert!(text.contains(key), "{text}");
            assert!(text.contains(says), "{text}");
        }
    }

    #[test]
    fn the_environment_reads_three_variables() {
        let config = ImageConfig::from_lookup(|name| match name {
            "FLASH_IMAGE_REGISTRY" => Some("ghcr.io/org".to_owned()),
            "FLASH_GPU_IMAGE" => Some("me/gpu:2".to_owned()),
            "FLASH_CPU_IMAGE" => Some(" ".to_owned()),
            _ => None,
        });
        assert_eq!(config.registry.as_deref(), Some("ghcr.io/org"));
        assert_eq!(config.gpu_image.as_deref(), Some("me/gpu:2"));
        assert_eq!(config.cpu_image, None, "blank is unset");
    }

    #[test]
    fn precedence_resource_then_env_then_cargo_toml_then_default() {
        let cpu = ResourceConfig {
            instance_ids: Some(vec!["cpu3c-1-2".to_owned()]),
            ..ResourceConfig::default()
        };
        let gpu = ResourceConfig {
            gpu_ids: Some("ADA_24".to_owned()),
            ..ResourceConfig::default()
        };
        let none = ImageConfig::default();
        assert_eq!(
            image_of(&cpu, &none),
            format!("flash-rs-worker-cpu:{DEFAULT_TAG}")
        );
        assert_eq!(
            image_of(&gpu, &none),
            format!("flash-rs-worker-gpu:{DEFAULT_TAG}")
        );

        let project = ImageConfig {
            registry: Some("docker.io/me".to_owned()),
            cpu_image: Some("docker.io/me/custom-cpu:3".to_owned()),
            gpu_image: None,
        };
        let effective = ImageConfig::default().over(&project);
        assert_eq!(image_of(&cpu, &effective), "docker.io/me/custom-cpu:3");
        assert_eq!(
            image_of(&gpu, &effective),
            format!("docker.io/me/flash-rs-worker-gpu:{DEFAULT_TAG}")
        );

        let env = ImageConfig {
            registry: Some("ghcr.io/org".to_owned()),
            cpu_image: None,
            gpu_image: Some("ghcr.io/org/gpu:9".to_owned()),
        };
        let effective = env.over(&project);
        assert_eq!(
            image_of(&cpu, &effective),
            "docker.io/me/custom-cpu:3",
            "a full name beats a registry"
        );
        assert_eq!(image_of(&gpu, &effective), "ghcr.io/org/gpu:9");
        let registry_only = ImageConfig {
            registry: Some("ghcr.io/org".to_owned()),
            ..ImageConfig::default()
        };
        assert_eq!(
            image_of(&gpu, &registry_only.over(&project)),
            format!("ghcr.io/org/flash-rs-worker-gpu:{DEFAULT_TAG}"),
            "the environment's registry beats Cargo.toml's"
        );

        let own = ResourceConfig {
            image_name: Some("me/own:1".to_owned()),
            ..cpu
        };
        assert_eq!(
            image_of(&own, &effective),
            "me/own:1",
            "the resource's own wins"
        );

        let python_cpu = ResourceConfig {
            resource_type: Some("CpuLiveServerless".to_owned()),
            ..ResourceConfig::default()
        };
        assert!(!is_gpu(&python_cpu));
        assert!(is_gpu(&ResourceConfig::default()));
    }

    #[test]
    fn resolve_fills_every_resource() {
        let mut manifest = Manifest::default();
        manifest.resources.insert(
            "a".to_owned(),
            ResourceConfig {
                image_name: Some("x/y:1".to_owned()),
                ..ResourceConfig::default()
            },
        );
        manifest
            .resources
            .insert("b".to_owned(), ResourceConfig::default());
        resolve(&mut manifest, &ImageConfig::default());
        assert_eq!(manifest.resources["a"].image_name.as_deref(), Some("x/y:1"));
        assert_eq!(
            manifest.resources["b"].image_name.as_deref(),
            Some(default_image(true, None).as_str())
        );
    }
}
