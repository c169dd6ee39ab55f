//! `flash deploy`: upload the artifact and reconcile endpoints with the platform.
//!
//! The flow ([`deploy`]), one module per step:
//!
//! 1. `build_output`: read `.flash/flash_manifest.json` and `.flash/artifact.tar.gz` (written by
//!    `flash build`). A resource without `imageName` (a manifest from before `flash build`
//!    resolved images) gets the image `flash build` would give it without project config
//!    ([`ImageConfig::from_env`], else the default). Then fail before any request if the
//!    control plane is not on loopback (so it is Runpod, not a local emulator) and an image
//!    names no registry Runpod could pull it from, or if a resource makes remote calls and
//!    there is no API key;
//! 2. `target`: get or create the app and the environment, and read the manifest of the
//!    environment's active build (what the previous deploy published);
//! 3. the new build's manifest carries forward, for every resource it shares with the previous
//!    one, the endpoint id, deploy hash and URL that run now, so activating it never leaves a
//!    peer without a URL;
//! 4. `upload`: `prepareFlashArtifactUpload` → `PUT` the tarball → `finalizeFlashArtifactUpload`
//!    → `deployBuildToEnvironment`;
//! 5. `plan`: each resource's deploy hash (its manifest entry in canonical form, plus the
//!    template its endpoint is given: env with the source fingerprint and API key, image, disk,
//!    ports) decides: new → create, changed → update, same as published → nothing; an endpoint
//!    the platform lists for the environment that no resource claims → delete;
//! 6. `provision`: every step at once; a create or update is one `saveEndpoint` carrying the
//!    template inline (the template change is what rolls the workers on Runpod);
//! 7. `publish`: the provisioned endpoints' ids, hashes and URLs go into the manifest
//!    (`updateFlashBuildManifest`), also when some step failed (the failed resources keep the
//!    carried-forward values), then the failures are reported;
//! 8. record the result in `.flash/resources.json` (a cache; the platform is authoritative).
//!
//! The API key is sent as a Bearer header and put into the env of resources that make remote
//! calls; it is never printed, logged or written to a local file.

mod build_output;
pub mod credentials;
mod hash;
pub mod local_state;
mod plan;
mod provision;
mod publish;
mod spec;
mod target;
mod upload;
mod volumes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use flash_platform::Platform;
use indexmap::IndexMap;
use runpod_flash::ApiKey;
use runpod_flash::config;
use runpod_flash::error::{ManifestError, StateManagerError};
use runpod_flash::state_manager::{StateManagerClient, StateManagerConfig};
use serde::Serialize;

use crate::build::{ImageConfig, is_gpu};
use crate::project::Project;

/// Timeout of one control-plane request of a deploy.
pub const DEPLOY_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Default environment name.
pub const DEFAULT_ENV: &str = "production";

/// Where and as whom to deploy.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Flash app name.
    pub app: String,
    /// Environment name.
    pub env: String,
    /// Control-plane base URL (GraphQL at `{api_base_url}/graphql`).
    pub api_base_url: String,
    /// Data-plane base URL of queue endpoints: their URL is `{endpoint_base_url}/{endpoint_id}`.
    pub endpoint_base_url: String,
    /// URL of load-balanced endpoints, `{endpoint_id}` replaced by the id.
    pub lb_url_template: String,
    /// The Runpod API key (redacted in `Debug`).
    pub api_key: Option<ApiKey>,
    /// Runpod's REST API (network volumes), default `https://rest.runpod.io/v1`.
    pub rest_api_url: String,
}

impl DeployOptions {
    /// Options for `app`/`env` from the environment: `RUNPOD_API_BASE_URL`,
    /// `RUNPOD_ENDPOINT_BASE_URL`, `FLASH_LB_URL_TEMPLATE` (each defaulting to Runpod's), and the
    /// key from `RUNPOD_API_KEY`, else `~/.runpod/config.toml`.
    pub fn from_env(app: impl Into<String>, env: impl Into<String>) -> Self {
        let mut options = Self::from_lookup(app, env, |name| std::env::var(name).ok());
        options.api_key = credentials::api_key();
        options
    }

