//! The State Manager client: Runpod's GraphQL API for Flash environments and builds.
//!
//! "State Manager" is the `manifest` JSON stored on a Flash build. After deploy it carries each
//! resource's endpoint id and URL, which is how one resource finds another at run time. The path
//! from an environment to its manifest is `flashEnvironment.activeBuildId` → `flashBuild.manifest`.
//!
//! Requests are `POST {base}/graphql` with a Bearer key. Queries are retried with exponential
//! backoff on transient failures (transport errors, HTTP 5xx and 429, and GraphQL errors whose
//! text says the service is busy); mutations are sent exactly once, because a mutation that timed
//! out may still have been applied. Every error names the GraphQL operation and never contains
//! the API key.

mod ops;
mod retry;
mod types;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use graphql_client::GraphQLQuery;
use indexmap::IndexMap;
use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use serde_json::{Map, Value};

use crate::ApiKey;
use crate::config;
use crate::error::StateManagerError;
use crate::manifest::{Manifest, ManifestDocument};

pub use retry::RetryBackoff;
pub use types::{
    EnvironmentEndpoint, EnvironmentNetworkVolume, FlashBuild, FlashEnvironment, PersistedManifest,
};

/// GraphQL operation name of [`StateManagerClient::flash_environment`].
pub const GET_FLASH_ENVIRONMENT: &str = ops::get_flash_environment::OPERATION_NAME;
/// GraphQL operation name of [`StateManagerClient::flash_build`].
pub const GET_FLASH_BUILD: &str = ops::get_flash_build::OPERATION_NAME;
/// GraphQL operation name of [`StateManagerClient::update_flash_build_manifest`].
pub const UPDATE_FLASH_BUILD_MANIFEST: &str = ops::update_flash_build_manifest::OPERATION_NAME;

/// How much of an error response body is kept in [`StateManagerError::Http`].
const ERROR_BODY_LIMIT: usize = 512;
/// How much of an error response body is read. More than is kept, so that an echoed key that
/// straddles [`ERROR_BODY_LIMIT`] is still seen whole and redacted.
const ERROR_BODY_READ_LIMIT: usize = 8 * 1024;

/// Settings of a [`StateManagerClient`].
#[derive(Debug, Clone)]
pub struct StateManagerConfig {
    /// Control-plane base URL; requests go to `{base_url}/graphql`. A trailing `/` is ignored.
    pub base_url: String,
    /// The Runpod API key. Without one, every request fails with
    /// [`StateManagerError::MissingApiKey`] before anything is sent.
    pub api_key: Option<ApiKey>,
    /// Timeout of one HTTP request, connection to last body byte.
    pub timeout: Duration,
    /// Retries of a query after its first attempt. Mutations are never retried.
    pub query_retries: u32,
    /// Delay between query retries.
    pub backoff: RetryBackoff,
}

impl Default for StateManagerConfig {
    /// Runpod's API, no key, and the timeouts and retry policy of [`crate::config`].
    fn default() -> Self {
        Self {
            base_url: config::DEFAULT_API_BASE_URL.to_owned(),
            api_key: None,
            timeout: config::STATE_MANAGER_TIMEOUT,
            query_retries: config::STATE_MANAGER_QUERY_RETRIES,
            backoff: RetryBackoff::default(),
        }
    }
}

impl StateManagerConfig {
    /// The defaults, with the base URL from `RUNPOD_API_BASE_URL` and the key from
    /// `RUNPOD_API_KEY` when they are set and not blank.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let base_url = lookup(flash_contract::env::RUNPOD_API_BASE_URL)
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| config::DEFAULT_API_BASE_URL.to_owned());
        Self {
            base_url,
            api_key: lookup(flash_contract::env::RUNPOD_API_KEY).and_then(ApiKey::new),
            ..Self::default()
        }
    }
}

/// Client of the State Manager.
///
/// Cheap to clone: clones share one connection pool and one write lock, so read-modify-write
/// updates made through any of them are serialized.
#[derive(Clone)]
pub struct StateManagerClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    url: String,
    api_key: Option<ApiKey>,
    timeout: Duration,
    query_retries: u32,
    backoff: RetryBackoff,
    /// Held across read-modify-write of a build manifest, so that two updates from this client
    /// cannot both read the old manifest and have the second write drop the first one's change.
    write_lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for StateManagerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("StateManagerClient")
            .field("url", &inner.url)
            .field("api_key", &inner.api_key)
            .field("timeout", &inner.timeout)
            .field("query_retries", &inner.query_retries)
            .field("backoff", &inner.backoff)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperationKind {
    Query,
    Mutation,
}

