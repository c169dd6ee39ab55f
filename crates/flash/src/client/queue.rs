//! A queue endpoint by id (`/run`, `/runsync`, `/health`, `/purge-queue`, and its jobs), or by
//! app, environment and resource name through Runpod's Flash dispatcher (`/flash/run`, ...).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use flash_contract::jobs as wire;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::error::{EndpointError, EndpointErrorKind};
use super::job::{Job, finish};
use super::options::RunOptions;
use super::status::JobStatus;
use super::transport::{Connection, NotFoundRetry, Repeat, Settings, dispatch_headers};
use crate::ApiKey;
use crate::call::transport::CancelOnDrop;
use crate::config;

/// A client of one Runpod queue endpoint (any endpoint: a Flash app's, a vLLM worker's, ...).
///
/// Cheap to clone; every clone and every endpoint of the process share one pooled HTTP client.
///
/// ```no_run
/// # async fn demo() -> Result<(), runpod_flash::client::EndpointError> {
/// use std::time::Duration;
/// use runpod_flash::client::QueueEndpoint;
///
/// let endpoint = QueueEndpoint::new("abc123xyz")?; // key from RUNPOD_API_KEY
/// let sum: i64 = endpoint
///     .run_sync(&serde_json::json!({"a": 1, "b": 2}), Duration::from_secs(60))
///     .await?;
/// let job = endpoint.run(&serde_json::json!({"prompt": "hi"})).await?;
/// println!("{} is {:?}", job.id(), job.status().await?.status);
/// # let _ = sum; Ok(()) }
/// ```
#[derive(Clone)]
pub struct QueueEndpoint {
    connection: Arc<Connection>,
}

impl fmt::Debug for QueueEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueEndpoint")
            .field("id", &self.connection.name)
            .field("url", &self.connection.base)
            .finish_non_exhaustive()
    }
}

/// How a [`QueueEndpoint`] is set up.
#[derive(Debug, Clone)]
pub struct QueueEndpointBuilder {
    address: Address,
    base_url: Option<String>,
    api_key: Option<ApiKey>,
    settings: Settings,
}

/// An endpoint's `/health`: its job and worker counts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// Job counts.
    pub jobs: JobCounts,
    /// Worker counts by state (`idle`, `running`, and any state newer platforms add).
    pub workers: std::collections::BTreeMap<String, u64>,
}

/// The job counts of [`Health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCounts {
    /// Jobs finished with an output.
    #[serde(default)]
    pub completed: u64,
    /// Jobs that failed.
    #[serde(default)]
    pub failed: u64,
    /// Jobs running now.
    #[serde(default)]
    pub in_progress: u64,
    /// Jobs waiting for a worker.
    #[serde(default)]
    pub in_queue: u64,
    /// Jobs run again.
    #[serde(default)]
    pub retried: u64,
}

/// Which endpoint a client calls.
#[derive(Debug, Clone)]
enum Address {
    /// `{base}/{id}/...`.
    Id(String),
    /// `{base}/flash/...` with the `X-Flash-*` headers: Runpod resolves the endpoint.
    Name {
        app: String,
        environment: String,
        resource: String,
    },
}

impl Address {
    /// How errors name the endpoint.
    fn label(&self) -> String {
        match self {
            Self::Id(id) => id.clone(),
            Self::Name {
                app,
                environment,
                resource,
            } => format!("{app}/{environment}/{resource}"),
        }
    }
}

#[derive(Deserialize)]
struct Submitted {
    id: String,
}

#[derive(Deserialize)]
struct Purged {
    removed: u64,
}

