//! `flash deploy`: upload the artifact and reconcile endpoints with the platform.
//!
//! The flow ([`deploy`]):
//!
//! 1. read `.flash/flash_manifest.json` and `.flash/artifact.tar.gz` (written by `flash build`);
//! 2. if a resource makes remote calls and there is no API key, fail before any request;
//! 3. get or create the app and the environment;
//! 4. read the manifest of the environment's current active build (the previous deploy) and the
//!    endpoints the platform lists for the environment;
//! 5. `prepareFlashArtifactUpload` → `PUT` the tarball → `finalizeFlashArtifactUpload` →
//!    `deployBuildToEnvironment`;
//! 6. reconcile each resource by its canonical config hash (every field of its manifest entry,
//!    sorted and normalized, minus deploy outputs): new → `saveEndpoint` (create, inline
//!    template), changed → `saveEndpoint` update (+ `saveTemplate` when the env, image or
//!    template changed), unchanged → nothing; an endpoint the platform lists for the environment
//!    that no resource claims any more → `deleteEndpoint`;
//! 7. only after every endpoint is provisioned: write `endpoint_id` per resource and
//!    `resources_endpoints`, and push the manifest with `updateFlashBuildManifest`;
//! 8. record the result in `.flash/resources.json` (a cache; the platform is authoritative).
//!
//! The API key is sent as a Bearer header and put into the env of resources that make remote
//! calls; it is never printed, logged or written to a local file.

pub mod credentials;
mod hash;
pub mod local_state;
mod spec;
mod volumes;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flash_platform::{Environment, Platform, PlatformEndpoint};
use indexmap::IndexMap;
use runpod_flash::ApiKey;
use runpod_flash::config;
use runpod_flash::error::{ManifestError, ManifestOrigin, StateManagerError};
use runpod_flash::manifest::{Manifest, ResourceConfig};
use runpod_flash::state_manager::{StateManagerClient, StateManagerConfig};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::project::Project;

pub use spec::DEFAULT_WORKER_IMAGE;

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

/// The manifest and artifact `flash build` left in `.flash/`.
struct BuildOutput {
    manifest: Manifest,
    raw: Value,
    artifact: Vec<u8>,
    artifact_path: PathBuf,
}