/// A failed attempt, and whether the failure is one a query may retry.
struct AttemptError {
    error: StateManagerError,
    retryable: bool,
}

impl StateManagerClient {
    /// A client with its own connection pool.
    ///
    /// Fails only if the HTTP client cannot be built (the TLS backend failed to initialize); that
    /// is reported as [`StateManagerError::Transport`] with the operation `"client setup"`.
    pub fn new(config: StateManagerConfig) -> Result<Self, StateManagerError> {
        let url = graphql_url(&config.base_url);
        let http = reqwest::Client::builder()
            .user_agent(config::USER_AGENT)
            .build()
            .map_err(|error| StateManagerError::Transport {
                operation: "client setup",
                url: url.clone(),
                message: error_chain(&error),
                timed_out: false,
                source: Arc::new(error),
            })?;
        Ok(Self::with_http_client(config, http))
    }

    /// A client that sends through `http`, to share its pool with other users. The timeout and
    /// headers of [`StateManagerConfig`] are applied per request, whatever `http` was built with.
    pub fn with_http_client(config: StateManagerConfig, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                url: graphql_url(&config.base_url),
                api_key: config.api_key,
                timeout: config.timeout,
                query_retries: config.query_retries,
                backoff: config.backoff,
                write_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A client configured by [`StateManagerConfig::from_env`].
    pub fn from_env() -> Result<Self, StateManagerError> {
        Self::new(StateManagerConfig::from_env())
    }

    /// The GraphQL URL requests are sent to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Whether an API key is configured.
    pub fn has_api_key(&self) -> bool {
        self.inner.api_key.is_some()
    }

    /// The Flash environment `environment_id` (`getFlashEnvironment`).
    ///
    /// An environment the server reports as null is [`StateManagerError::Missing`].
    pub async fn flash_environment(
        &self,
        environment_id: &str,
    ) -> Result<FlashEnvironment, StateManagerError> {
        let variables = ops::get_flash_environment::Variables {
            flash_environment_id: environment_id.to_owned(),
        };
        let data = self
            .execute::<ops::GetFlashEnvironment>(variables, OperationKind::Query)
            .await?;
        let env = data
            .flash_environment
            .ok_or_else(|| StateManagerError::Missing {
                operation: GET_FLASH_ENVIRONMENT,
                what: format!("Flash environment `{environment_id}` was not found"),
            })?;
        Ok(FlashEnvironment {
            id: env.id,
            name: env.name,
            state: env.state,
            active_build_id: env.active_build_id,
            created_at: env.created_at,
            endpoints: env
                .endpoints
                .unwrap_or_default()
                .into_iter()
                .map(|e| EnvironmentEndpoint {
                    id: e.id,
                    name: e.name,
                })
                .collect(),
            network_volumes: env
                .network_volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| EnvironmentNetworkVolume {
                    id: v.id,
                    name: v.name,
                })
                .collect(),
        })
    }

    /// The Flash build `build_id` with its raw manifest (`getFlashBuild`).
    ///
    /// A build the server reports as null is [`StateManagerError::Missing`]; a build without a
    /// manifest is returned with `manifest: None`.
    pub async fn flash_build(&self, build_id: &str) -> Result<FlashBuild, StateManagerError> {
        let variables = ops::get_flash_build::Variables {
            input: build_id.to_owned(),
        };
        let data = self
            .execute::<ops::GetFlashBuild>(variables, OperationKind::Query)
            .await?;
        let build = data.flash_build.ok_or_else(|| StateManagerError::Missing {
            operation: GET_FLASH_BUILD,
            what: format!("Flash build `{build_id}` was not found"),
        })?;
        Ok(FlashBuild {
            id: build.id,
            manifest: build.manifest.filter(|m| !m.is_null()),
        })
    }

