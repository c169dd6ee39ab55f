//! One endpoint's HTTP: the process's pooled client, the Bearer key, timeouts, which requests are
//! retried (only those safe to repeat: reads and cancel; by name, job requests the dispatcher
//! does not know yet) and how an answer becomes an error.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{EndpointError, EndpointErrorKind};
use crate::ApiKey;
use crate::backoff::{doubling, jittered, retry_after};
use crate::call::transport::{describe, excerpt};
use crate::config;

/// Whether a request may be sent again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads and cancels: repeating them changes nothing.
    Safe,
    /// `/run`, `/runsync`, `/retry`, `/purge-queue` and load-balanced writes: a repeat could
    /// start the work twice.
    Never,
}

/// How a job request by name (status, stream, cancel, retry) rides out the Flash dispatcher's
/// 404s, as runpod 2.0 does (`retry_not_found`, `runpod/apps/targets.py`): a name just deployed,
/// or a job just submitted, may not have reached the dispatcher yet, and a 404 means nothing was
/// done, so asking again is safe even for `/retry`. runpod 2.0 sends `/run` and `/runsync` once
/// on 404 and load-balanced requests once whatever the answer, and so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotFoundRetry {
    /// Tries in all.
    pub(crate) attempts: u32,
    /// The pause after the first 404, doubling after each further one.
    pub(crate) first_pause: Duration,
}

impl NotFoundRetry {
    /// One try: an endpoint by id, whose 404 is final.
    pub(crate) const ONCE: Self = Self {
        attempts: 1,
        first_pause: Duration::ZERO,
    };
    /// runpod 2.0's, for the dispatcher: 7 tries, pauses of 0.5 s doubling (31.5 s in all).
    pub(crate) const DISPATCHER: Self = Self {
        attempts: config::DISPATCH_NOT_FOUND_ATTEMPTS,
        first_pause: config::DISPATCH_NOT_FOUND_PAUSE,
    };

    /// The pause after the `failed`-th 404 in a row (from 1), or `None` when that was the last
    /// try.
    pub(crate) fn pause(self, failed: u32) -> Option<Duration> {
        (failed < self.attempts)
            .then(|| doubling(self.first_pause, failed.saturating_sub(1), Duration::MAX))
    }
}

/// Settings shared by the clients of one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) request_timeout: Duration,
    pub(crate) poll_initial: Duration,
    pub(crate) poll_max: Duration,
    /// How long one `/runsync` asks the platform to hold the job before answering "running".
    pub(crate) runsync_wait: Duration,
    /// Extra attempts of a [`Repeat::Safe`] request after transient failures.
    pub(crate) retries: u32,
    /// Job requests after a 404 ([`NotFoundRetry::ONCE`] unless the endpoint is by name).
    pub(crate) not_found: NotFoundRetry,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            request_timeout: config::PEER_REQUEST_TIMEOUT,
            poll_initial: config::POLL_INITIAL,
            poll_max: config::POLL_MAX,
            runsync_wait: config::RUNSYNC_WAIT,
            retries: config::POLL_ERROR_BUDGET,
            not_found: NotFoundRetry::ONCE,
        }
    }
}

/// The HTTP side of one endpoint client.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// How errors name the endpoint: its id, or a load-balanced endpoint's URL.
    pub(crate) name: String,
    /// The URL operations are relative to, without a trailing slash.
    pub(crate) base: String,
    pub(crate) key: ApiKey,
    /// Sent on every request besides the key: the Flash dispatcher's `X-Flash-*` names when
    /// the endpoint is addressed by name, nothing otherwise.
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) http: reqwest::Client,
    pub(crate) settings: Settings,
}

/// The Flash dispatcher's headers naming an endpoint (`flash_contract::dispatch`), or why a
/// name cannot be sent as it is: a header value must be printable ASCII, and a name that is
/// blank or has surrounding spaces would be trimmed into another name (or none) on the way.
pub(crate) fn dispatch_headers(
    app: &str,
    environment: &str,
    resource: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    use flash_contract::dispatch::{HEADER_APP, HEADER_ENDPOINT, HEADER_ENVIRONMENT};
    let mut headers = Vec::with_capacity(3);
    for (what, header, value) in [
        ("app name", HEADER_APP, app),
        ("environment name", HEADER_ENVIRONMENT, environment),
        ("resource name", HEADER_ENDPOINT, resource),
    ] {
        if !sendable_name(value) {
            return Err(format!(
                "{what} {value:?} ({header}) must be printable ASCII, not empty, without surrounding spaces"
            ));
        }
        headers.push((header, value.to_owned()));
    }
    Ok(headers)
}

/// Whether a name can be sent as a header value as it is (see [`dispatch_headers`]).
pub(crate) fn sendable_name(value: &str) -> bool {
    !value.is_empty()
        && value.trim() == value
        && value.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// An answer that came back, whatever its status.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) text: String,
}