impl QueueEndpointBuilder {
    /// The data-plane base URL, `https://api.runpod.ai/v2` by default
    /// (`RUNPOD_ENDPOINT_BASE_URL` overrides the default).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The API key, sent as `Authorization: Bearer`. Default: `RUNPOD_API_KEY`, else the key
    /// of [`call::configure`](crate::call::configure).
    #[must_use]
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.api_key = Some(key);
        self
    }

    /// Timeout of one status, stream, cancel, retry or health request (default 120 s).
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// First and largest pause between status polls (default 250 ms and 5 s).
    #[must_use]
    pub fn poll_interval(mut self, initial: Duration, max: Duration) -> Self {
        self.settings.poll_initial = initial;
        self.settings.poll_max = max.max(initial);
        self
    }

    /// How long one `/runsync` request asks Runpod to hold the job (default 90 s, Runpod's
    /// bounds 1 to 300 s) before the client falls back to polling `/status`.
    #[must_use]
    pub fn runsync_wait(mut self, wait: Duration) -> Self {
        self.settings.runsync_wait = wait;
        self
    }

    /// How a job request by name (status, stream, cancel, retry) rides out the Flash
    /// dispatcher's 404s: `attempts` tries in all, pausing `first_pause` after the first 404 and
    /// twice as long after each further one. The default is runpod 2.0's: 7 tries from 500 ms
    /// (31.5 s), because a name just deployed or a job just submitted may not have reached the
    /// dispatcher yet. `/run` and `/runsync` are sent once (a 404 there is returned at once, as
    /// runpod 2.0 does); an endpoint by id asks once, its 404 is final.
    #[must_use]
    pub fn not_found_retry(mut self, attempts: u32, first_pause: Duration) -> Self {
        self.settings.not_found = NotFoundRetry {
            attempts: attempts.max(1),
            first_pause,
        };
        self
    }

    /// Builds the client. Fails when the id is not a plain path segment, the base URL is not an
    /// http(s) URL, or no API key can be found.
    pub fn build(self) -> Result<QueueEndpoint, EndpointError> {
        let label = self.address.label();
        let mut settings = self.settings;
        let invalid = |message: String| {
            EndpointError::new(&label, None, EndpointErrorKind::InvalidRequest(message))
        };
        let (tail, headers) = match &self.address {
            Address::Id(id) => {
                if id.is_empty()
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(invalid(format!(
                        "endpoint id {id:?} must be letters, digits, '-' or '_'"
                    )));
                }
                settings.not_found = NotFoundRetry::ONCE;
                (id.clone(), Vec::new())
            }
            Address::Name {
                app,
                environment,
                resource,
            } => {
                let headers = dispatch_headers(app, environment, resource).map_err(invalid)?;
                (flash_contract::dispatch::SENTINEL_ID.to_owned(), headers)
            }
        };
        let base = match self.base_url {
            Some(url) => url,
            None => std::env::var(flash_contract::env::RUNPOD_ENDPOINT_BASE_URL)
                .ok()
                .filter(|url| !url.trim().is_empty())
                .unwrap_or_else(|| config::DEFAULT_ENDPOINT_BASE_URL.to_owned()),
        };
        let base = base.trim().trim_end_matches('/').to_owned();
        match url::Url::parse(&base) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(invalid(format!(
                    "base URL {base:?} ({}) is not an http(s) URL",
                    flash_contract::env::RUNPOD_ENDPOINT_BASE_URL
                )));
            }
        }
        let peer = crate::call::http::peer();
        let key = self
            .api_key
            .or_else(ApiKey::from_env)
            .or_else(|| peer.config.api_key.clone())
            .ok_or_else(|| {
                invalid(format!(
                    "no API key: set {} or pass one to the builder",
                    flash_contract::env::RUNPOD_API_KEY
                ))
            })?;
        Ok(QueueEndpoint {
            connection: Arc::new(Connection {
                base: format!("{base}/{tail}"),
                name: label,
                key,
                headers,
                http: peer.http.clone(),
                settings,
            }),
        })
    }
}

impl QueueEndpoint {
    /// The endpoint `id` with the defaults (see [`QueueEndpointBuilder`]).
    pub fn new(id: impl Into<String>) -> Result<Self, EndpointError> {
        Self::builder(id).build()
    }

    /// Sets up a client of the endpoint `id`.
    pub fn builder(id: impl Into<String>) -> QueueEndpointBuilder {
        Self::builder_at(Address::Id(id.into()))
    }