    /// Replaces the whole manifest of build `build_id` (`updateFlashBuildManifest`).
    ///
    /// Sent once and never retried: after a timeout the write may or may not have happened, and
    /// only the caller can decide whether writing again is safe.
    pub async fn update_flash_build_manifest(
        &self,
        build_id: &str,
        manifest: &Value,
    ) -> Result<FlashBuild, StateManagerError> {
        let variables = ops::update_flash_build_manifest::Variables {
            input: ops::update_flash_build_manifest::UpdateFlashBuildManifestInput {
                flash_build_id: build_id.to_owned(),
                manifest: manifest.clone(),
            },
        };
        let data = self
            .execute::<ops::UpdateFlashBuildManifest>(variables, OperationKind::Mutation)
            .await?;
        let build = data
            .update_flash_build_manifest
            .ok_or_else(|| StateManagerError::Missing {
                operation: UPDATE_FLASH_BUILD_MANIFEST,
                what: format!("the update of Flash build `{build_id}` returned no build"),
            })?;
        Ok(FlashBuild {
            id: build.id,
            manifest: build.manifest.filter(|m| !m.is_null()),
        })
    }

    /// The manifest of the active build of environment `environment_id`, decoded.
    ///
    /// [`StateManagerError::Missing`] when the environment does not exist, has no active build,
    /// or the build has no manifest; [`StateManagerError::Decode`] when the manifest does not have
    /// the manifest's shape.
    pub async fn get_persisted_manifest(
        &self,
        environment_id: &str,
    ) -> Result<PersistedManifest, StateManagerError> {
        let (build_id, manifest) = self.active_manifest(environment_id).await?;
        let manifest = serde_json::from_value::<Manifest>(manifest).map_err(|error| {
            let text = self.redact(&error.to_string());
            StateManagerError::Decode {
                operation: GET_FLASH_BUILD,
                message: format!(
                    "the manifest of Flash build `{build_id}` (active in environment \
                     `{environment_id}`) is not a valid manifest: {text}"
                ),
                source: Some(Arc::new(error)),
            }
        })?;
        Ok(PersistedManifest { build_id, manifest })
    }

    /// Resource name to endpoint URL: the `resources_endpoints` of the active build's manifest
    /// of `environment_id`, empty when the manifest has none (nothing deployed yet).
    ///
    /// Fails like [`get_persisted_manifest`](Self::get_persisted_manifest).
    pub async fn resources_endpoints(
        &self,
        environment_id: &str,
    ) -> Result<IndexMap<String, String>, StateManagerError> {
        let persisted = self.get_persisted_manifest(environment_id).await?;
        Ok(persisted.manifest.resources_endpoints.unwrap_or_default())
    }

    /// Merges `data` into `resources[resource_name]` of the active build's manifest and writes
    /// the manifest back.
    ///
    /// The merge is shallow and works on the raw JSON, so fields this crate does not model
    /// survive: keys of `data` replace the resource's keys of the same name, and its other keys
    /// stay. A resource not yet in the manifest is created. Updates through one client (and its
    /// clones) are serialized; writers in other processes are not coordinated with.
    pub async fn update_resource_state(
        &self,
        environment_id: &str,
        resource_name: &str,
        data: Map<String, Value>,
    ) -> Result<(), StateManagerError> {
        let _guard = self.inner.write_lock.lock().await;
        let (build_id, mut manifest) = self.active_manifest(environment_id).await?;
        // The shape is checked here so a malformed manifest is an error, not silently replaced.
        resources_of(&mut manifest, &build_id)?;
        let mut document = ManifestDocument::new(manifest);
        document.merge_resource(resource_name, data);
        self.update_flash_build_manifest(&build_id, &document.into_value())
            .await?;
        Ok(())
    }

    /// Removes `resources[resource_name]` from the active build's manifest and writes the
    /// manifest back. Nothing is written when the resource is not there.
    pub async fn remove_resource_state(
        &self,
        environment_id: &str,
        resource_name: &str,
    ) -> Result<(), StateManagerError> {
        let _guard = self.inner.write_lock.lock().await;
        let (build_id, mut manifest) = self.active_manifest(environment_id).await?;
        resources_of(&mut manifest, &build_id)?;
        let mut document = ManifestDocument::new(manifest);
        if !document.remove_resource(resource_name) {
            return Ok(());
        }
        self.update_flash_build_manifest(&build_id, &document.into_value())
            .await?;
        Ok(())
    }