fn read_build_output(project: &Project) -> Result<BuildOutput, DeployError> {
    let manifest_path = project.manifest_path();
    let artifact_path = project.artifact_path();
    let read = |path: &Path, what: &'static str| {
        std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DeployError::MissingBuildOutput {
                    what,
                    path: path.to_owned(),
                }
            } else {
                DeployError::Read {
                    path: path.to_owned(),
                    source,
                }
            }
        })
    };
    let bytes = read(&manifest_path, "manifest")?;
    let text = String::from_utf8_lossy(&bytes);
    let origin = ManifestOrigin::File(manifest_path);
    let manifest = Manifest::from_json_str(&text, origin.clone())?;
    manifest.validate(&origin)?;
    let mut raw: Value = serde_json::from_str(&text).map_err(|e| ManifestError::Parse {
        origin,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    // What the new build starts with: no deploy outputs of an earlier deploy.
    if let Some(root) = raw.as_object_mut() {
        root.shift_remove("resources_endpoints");
        if let Some(Value::Object(resources)) = root.get_mut("resources") {
            for entry in resources.values_mut() {
                if let Some(entry) = entry.as_object_mut() {
                    entry.shift_remove("endpoint_id");
                    entry.shift_remove("aiKey");
                }
            }
        }
    }
    let artifact = read(&artifact_path, "artifact")?;
    Ok(BuildOutput {
        manifest,
        raw,
        artifact,
        artifact_path,
    })
}

/// Resources that need `RUNPOD_API_KEY` in their workers (`makes_remote_calls`, unknown = yes).
fn remote_callers(manifest: &Manifest) -> Vec<String> {
    manifest
        .resources
        .iter()
        .filter(|(_, r)| r.calls_remote())
        .map(|(name, _)| name.clone())
        .collect()
}

/// Deploys the build in `project`'s `.flash/` to `options.app`/`options.env`.
///
/// # Errors
/// [`DeployError`] naming the file, resource, endpoint or step that failed.
pub async fn deploy(
    project: &Project,
    options: &DeployOptions,
) -> Result<DeployReport, DeployError> {
    deploy_with_progress(project, options, &|_| {}).await
}

/// [`deploy`], reporting each step to `progress` (one line each, never the key).
///
/// # Errors
/// As [`deploy`].
pub async fn deploy_with_progress(
    project: &Project,
    options: &DeployOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<DeployReport, DeployError> {
    let mut build = read_build_output(project)?;
    if options.api_key.is_none() {
        let callers = remote_callers(&build.manifest);
        if !callers.is_empty() {
            return Err(DeployError::RemoteCallsNeedApiKey { resources: callers });
        }
        return Err(DeployError::MissingApiKey);
    }
    let client = options.client()?;
    let (app, env) = (options.app.as_str(), options.env.as_str());

    progress(&format!("app {app}, environment {env}"));
    let app_id = get_or_create_app(&client, app).await?;
    let environment = get_or_create_environment(&client, app, &app_id, env).await?;
    let environment_id = environment.id.clone();
    let previous = previous_resources(&client, &environment).await?;
    volumes::resolve(&mut build.manifest, options).await?;

    progress(&format!(
        "uploading {} ({} bytes)",
        build.artifact_path.display(),
        build.artifact.len()
    ));
    let build_id = upload(&client, &app_id, &build).await?;
    client
        .deploy_build_to_environment(&environment_id, &build_id)
        .await
        .map_err(platform(format!(
            "activating build `{build_id}` in environment `{env}` of app `{app}`"
        )))?;

    progress("provisioning endpoints");
    let ctx = Arc::new(spec::Context {
        app: app.to_owned(),
        env: env.to_owned(),
        environment_id: environment_id.clone(),
        api_key: options.api_key.clone(),
        source_fingerprint: build.manifest.source_fingerprint.clone(),
    });
    let steps = plan(&build, &previous, &environment.endpoints, &ctx);
    // Every endpoint is provisioned concurrently; results are kept in plan order.
    let shared = Arc::new(options.clone());
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
        let (client, ctx, options) = (client.clone(), Arc::clone(&ctx), Arc::clone(&shared));
        tasks.spawn(async move {
            let result = provision(&client, &ctx, &options, &resource, &step).await;
            (index, result)
        });
    }
    let mut results = Vec::with_capacity(steps.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => results.push(done),
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
            Ok(done) => {
                progress(&format!(
                    "{}: {} ({})",
                    action_word(done.action),
                    done.resource,
                    done.endpoint_id
                ));
                endpoints.push(done);
            }
            Err(error) => failures.push(error.to_string()),
        }
    }
    if !failures.is_empty() {
        return Err(DeployError::Provisioning { failures });
    }

    // Every endpoint exists: only now publish the URLs, so no peer ever reads a half-made map.
    let mut manifest = build.raw.clone();
    let mut urls = Map::new();
    if let Some(Value::Object(resources)) = manifest.get_mut("resources") {
        for done in endpoints
            .iter()
            .filter(|e| e.action != EndpointAction::Deleted)
        {
            if let Some(Value::Object(entry)) = resources.get_mut(&done.resource) {
                entry.insert(
                    "endpoint_id".to_owned(),
                    Value::from(done.endpoint_id.clone()),
                );
                if let Some(hash) = hashes_of(&steps).get(done.resource.as_str()) {
                    entry.insert(hash::DEPLOY_HASH.to_owned(), Value::from(*hash));
                }
            }
            urls.insert(done.resource.clone(), Value::from(done.url.clone()));
        }
    }
    if let Some(root) = manifest.as_object_mut() {
        root.insert("resources_endpoints".to_owned(), Value::Object(urls));
    }
    progress("publishing endpoint URLs");
    client
        .update_flash_build_manifest(&build_id, &manifest)
        .await
        .map_err(platform(format!(
            "publishing the endpoint URLs in the manifest of build `{build_id}`"
        )))?;

    let hashes = hashes_of(&steps);
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

/// `created`, `updated`, ...
pub fn action_word(action: EndpointAction) -> &'static str {
    match action {
        EndpointAction::Created => "created",
        EndpointAction::Updated => "updated",
        EndpointAction::Unchanged => "unchanged",
        EndpointAction::Deleted => "deleted",
    }
}

/// The id of app `app`, created when absent.
async fn get_or_create_app(client: &Platform, app: &str) -> Result<String, DeployError> {
    match client
        .flash_app_by_name(app)
        .await
        .map_err(platform(format!("looking up app `{app}`")))?
    {
        Some(found) => Ok(found.id),
        None => client
            .create_flash_app(app)
            .await
            .map_err(platform(format!("creating app `{app}`"))),
    }
}