    /// The endpoint of resource `resource` in environment `environment` of Flash app `app`,
    /// with the defaults: called through Runpod's Flash dispatcher, which finds the endpoint
    /// by name on every request (`{base}/flash/run`, `/flash/runsync`, `/flash/status/{id}`,
    /// `/flash/stream/{id}`, `/flash/cancel/{id}`, `/flash/retry/{id}` with `X-Flash-App`,
    /// `X-Flash-Environment` and `X-Flash-Endpoint`). No id or URL is needed, so the endpoint
    /// can be redeployed under another id. `resource` may also be an endpoint id of that
    /// environment. The dispatcher has no `/health` or `/purge-queue`: call those by id.
    /// Job requests (status, stream, cancel, retry) ride out the dispatcher's 404s for up to
    /// 31.5 s, as runpod 2.0's do ([`QueueEndpointBuilder::not_found_retry`]).
    ///
    /// `flash deploy` without `--env` deploys to `production` (as Python Flash does); runpod
    /// 2.0 apps deploy to and call
    /// [`DEFAULT_ENVIRONMENT`](flash_contract::dispatch::DEFAULT_ENVIRONMENT) (`default`).
    pub fn by_name(
        app: impl Into<String>,
        environment: impl Into<String>,
        resource: impl Into<String>,
    ) -> Result<Self, EndpointError> {
        Self::builder_by_name(app, environment, resource).build()
    }

    /// Sets up a client of an endpoint by name, as [`by_name`](Self::by_name) calls it.
    pub fn builder_by_name(
        app: impl Into<String>,
        environment: impl Into<String>,
        resource: impl Into<String>,
    ) -> QueueEndpointBuilder {
        Self::builder_at(Address::Name {
            app: app.into(),
            environment: environment.into(),
            resource: resource.into(),
        })
    }

    fn builder_at(address: Address) -> QueueEndpointBuilder {
        let settings = Settings {
            not_found: match address {
                Address::Id(_) => NotFoundRetry::ONCE,
                Address::Name { .. } => NotFoundRetry::DISPATCHER,
            },
            ..Settings::default()
        };
        QueueEndpointBuilder {
            address,
            base_url: None,
            api_key: None,
            settings,
        }
    }

    /// The queue endpoint that owns `function` in this app, found as a `#[remote]` call finds
    /// it (the manifest and the State Manager, through the process's
    /// [`ServiceRegistry`](crate::registry::ServiceRegistry)), with the key of
    /// [`QueueEndpointBuilder::build`]. Use it to run one of your own functions as a job (to
    /// stream it, follow its progress or give it a webhook).
    ///
    /// Fails when the function runs in this process (there is no endpoint to call) or on a
    /// load-balanced endpoint.
    pub async fn of_function(function: &str) -> Result<Self, crate::FlashError> {
        let route = crate::call::registry()?.route(function).await?;
        let not_queue = |why: String| {
            EndpointError::new(function, None, EndpointErrorKind::InvalidRequest(why))
        };
        let crate::registry::Route::Remote(remote) = route else {
            return Err(not_queue(format!(
                "function `{function}` runs in this process, not on an endpoint; call it directly"
            ))
            .into());
        };
        if !matches!(remote.kind, crate::registry::RemoteKind::Queue { .. }) {
            return Err(not_queue(format!(
                "function `{function}` is on the load-balanced endpoint {}; use LoadBalancedEndpoint",
                remote.endpoint_url
            ))
            .into());
        }
        let url = remote.endpoint_url.trim_end_matches('/');
        let Some((base, id)) = url.rsplit_once('/') else {
            return Err(not_queue(format!("endpoint URL {url:?} has no endpoint id")).into());
        };
        Ok(Self::builder(id).base_url(base).build()?)
    }

    /// The endpoint's id, or `app/environment/resource` for one called by name (what errors
    /// name it by).
    pub fn id(&self) -> &str {
        &self.connection.name
    }

    /// `POST /run` with `{"input": input}`: queues a job and returns it at once. Never retried
    /// (a repeat would run the job twice).
    pub async fn run<I: Serialize + ?Sized>(&self, input: &I) -> Result<Job, EndpointError> {
        self.run_with(input, &RunOptions::new()).await
    }

    /// [`run`](Self::run) with a webhook, a policy or S3 credentials.
    pub async fn run_with<I: Serialize + ?Sized>(
        &self,
        input: &I,
        options: &RunOptions,
    ) -> Result<Job, EndpointError> {
        let body = self.body(input, options, wire::MAX_RUN_BODY_BYTES)?;
        let answer = self
            .connection
            .send(
                Method::POST,
                "run",
                Some(body),
                None,
                self.connection.settings.request_timeout,
                Repeat::Never,
            )
            .await?;
        let submitted: Submitted = self.connection.json(None, &answer)?;
        Ok(Job::new(Arc::clone(&self.connection), submitted.id))
    }