    /// The active build id of `environment_id` and its raw manifest.
    async fn active_manifest(
        &self,
        environment_id: &str,
    ) -> Result<(String, Value), StateManagerError> {
        let environment = self.flash_environment(environment_id).await?;
        let build_id = environment
            .active_build_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| StateManagerError::Missing {
                operation: GET_FLASH_ENVIRONMENT,
                what: format!("Flash environment `{environment_id}` has no active build (activeBuildId is null); deploy it first"),
            })?;
        let build = self.flash_build(&build_id).await?;
        let manifest = build.manifest.ok_or_else(|| StateManagerError::Missing {
            operation: GET_FLASH_BUILD,
            what: format!(
                "Flash build `{build_id}` (active in environment `{environment_id}`) has no manifest"
            ),
        })?;
        Ok((build_id, manifest))
    }

    /// Sends the query `Q` (a graphql_client operation) with this client's key, timeout and
    /// redaction, retrying on transient failures as [`StateManagerConfig::query_retries`] says.
    ///
    /// # Errors
    /// [`StateManagerError`] naming `Q`'s operation.
    pub async fn query<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, StateManagerError> {
        self.execute::<Q>(variables, OperationKind::Query).await
    }

    /// Sends the mutation `Q` exactly once: a mutation that timed out may still have been
    /// applied, so it is never retried.
    ///
    /// # Errors
    /// [`StateManagerError`] naming `Q`'s operation.
    pub async fn mutate<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, StateManagerError> {
        self.execute::<Q>(variables, OperationKind::Mutation).await
    }

    /// Runs one operation, retrying a query on transient failures.
    async fn execute<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        kind: OperationKind,
    ) -> Result<Q::ResponseData, StateManagerError> {
        let body = Q::build_query(variables);
        let operation = body.operation_name;
        let key = self
            .inner
            .api_key
            .as_ref()
            .ok_or(StateManagerError::MissingApiKey { operation })?;
        let payload = serde_json::to_vec(&body).map_err(|error| StateManagerError::Decode {
            operation,
            message: format!("cannot encode the request: {error}"),
            source: Some(Arc::new(error)),
        })?;
        let retries = match kind {
            OperationKind::Query => self.inner.query_retries,
            OperationKind::Mutation => 0,
        };
        let mut retry = 0;
        loop {
            match self
                .attempt::<Q::ResponseData>(operation, key, &payload)
                .await
            {
                Ok(data) => return Ok(data),
                Err(AttemptError { error, retryable }) if retryable && retry < retries => {
                    let delay = self.inner.backoff.delay(retry);
                    retry += 1;
                    tracing::warn!(
                        operation,
                        retry,
                        retries,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        %error,
                        "State Manager request failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(AttemptError { error, .. }) => return Err(error),
            }
        }
    }

    /// One HTTP round trip and its classification.
    async fn attempt<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        key: &ApiKey,
        payload: &[u8],
    ) -> Result<T, AttemptError> {
        let url = &self.inner.url;
        let transport = |error: reqwest::Error| {
            let error = error.without_url();
            AttemptError {
                retryable: true,
                error: StateManagerError::Transport {
                    operation,
                    url: url.clone(),
                    timed_out: error.is_timeout(),
                    message: key.redact(&error_chain(&error)),
                    source: Arc::new(error),
                },
            }
        };
        tracing::debug!(operation, %url, "State Manager request");
        let response = self
            .inner
            .http
            .post(url)
            .bearer_auth(key.expose())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, config::USER_AGENT)
            .timeout(self.inner.timeout)
            .body(payload.to_vec())
            .send()
            .await
            .map_err(transport)?;

        let status = response.status();
        if !status.is_success() {
            let body = read_prefix(response, ERROR_BODY_READ_LIMIT).await;
            let body = truncate(
                &key.redact(&String::from_utf8_lossy(&body)),
                ERROR_BODY_LIMIT,
            );
            return Err(AttemptError {
                retryable: status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
                error: StateManagerError::Http {
                    operation,
                    url: url.clone(),
                    status: status.as_u16(),
                    body,
                },
            });
        }

        let bytes = response.bytes().await.map_err(transport)?;
        let decoded: graphql_client::Response<T> =
            serde_json::from_slice(&bytes).map_err(|error| AttemptError {
                retryable: false,
                error: StateManagerError::Decode {
                    operation,
                    message: key.redact(&error.to_string()),
                    source: Some(Arc::new(error)),
                },
            })?;
        if let Some(errors) = decoded.errors.filter(|errors| !errors.is_empty()) {
            let messages: Vec<String> = errors.iter().map(|e| key.redact(&e.message)).collect();
            return Err(AttemptError {
                retryable: messages.iter().any(|m| retry::is_transient_message(m)),
                error: StateManagerError::GraphQl {
                    operation,
                    messages,
                },
            });
        }
        decoded.data.ok_or_else(|| AttemptError {
            retryable: false,
            error: StateManagerError::Decode {
                operation,
                message: "the response has neither `data` nor `errors`".to_owned(),
                source: None,
            },
        })
    }

    fn redact(&self, text: &str) -> String {
        match &self.inner.api_key {
            Some(key) => key.redact(text),
            None => text.to_owned(),
        }
    }
}