    /// [`from_env`](Self::from_env) with variables from `lookup` and no key.
    fn from_lookup(
        app: impl Into<String>,
        env: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let var = |name: &str, default: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Self {
            app: app.into(),
            env: env.into(),
            api_base_url: var(
                flash_contract::env::RUNPOD_API_BASE_URL,
                config::DEFAULT_API_BASE_URL,
            ),
            endpoint_base_url: var(
                flash_contract::env::RUNPOD_ENDPOINT_BASE_URL,
                config::DEFAULT_ENDPOINT_BASE_URL,
            ),
            lb_url_template: var(
                flash_contract::env::FLASH_LB_URL_TEMPLATE,
                config::DEFAULT_LB_URL_TEMPLATE,
            ),
            api_key: None,
            rest_api_url: var(
                flash_contract::env::RUNPOD_REST_API_URL,
                config::DEFAULT_REST_API_URL,
            ),
        }
    }

    /// The URL of endpoint `endpoint_id`.
    pub fn endpoint_url(&self, endpoint_id: &str, load_balanced: bool) -> String {
        if load_balanced {
            self.lb_url_template.replace("{endpoint_id}", endpoint_id)
        } else {
            format!(
                "{}/{endpoint_id}",
                self.endpoint_base_url.trim_end_matches('/')
            )
        }
    }

    /// A State Manager client for these options (no key: every request fails with
    /// [`StateManagerError::MissingApiKey`]).
    ///
    /// # Errors
    /// [`DeployError::Platform`] when the HTTP client cannot be built.
    pub fn client(&self) -> Result<Platform, DeployError> {
        StateManagerClient::new(StateManagerConfig {
            base_url: self.api_base_url.clone(),
            api_key: self.api_key.clone(),
            // Control-plane mutations are sent once and can be slow (creating an endpoint
            // provisions its template); runpod 2.0 waits 60 s, runpod-flash 1.21 300 s. The
            // runtime's 10 s is for a worker's lookups, which have a cache to fall back on.
            timeout: DEPLOY_REQUEST_TIMEOUT,
            ..StateManagerConfig::default()
        })
        .map(Platform::new)
        .map_err(platform("setting up the HTTP client"))
    }
}

/// What happened to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointAction {
    /// A new endpoint was created.
    Created,
    /// An existing endpoint's configuration was changed.
    Updated,
    /// The endpoint was left alone.
    Unchanged,
    /// The endpoint was deleted.
    Deleted,
}

/// One endpoint of a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployedEndpoint {
    /// Resource name (the endpoint name, for deleted endpoints).
    pub resource: String,
    /// Endpoint id.
    pub endpoint_id: String,
    /// Endpoint URL (empty for deleted endpoints).
    pub url: String,
    /// Whether it serves HTTP routes.
    pub load_balanced: bool,
    /// What was done.
    pub action: EndpointAction,
}

/// The outcome of [`deploy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployReport {
    /// App name.
    pub app: String,
    /// App id.
    pub app_id: String,
    /// Environment name.
    pub environment: String,
    /// Environment id.
    pub environment_id: String,
    /// The new build, now active in the environment.
    pub build_id: String,
    /// Every resource's endpoint in manifest order, then deleted endpoints.
    pub endpoints: Vec<DeployedEndpoint>,
    /// Routes of load-balanced resources (`"METHOD /path"` list per resource).
    pub routes: BTreeMap<String, Vec<String>>,
}

impl DeployReport {
    /// Resource name to endpoint URL, as pushed in `resources_endpoints`.
    pub fn resources_endpoints(&self) -> IndexMap<String, String> {
        self.endpoints
            .iter()
            .filter(|e| e.action != EndpointAction::Deleted)
            .map(|e| (e.resource.clone(), e.url.clone()))
            .collect()
    }

    /// The endpoint of `resource`, unless it was deleted.
    pub fn endpoint(&self, resource: &str) -> Option<&DeployedEndpoint> {
        self.endpoints
            .iter()
            .find(|e| e.resource == resource && e.action != EndpointAction::Deleted)
    }
}