    /// Runs a job and waits up to `timeout` for its output: `POST /runsync?wait=...` (Runpod
    /// holds the request up to 90 s here), then `/status` polls past that window.
    ///
    /// The job's end maps as in [`Job::wait`]. When `timeout` passes, or the future is dropped,
    /// the job is cancelled: nobody is left to read its result.
    pub async fn run_sync<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        input: &I,
        timeout: Duration,
    ) -> Result<O, EndpointError> {
        self.run_sync_with(input, &RunOptions::new(), timeout).await
    }

    /// [`run_sync`](Self::run_sync) with options.
    pub async fn run_sync_with<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        input: &I,
        options: &RunOptions,
        timeout: Duration,
    ) -> Result<O, EndpointError> {
        let started = Instant::now();
        let body = self.body(input, options, wire::MAX_RUNSYNC_BODY_BYTES)?;
        let wait = timeout.min(self.connection.settings.runsync_wait);
        let wait_ms = u64::try_from(wait.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(*wire::RUNSYNC_WAIT_MS.start(), *wire::RUNSYNC_WAIT_MS.end());
        // The server holds the request for up to `wait`; the slack covers the answer itself.
        let slack = self
            .connection
            .settings
            .request_timeout
            .min(Duration::from_secs(30));
        let answer = self
            .connection
            .send(
                Method::POST,
                &format!("runsync?wait={wait_ms}"),
                Some(body),
                None,
                Duration::from_millis(wait_ms) + slack,
                Repeat::Never,
            )
            .await?;
        let status: JobStatus = self.connection.json(None, &answer)?;
        if status.status.is_final() {
            return finish(&self.connection, status);
        }
        let job = Job::new(Arc::clone(&self.connection), status.id);
        let mut cancel = CancelOnDrop::new(
            self.connection
                .request(
                    Method::POST,
                    &format!("{}/cancel/{}", self.connection.base, job.id()),
                )
                .timeout(self.connection.settings.request_timeout),
        );
        let left = timeout.saturating_sub(started.elapsed());
        let result = job.wait(left).await;
        if let Err(error) = &result
            && let EndpointErrorKind::Deadline { .. } = error.kind()
        {
            // Dropping the armed guard sends the cancel.
            return Err(EndpointError::new(
                self.id(),
                Some(job.id()),
                EndpointErrorKind::Deadline {
                    waited: started.elapsed(),
                },
            ));
        }
        cancel.disarm();
        result
    }

    /// The job `id` of this endpoint, to follow a job submitted earlier (by this process or
    /// another). Nothing is sent until it is used.
    pub fn job(&self, id: impl Into<String>) -> Job {
        Job::new(Arc::clone(&self.connection), id.into())
    }

    /// `GET /health`: job and worker counts.
    pub async fn health(&self) -> Result<Health, EndpointError> {
        let answer = self
            .connection
            .send(
                Method::GET,
                "health",
                None,
                None,
                self.connection.settings.request_timeout,
                Repeat::Safe,
            )
            .await?;
        self.connection.json(None, &answer)
    }

    /// `POST /purge-queue`: drops every queued job (running ones go on). Returns how many were
    /// dropped.
    pub async fn purge_queue(&self) -> Result<u64, EndpointError> {
        let answer = self
            .connection
            .send(
                Method::POST,
                "purge-queue",
                None,
                None,
                self.connection.settings.request_timeout,
                Repeat::Never,
            )
            .await?;
        let purged: Purged = self.connection.json(None, &answer)?;
        Ok(purged.removed)
    }

    fn body<I: Serialize + ?Sized>(
        &self,
        input: &I,
        options: &RunOptions,
        limit: usize,
    ) -> Result<Vec<u8>, EndpointError> {
        let input = serde_json::to_value(input).map_err(|error| {
            self.connection.error(
                None,
                EndpointErrorKind::InvalidRequest(format!("cannot encode the input: {error}")),
            )
        })?;
        let body = options.body(input).map_err(|message| {
            self.connection
                .error(None, EndpointErrorKind::InvalidRequest(message))
        })?;
        self.connection.encode(&body, "request body", limit)
    }
}