async fn get_or_create_environment(
    client: &Platform,
    app: &str,
    app_id: &str,
    env: &str,
) -> Result<Environment, DeployError> {
    let lookup = || async {
        client
            .flash_environment_by_name(app_id, env)
            .await
            .map_err(platform(format!(
                "looking up environment `{env}` of app `{app}`"
            )))
    };
    if let Some(found) = lookup().await? {
        return Ok(found);
    }
    client
        .create_flash_environment(app_id, env)
        .await
        .map_err(platform(format!(
            "creating environment `{env}` of app `{app}`"
        )))?;
    lookup()
        .await?
        .ok_or_else(|| DeployError::EnvironmentNotFound {
            app: app.to_owned(),
            env: env.to_owned(),
        })
}

/// The resource entries of the environment's active build's manifest (the previous deploy), raw.
async fn previous_resources(
    client: &Platform,
    environment: &Environment,
) -> Result<Map<String, Value>, DeployError> {
    let Some(build_id) = &environment.active_build_id else {
        return Ok(Map::new());
    };
    let build = match client.flash_build(build_id).await {
        Ok(build) => build,
        Err(StateManagerError::Missing { .. }) => return Ok(Map::new()),
        Err(source) => {
            return Err(DeployError::Platform {
                step: format!("reading the manifest of the active build `{build_id}`"),
                source,
            });
        }
    };
    Ok(build
        .manifest
        .and_then(|mut m| m.get_mut("resources").map(Value::take))
        .and_then(|r| match r {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .unwrap_or_default())
}

/// prepare → PUT → finalize; the new build's id.
async fn upload(
    client: &Platform,
    app_id: &str,
    build: &BuildOutput,
) -> Result<String, DeployError> {
    let size = u64::try_from(build.artifact.len()).unwrap_or(u64::MAX);
    let target = client
        .prepare_artifact_upload(app_id, size)
        .await
        .map_err(platform("preparing the artifact upload"))?;
    let upload_error = |message: String| DeployError::Upload {
        path: build.artifact_path.clone(),
        message,
    };
    let http = reqwest::Client::builder()
        .user_agent(config::USER_AGENT)
        .build()
        .map_err(|e| upload_error(format!("cannot set up the HTTP client: {e}")))?;
    let mut failure = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(2u64 << attempt)).await;
        }
        let response = http
            .put(&target.upload_url)
            .header(reqwest::header::CONTENT_TYPE, "application/gzip")
            .timeout(std::time::Duration::from_secs(600))
            .body(build.artifact.clone())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => {
                failure = None;
                break;
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                failure = Some(format!(
                    "HTTP {status}: {}",
                    body.chars().take(300).collect::<String>()
                ));
                if !status.is_server_error() {
                    break;
                }
            }
            // Without the URL: it carries the upload token.
            Err(e) => failure = Some(e.without_url().to_string()),
        }
    }
    if let Some(message) = failure {
        return Err(upload_error(message));
    }
    client
        .finalize_artifact_upload(app_id, &target.object_key, &build.raw)
        .await
        .map_err(platform("finalizing the artifact upload"))
}

/// What to do with one resource or endpoint.
#[derive(Debug, Clone)]
enum Step {
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
fn hashes_of(steps: &[Step]) -> BTreeMap<&str, &str> {
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
fn plan(
    build: &BuildOutput,
    previous: &Map<String, Value>,
    listed: &[PlatformEndpoint],
    ctx: &spec::Context,
) -> Vec<Step> {
    let empty = Map::new();
    let local = build
        .raw
        .get("resources")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut claimed: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for name in build.manifest.resources.keys() {
        let entry = local.get(name).cloned().unwrap_or(Value::Null);
        let resource = &build.manifest.resources[name];
        let hash = hash::deploy_hash(&entry, &spec::template_identity(name, resource, ctx));
        // The endpoint the previous manifest records, if the platform still lists it.
        let tracked = previous.get(name).and_then(|prev| {
            let id = prev.get("endpoint_id")?.as_str()?;
            let endpoint = listed.iter().find(|e| e.id == id)?;
            Some((prev, endpoint))
        });
        let step = match tracked {
            Some((prev, endpoint))
                if prev.get(hash::DEPLOY_HASH).and_then(Value::as_str) == Some(hash.as_str()) =>
            {
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

#[cfg(test)]
mod tests {
    use super::*;

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