/// Why a deploy (or undeploy, or an env/app command) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// `flash build` output is missing.
    #[error("{what} {} not found: run `flash build` first", path.display())]
    MissingBuildOutput {
        /// What is missing.
        what: &'static str,
        /// Where it was expected.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is invalid (the error names the file and fields).
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// Resources make remote calls but there is no API key to give them.
    #[error(
        "resource(s) {} make remote calls and need an API key in their workers, but none is \
         set: set RUNPOD_API_KEY or add `api_key` under [default] in ~/.runpod/config.toml. \
         Nothing was deployed.",
        resources.join(", ")
    )]
    RemoteCallsNeedApiKey {
        /// The resources with `makes_remote_calls`.
        resources: Vec<String>,
    },
    /// The build is for a platform Runpod's workers are not.
    #[error(
        "the build in .flash/ is for {target}, but Runpod workers are x86_64 Linux: run \
         `flash build` (its default target is x86_64-unknown-linux-gnu) and deploy again. \
         Nothing was deployed."
    )]
    WrongTarget {
        /// The manifest's `target`.
        target: String,
    },
    /// Images Runpod cannot pull: they name no registry.
    #[error(
        "Runpod cannot pull the image of {}: it names no registry. Build and push the worker \
         images (docker/README.md), then set `image-registry` in [package.metadata.flash] of \
         the app's Cargo.toml (or FLASH_IMAGE_REGISTRY) and run `flash build` again. Nothing \
         was deployed.",
        images
            .iter()
            .map(|(resource, image)| format!("resource `{resource}` (`{image}`)"))
            .collect::<Vec<_>>()
            .join(", ")
    )]
    ImageWithoutRegistry {
        /// Each resource and its image.
        images: Vec<(String, String)>,
    },
    /// No API key at all.
    #[error(
        "no API key: set RUNPOD_API_KEY or add `api_key` under [default] in \
         ~/.runpod/config.toml"
    )]
    MissingApiKey,
    /// A control-plane request failed.
    #[error("{step}: {source}")]
    Platform {
        /// What was being done, naming the app, environment, resource or endpoint.
        step: String,
        /// The error.
        #[source]
        source: StateManagerError,
    },
    /// The artifact upload failed.
    #[error("uploading {}: {message}", path.display())]
    Upload {
        /// The artifact.
        path: PathBuf,
        /// What went wrong (the presigned URL is left out).
        message: String,
    },
    /// Some endpoints could not be provisioned; the manifest was not pushed.
    #[error(
        "provisioning failed, the build manifest was not updated (run `flash deploy` again):\n  {}",
        failures.join("\n  ")
    )]
    Provisioning {
        /// One line per failed resource.
        failures: Vec<String>,
    },
    /// A resource's network volume cannot be attached.
    #[error("resource `{resource}`: {message}")]
    Volume {
        /// Resource name.
        resource: String,
        /// What is wrong.
        message: String,
    },
    /// `.flash/resources.json` could not be read or written.
    #[error("local state {}: {message}", path.display())]
    LocalState {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The app does not exist.
    #[error("Flash app `{app}` not found")]
    AppNotFound {
        /// App name.
        app: String,
    },
    /// The environment does not exist.
    #[error("environment `{env}` of Flash app `{app}` not found")]
    EnvironmentNotFound {
        /// App name.
        app: String,
        /// Environment name.
        env: String,
    },
}

/// Wraps a [`StateManagerError`] with what was being done.
pub(crate) fn platform(step: impl Into<String>) -> impl FnOnce(StateManagerError) -> DeployError {
    let step = step.into();
    move |source| DeployError::Platform { step, source }
}

/// Deploys the build in `project`'s `.flash/` to `options.app`/`options.env`.
///
/// # Errors
/// [`DeployError`] naming the file, resource, endpoint or step that failed.
pub async fn deploy(
    project: &Project,
    options: &DeployOptions,
) -> Result<DeployReport, DeployError> {
    deploy_with_progress(project, options, &crate::progress::Silent).await
}