impl Connection {
    /// `method url` with the key and the endpoint's headers: every request of this endpoint
    /// starts here, so none can go without them.
    pub(crate) fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.key.expose());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
    }

    pub(crate) fn error(&self, job_id: Option<&str>, kind: EndpointErrorKind) -> EndpointError {
        EndpointError::new(&self.name, job_id, kind)
    }

    /// `body` as JSON, refused before anything is sent when it is over `limit` bytes.
    pub(crate) fn encode<T: Serialize + ?Sized>(
        &self,
        body: &T,
        what: &str,
        limit: usize,
    ) -> Result<Vec<u8>, EndpointError> {
        let bytes = serde_json::to_vec(body).map_err(|error| {
            self.error(
                None,
                EndpointErrorKind::InvalidRequest(format!("cannot encode the {what}: {error}")),
            )
        })?;
        if bytes.len() > limit {
            return Err(self.error(
                None,
                EndpointErrorKind::InvalidRequest(format!(
                    "the {what} encodes to {} bytes, over the {limit}-byte limit; nothing was sent",
                    bytes.len()
                )),
            ));
        }
        Ok(bytes)
    }

    /// Sends `method {base}/{tail}` (a [`Repeat::Safe`] one again after transport errors, 429
    /// and 5xx, with jittered doubling pauses) and returns the last answer.
    ///
    /// A `job_id` marks a request about that job (status, stream, cancel, retry: the routes
    /// runpod 2.0 asks again after a 404), sent again on 404 as `settings.not_found` says.
    pub(crate) async fn send(
        &self,
        method: Method,
        tail: &str,
        body: Option<Vec<u8>>,
        job_id: Option<&str>,
        timeout: Duration,
        repeat: Repeat,
    ) -> Result<Answer, EndpointError> {
        let url = if tail.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, tail.trim_start_matches('/'))
        };
        let attempts = match repeat {
            Repeat::Safe => self.settings.retries + 1,
            Repeat::Never => 1,
        };
        // Tries judged for transient failures, and 404s in a row: separate budgets.
        let mut attempt = 0;
        let mut not_found = 0;
        loop {
            let mut request = self.request(method.clone(), &url).timeout(timeout);
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(&response);
                    match response.text().await {
                        Ok(text) => Ok(Answer {
                            status,
                            retry_after,
                            text,
                        }),
                        Err(error) => Err(describe(&error)),
                    }
                }
                Err(error) => Err(describe(&error)),
            };
            let transient = match &outcome {
                Ok(answer) => {
                    answer.status.is_server_error()
                        || answer.status == StatusCode::TOO_MANY_REQUESTS
                }
                Err(_) => true,
            };
            if let Ok(answer) = &outcome
                && answer.status == StatusCode::NOT_FOUND
                && job_id.is_some()
            {
                not_found += 1;
                if let Some(pause) = self.settings.not_found.pause(not_found) {
                    tracing::debug!(endpoint = %self.name, not_found, "404; asking again in {pause:?} (a fresh deploy or job may not have reached the dispatcher)");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            }
            attempt += 1;
            if !transient || attempt >= attempts {
                return outcome
                    .map_err(|message| self.error(job_id, EndpointErrorKind::Transport(message)));
            }
            let pause = jittered(
                doubling(
                    self.settings.poll_initial,
                    attempt - 1,
                    self.settings.poll_max,
                ),
                config::POLL_JITTER,
            );
            let pause = match &outcome {
                Ok(Answer {
                    retry_after: Some(after),
                    ..
                }) => pause.max(*after),
                _ => pause,
            };
            tracing::debug!(endpoint = %self.name, attempt, "transient failure; retrying in {pause:?}");
            tokio::time::sleep(pause).await;
        }
    }

    /// The error of a non-2xx answer.
    pub(crate) fn refusal(&self, job_id: Option<&str>, answer: &Answer) -> EndpointError {
        let body = excerpt(&self.key.redact(&answer.text));
        let kind = match answer.status.as_u16() {
            401 | 403 => EndpointErrorKind::Unauthorized,
            404 => EndpointErrorKind::NotFound { body },
            429 => EndpointErrorKind::RateLimited {
                retry_after: answer.retry_after,
                body,
            },
            status @ 500..=599 => EndpointErrorKind::Server { status, body },
            status => EndpointErrorKind::Rejected { status, body },
        };
        self.error(job_id, kind)
    }

    /// A 2xx answer's JSON body as `T`; any other answer as its error.
    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        job_id: Option<&str>,
        answer: &Answer,
    ) -> Result<T, EndpointError> {
        if !answer.status.is_success() {
            return Err(self.refusal(job_id, answer));
        }
        serde_json::from_str(&answer.text).map_err(|error| {
            self.error(
                job_id,
                EndpointErrorKind::Malformed(format!(
                    "{error}: {}",
                    excerpt(&self.key.redact(&answer.text))
                )),
            )
        })
    }
}

impl Connection {
    /// The endpoint of a streaming `#[remote]` call's route, to read its job's stream through:
    /// the route's URL and dispatcher names, the process's peer client and its settings.
    pub(crate) fn for_route(
        route: &crate::registry::RemoteRoute,
        key: ApiKey,
        peer: &crate::call::http::Peer,
    ) -> Self {
        Self {
            name: route.endpoint_url.to_string(),
            base: route.endpoint_url.trim_end_matches('/').to_owned(),
            key,
            headers: route
                .dispatch_headers()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name, value.to_owned()))
                .collect(),
            http: peer.http.clone(),
            settings: Settings {
                request_timeout: peer.config.request_timeout,
                poll_initial: peer.config.poll_initial,
                poll_max: peer.config.poll_max,
                runsync_wait: peer.config.runsync_wait,
                retries: peer.config.poll_error_budget,
                // A job read by name rides out the dispatcher's 404s, as a client's does.
                not_found: if route.dispatch_headers().is_some() {
                    NotFoundRetry::DISPATCHER
                } else {
                    NotFoundRetry::ONCE
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dispatcher_404_pauses_are_runpod_2s() {
        // runpod/apps/targets.py: 7 tries, `RETRY_BASE_DELAY * 2 ** (attempt - 1)` before each
        // try after the first.
        let pauses: Vec<_> = (1..=7)
            .map_while(|failed| NotFoundRetry::DISPATCHER.pause(failed))
            .map(|pause| pause.as_secs_f64())
            .collect();
        assert_eq!(pauses, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]);
        assert_eq!(NotFoundRetry::ONCE.pause(1), None);
        assert_eq!(Settings::default().not_found, NotFoundRetry::ONCE);
    }
}