/// The manifest's `resources` object, created when absent or null.
fn resources_of<'a>(
    manifest: &'a mut Value,
    build_id: &str,
) -> Result<&'a mut Map<String, Value>, StateManagerError> {
    let not_object = |what: &str| StateManagerError::Decode {
        operation: GET_FLASH_BUILD,
        message: format!(
            "the manifest of Flash build `{build_id}` is malformed: {what} is not a JSON object"
        ),
        source: None,
    };
    let root = manifest
        .as_object_mut()
        .ok_or_else(|| not_object("the manifest"))?;
    let resources = root
        .entry("resources")
        .or_insert_with(|| Value::Object(Map::new()));
    if resources.is_null() {
        *resources = Value::Object(Map::new());
    }
    resources
        .as_object_mut()
        .ok_or_else(|| not_object("`resources`"))
}

fn graphql_url(base_url: &str) -> String {
    format!("{}/graphql", base_url.trim().trim_end_matches('/'))
}

/// An error and its sources, `: `-separated. The URL is left out because every error that
/// carries this message reports the URL in a field of its own.
fn error_chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        // hyper and reqwest sometimes repeat their cause's text in their own.
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Up to `limit` bytes of the body; a failure mid-body keeps what arrived.
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(limit);
    body
}

/// `text` cut to at most `limit` bytes on a character boundary, marked when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_url_tolerates_trailing_slashes() {
        assert_eq!(
            graphql_url("https://api.runpod.io"),
            "https://api.runpod.io/graphql"
        );
        assert_eq!(
            graphql_url("http://127.0.0.1:9/ "),
            "http://127.0.0.1:9/graphql"
        );
        assert_eq!(graphql_url("http://h//"), "http://h/graphql");
    }

    #[test]
    fn config_from_lookup_reads_url_and_key() {
        let config = StateManagerConfig::from_lookup(|name| match name {
            flash_contract::env::RUNPOD_API_BASE_URL => Some("http://localhost:1/".to_owned()),
            flash_contract::env::RUNPOD_API_KEY => Some("rpa_KEY\n".to_owned()),
            _ => None,
        });
        assert_eq!(config.base_url, "http://localhost:1/");
        assert_eq!(config.api_key.unwrap().expose(), "rpa_KEY");
        assert_eq!(config.timeout, config::STATE_MANAGER_TIMEOUT);
        assert_eq!(config.query_retries, config::STATE_MANAGER_QUERY_RETRIES);
    }

    #[test]
    fn config_from_lookup_defaults_when_unset_or_blank() {
        let config = StateManagerConfig::from_lookup(|name| {
            (name == flash_contract::env::RUNPOD_API_BASE_URL).then(|| " ".to_owned())
        });
        assert_eq!(config.base_url, config::DEFAULT_API_BASE_URL);
        assert!(config.api_key.is_none());
    }

    #[test]
    fn operation_names_match_python_flash() {
        assert_eq!(GET_FLASH_ENVIRONMENT, "getFlashEnvironment");
        assert_eq!(GET_FLASH_BUILD, "getFlashBuild");
        assert_eq!(UPDATE_FLASH_BUILD_MANIFEST, "updateFlashBuildManifest");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("aé", 2), "a…");
    }

    #[test]
    fn resources_of_creates_missing_or_null_resources() {
        let mut manifest = serde_json::json!({"version": "1.0"});
        resources_of(&mut manifest, "b").unwrap();
        assert_eq!(manifest["resources"], serde_json::json!({}));
        let mut manifest = serde_json::json!({"resources": null});
        resources_of(&mut manifest, "b").unwrap();
        assert_eq!(manifest["resources"], serde_json::json!({}));
        let mut manifest = serde_json::json!([1]);
        let error = resources_of(&mut manifest, "b").unwrap_err();
        assert!(error.to_string().contains("`b`"), "{error}");
    }
}