/// [`deploy`], reporting its steps, the upload's bytes and each endpoint to `progress` (never
/// the key).
///
/// # Errors
/// As [`deploy`].
pub async fn deploy_with_progress(
    project: &Project,
    options: &DeployOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<DeployReport, DeployError> {
    use crate::progress::Event;
    let step = |text: &str| progress.event(&Event::Step(text));
    let mut build = build_output::read_build_output(project)?;
    fill_missing_images(&mut build.manifest, &ImageConfig::from_env());
    if !is_loopback_url(&options.api_base_url) {
        check_runs_on_runpod(&build.manifest)?;
        check_pullable(&build.manifest)?;
    }
    if options.api_key.is_none() {
        let callers = build_output::remote_callers(&build.manifest);
        if !callers.is_empty() {
            return Err(DeployError::RemoteCallsNeedApiKey { resources: callers });
        }
        return Err(DeployError::MissingApiKey);
    }
    let client = options.client()?;
    let (app, env) = (options.app.as_str(), options.env.as_str());

    step(&format!("app {app}, environment {env}"));
    let app_id = target::get_or_create_app(&client, app).await?;
    let environment = target::get_or_create_environment(&client, app, &app_id, env).await?;
    let environment_id = environment.id.clone();
    let previous = target::previous_build(&client, &environment).await?;
    volumes::resolve(&mut build.manifest, options).await?;
    // Until this deploy provisions its own, the new build's manifest names the endpoints that
    // run now: activating it never leaves a peer without a URL.
    build.raw.carry_forward(&previous);

    step(&format!(
        "uploading {} ({} bytes)",
        build.artifact_path.display(),
        build.artifact.len()
    ));
    let build_id = upload::upload(&client, &app_id, &build, progress).await?;
    client
        .deploy_build_to_environment(&environment_id, &build_id)
        .await
        .map_err(platform(format!(
            "activating build `{build_id}` in environment `{env}` of app `{app}`"
        )))?;

    step("provisioning endpoints");
    let ctx = Arc::new(spec::Context {
        app: app.to_owned(),
        env: env.to_owned(),
        environment_id: environment_id.clone(),
        api_key: options.api_key.clone(),
        source_fingerprint: build.manifest.source_fingerprint.clone(),
    });
    let steps = plan::plan(&build, &previous, &environment.endpoints, &ctx);
    let (endpoints, failures) =
        provision::provision_all(&client, &ctx, options, &build, &steps, progress).await;

    // Published even when some endpoint failed: the ones provisioned get their new URLs, the
    // others keep the carried-forward ones.
    step("publishing endpoint URLs");
    let hashes = plan::hashes_of(&steps);
    publish::publish(&client, &build_id, &build.raw, &endpoints, &hashes).await?;
    if !failures.is_empty() {
        return Err(DeployError::Provisioning { failures });
    }

    local_state::update(&project.state_path(), |state| {
        let entry = state
            .environments
            .entry(local_state::key(app, env))
            .or_default();
        entry.environment_id.clone_from(&environment_id);
        entry.build_id = Some(build_id.clone());
        entry.resources = endpoints
            .iter()
            .filter(|e| e.action != EndpointAction::Deleted)
            .map(|e| {
                (
                    e.resource.clone(),
                    local_state::ResourceState {
                        endpoint_id: e.endpoint_id.clone(),
                        config_hash: hashes
                            .get(e.resource.as_str())
                            .map(|h| (*h).to_owned())
                            .unwrap_or_default(),
                        url: e.url.clone(),
                    },
                )
            })
            .collect();
    })?;

    let routes = build
        .manifest
        .resources
        .iter()
        .filter(|(_, r)| r.load_balanced())
        .map(|(name, r)| {
            let routes = r
                .functions
                .iter()
                .filter_map(|f| {
                    Some(format!(
                        "{} {}",
                        f.http_method.as_deref()?,
                        f.http_path.as_deref()?
                    ))
                })
                .collect();
            (name.clone(), routes)
        })
        .collect();
    Ok(DeployReport {
        app: app.to_owned(),
        app_id,
        environment: env.to_owned(),
        environment_id,
        build_id,
        endpoints,
        routes,
    })
}

/// Gives every resource without `imageName` the image `flash build` would have given it
/// without project config.
fn fill_missing_images(manifest: &mut runpod_flash::manifest::Manifest, config: &ImageConfig) {
    for resource in manifest.resources.values_mut() {
        if resource.image_name.is_none() {
            resource.image_name = Some(config.image(is_gpu(resource)));
        }
    }
}

/// Fails when the manifest records a target Runpod's workers do not run (none recorded: an
/// older build, left to the boot step).
fn check_runs_on_runpod(manifest: &runpod_flash::manifest::Manifest) -> Result<(), DeployError> {
    match &manifest.target {
        Some(target) if !crate::build::runs_on_runpod(target) => Err(DeployError::WrongTarget {
            target: target.clone(),
        }),
        _ => Ok(()),
    }
}

/// Fails when a resource that gets our template (not a `templateId` of its own) runs an image
/// without a registry.
fn check_pullable(manifest: &runpod_flash::manifest::Manifest) -> Result<(), DeployError> {
    let images: Vec<(String, String)> = manifest
        .resources
        .iter()
        .filter(|(_, r)| r.template_id.is_none())
        .filter_map(|(name, r)| Some((name, r.image_name.as_deref()?)))
        .filter(|(_, image)| !flash_contract::images::has_registry(image))
        .map(|(name, image)| (name.clone(), image.to_owned()))
        .collect();
    if images.is_empty() {
        Ok(())
    } else {
        Err(DeployError::ImageWithoutRegistry { images })
    }
}

/// Whether `url`'s host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`): a local emulator,
/// not Runpod. A URL that does not parse is not.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// `created`, `updated`, ...
pub fn action_word(action: EndpointAction) -> &'static str {
    match action {
        EndpointAction::Created => "created",
        EndpointAction::Updated => "updated",
        EndpointAction::Unchanged => "unchanged",
        EndpointAction::Deleted => "deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_local_emulators() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.3.2.1/api",
            "http://localhost:9",
            "http://LOCALHOST./x",
            "http://emu.localhost:1",
            "http://[::1]:8000/graphql",
        ] {
            assert!(is_loopback_url(local), "{local}");
        }
        for remote in [
            config::DEFAULT_API_BASE_URL,
            "https://api.runpod.io/graphql",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "http://[::2]",
            "not a url",
            "",
        ] {
            assert!(!is_loopback_url(remote), "{remote}");
        }
    }

    #[test]
    fn images_without_a_registry_are_refused_naming_resource_and_image() {
        use runpod_flash::manifest::{Manifest, ResourceConfig};
        let mut manifest = Manifest::default();
        let cpu = ResourceConfig {
            instance_ids: Some(vec!["cpu3c-1-2".to_owned()]),
            ..ResourceConfig::default()
        };
        manifest.resources.insert("worker".to_owned(), cpu.clone());
        manifest.resources.insert(
            "pushed".to_owned(),
            ResourceConfig {
                image_name: Some("docker.io/me/flash-rs-worker-gpu:0.1.0".to_owned()),
                ..ResourceConfig::default()
            },
        );
        manifest.resources.insert(
            "own-template".to_owned(),
            ResourceConfig {
                template_id: Some("tpl".to_owned()),
                image_name: Some("local:1".to_owned()),
                ..ResourceConfig::default()
            },
        );
        fill_missing_images(&mut manifest, &ImageConfig::default());
        let default_cpu = flash_contract::images::default_image(false, None);
        assert_eq!(
            manifest.resources["worker"].image_name.as_deref(),
            Some(default_cpu.as_str())
        );
        let error = check_pullable(&manifest).unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(&error, DeployError::ImageWithoutRegistry { images } if images.len() == 1),
            "only `worker`: `pushed` has a registry, `own-template` its own template: {text}"
        );
        for needle in [
            "resource `worker`",
            default_cpu.as_str(),
            "docker/README.md",
            "image-registry",
            "[package.metadata.flash]",
            "FLASH_IMAGE_REGISTRY",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }

        let mut old = Manifest::default();
        old.resources.insert("worker".to_owned(), cpu);
        fill_missing_images(
            &mut old,
            &ImageConfig {
                registry: Some("ghcr.io/me".to_owned()),
                ..ImageConfig::default()
            },
        );
        check_pullable(&old).expect("an old manifest deploys under FLASH_IMAGE_REGISTRY");
    }

    #[test]
    fn builds_for_other_platforms_are_refused() {
        use runpod_flash::manifest::Manifest;
        let manifest = |target: Option<&str>| Manifest {
            target: target.map(str::to_owned),
            ..Manifest::default()
        };
        check_runs_on_runpod(&manifest(Some("x86_64-unknown-linux-gnu"))).expect("Runpod's");
        check_runs_on_runpod(&manifest(None)).expect("an older build: the boot step checks");
        let error = check_runs_on_runpod(&manifest(Some("aarch64-apple-darwin"))).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("aarch64-apple-darwin") && text.contains("flash build"),
            "{text}"
        );
    }

    #[test]
    fn options_from_lookup_default_to_runpod() {
        let options = DeployOptions::from_lookup("a", "e", |_| None);
        assert_eq!(options.api_base_url, config::DEFAULT_API_BASE_URL);
        assert_eq!(
            options.endpoint_url("ep1", false),
            "https://api.runpod.ai/v2/ep1"
        );
        assert_eq!(
            options.endpoint_url("ep1", true),
            "https://ep1.api.runpod.ai"
        );
        let options = DeployOptions::from_lookup("a", "e", |name| match name {
            flash_contract::env::FLASH_LB_URL_TEMPLATE => {
                Some("http://h:1/lb/{endpoint_id}".to_owned())
            }
            flash_contract::env::RUNPOD_ENDPOINT_BASE_URL => Some("http://h:1/v2/".to_owned()),
            flash_contract::env::RUNPOD_API_BASE_URL => Some(" ".to_owned()),
            _ => None,
        });
        assert_eq!(options.endpoint_url("x", true), "http://h:1/lb/x");
        assert_eq!(options.endpoint_url("x", false), "http://h:1/v2/x");
        assert_eq!(options.api_base_url, config::DEFAULT_API_BASE_URL);
    }
}
