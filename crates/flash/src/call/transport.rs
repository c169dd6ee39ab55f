//! Peer calls over HTTP: Runpod's queue API and plain load-balanced routes.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::time::Instant;
use tracing::Instrument;

use super::args::reserved;
use super::context::{self, TraceParent};
use super::errors::WireError;
use super::http::Peer;
use crate::client::NotFoundRetry;
use crate::config;
use crate::error::{Direction, FlashError, RemoteExecutionError, SerializationError};
use crate::registry::{HttpMethod, RemoteKind, RemoteRoute};

/// What a peer answered.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The function's return value.
    Output(Value),
    /// The function failed; the worker's report.
    Failed {
        wire: WireError,
        job_id: Option<String>,
    },
}

/// Calls `function` on the peer of `route` with `args` keyed by parameter name.
pub(crate) async fn call(
    peer: &Peer,
    route: &RemoteRoute,
    function: &'static str,
    args: Map<String, Value>,
) -> Result<Outcome, FlashError> {
    let parent = context::current();
    let call = Call::new(peer, route, function);
    let trace = call.trace;
    let span = tracing::info_span!(
        "flash.remote_call",
        function,
        resource = %route.resource,
        endpoint = %route.endpoint_url,
        trace_id = %format_args!("{:032x}", trace.trace_id),
        job_id = tracing::field::Empty,
        delay_time_ms = tracing::field::Empty,
        execution_time_ms = tracing::field::Empty,
    );
    let exported = super::otlp::Span::start(
        super::otlp::Kind::Client,
        &trace,
        parent.and_then(|c| c.trace).map(|t| t.span_id),
        function,
        &route.resource,
    );
    let outcome = async move {
        match &route.kind {
            RemoteKind::Queue { discriminate } => call.queue(args, *discriminate).await,
            RemoteKind::LoadBalanced { method, path } => {
                call.load_balanced(args, *method, path).await
            }
        }
    }
    .instrument(span)
    .await;
    if let Some(exported) = exported {
        let error = match &outcome {
            Ok(Outcome::Output(_)) => None,
            Ok(Outcome::Failed { wire, .. }) => Some(wire.error_message.clone()),
            Err(error) => Some(error.to_string()),
        };
        exported.end(error.as_deref()).await;
    }
    outcome
}

struct Call<'a> {
    peer: &'a Peer,
    route: &'a RemoteRoute,
    function: &'static str,
    trace: TraceParent,
    /// The caller's deadline, which travels with the call.
    deadline: Option<Instant>,
    /// When the caller gives up on a queue job: its deadline, else
    /// [`PeerConfig::call_timeout`](super::PeerConfig::call_timeout) from the start of the call.
    give_up_at: Instant,
}

/// A Runpod job status object.
#[derive(Debug, Deserialize)]
struct JobStatus {
    id: Option<String>,
    status: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(rename = "delayTime", default)]
    delay_time: Option<u64>,
    #[serde(rename = "executionTime", default)]
    execution_time: Option<u64>,
}

/// Posts `/cancel/{id}` if dropped while armed: the caller gave up (dropped the future or ran
/// out of time), so the job should stop using a worker.
pub(crate) struct CancelOnDrop {
    request: Option<reqwest::RequestBuilder>,
}

impl CancelOnDrop {
    /// Armed: dropping it sends `request`.
    pub(crate) fn new(request: reqwest::RequestBuilder) -> Self {
        Self {
            request: Some(request),
        }
    }

    pub(crate) fn disarm(&mut self) {
        self.request = None;
    }

    /// Sends the cancel now and waits for its answer. A drop can only send it in the
    /// background, which a program about to exit may not give time to: where the caller is
    /// still there (its deadline passed, it asked to cancel), this is the way.
    pub(crate) async fn send(mut self) {
        if let Some(request) = self.request.take() {
            cancel(request).await;
        }
    }
}

async fn cancel(request: reqwest::RequestBuilder) {
    if let Err(error) = request.send().await {
        tracing::warn!("cancelling an abandoned job failed: {error}");
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let (Some(request), Ok(runtime)) =
            (self.request.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(cancel(request));
        }
    }
}

/// How a streaming call started.
pub(crate) enum Started {
    /// A queue job was queued with `/run`: its items come from `/stream/{id}`.
    Job {
        id: String,
        /// Cancels the job if the caller drops the stream before it ends.
        cancel: CancelOnDrop,
        /// When the caller gives up (its deadline, else the call timeout).
        give_up_at: Instant,
    },
    /// A load-balanced route answered 2xx: its body is the event stream.
    Events {
        response: reqwest::Response,
        give_up_at: Instant,
    },
    /// A load-balanced route refused the call with the function's error (bad arguments, say).
    Failed(WireError),
}

/// Starts a streaming call of `function` on the peer of `route`: queues the job (queue
/// endpoints) or opens the event stream (load-balanced ones). Nothing is repeated: a repeat
/// could start the work twice.
pub(crate) async fn start_stream(
    peer: &Peer,
    route: &RemoteRoute,
    function: &'static str,
    args: Map<String, Value>,
) -> Result<Started, FlashError> {
    let call = Call::new(peer, route, function);
    match &route.kind {
        RemoteKind::Queue { discriminate } => {
            let body = call.queue_body(args, *discriminate)?;
            let request = call
                .authorized(call.peer.http.post(call.url("run")))
                .header("content-type", "application/json")
                .timeout(call.peer.config.request_timeout)
                .body(body);
            let status = call.job_request(request, None).await?;
            let Some(id) = status.id else {
                return Err(call.failure(
                    None,
                    format!("/run answered {} without a job id", status.status),
                ));
            };
            tracing::debug!(function, job_id = %id, "streaming job queued");
            let cancel = CancelOnDrop::new(
                call.authorized(call.peer.http.post(call.url(&format!("cancel/{id}"))))
                    .timeout(call.peer.config.request_timeout),
            );
            Ok(Started::Job {
                id,
                cancel,
                give_up_at: call.give_up_at,
            })
        }
        RemoteKind::LoadBalanced { method, path } => {
            let (request, _) = call.load_balanced_request(args, *method, path)?;
            // No total timeout: a stream runs as long as it produces, within the caller's
            // deadline, which the reader enforces between items.
            let request = call
                .authorized(request)
                .header("accept", flash_contract::http::sse::CONTENT_TYPE);
            let response = tokio::time::timeout_at(call.give_up_at, request.send())
                .await
                .map_err(|_| call.timed_out(None))?
                .map_err(|error| call.failure(None, describe(&error)))?;
            let code = response.status();
            if code.is_success() {
                return Ok(Started::Events {
                    response,
                    give_up_at: call.give_up_at,
                });
            }
            let text = response
                .text()
                .await
                .map_err(|error| call.failure(None, describe(&error)))?;
            match serde_json::from_str::<WireError>(&text) {
                Ok(wire) => Ok(Started::Failed(wire)),
                Err(_) => Err(call.failure(None, http_failure(code, &text))),
            }
        }
    }
}

impl<'a> Call<'a> {
    /// A call made now, under the current task's deadline and trace.
    fn new(peer: &'a Peer, route: &'a RemoteRoute, function: &'static str) -> Self {
        let parent = context::current();
        let trace = parent
            .and_then(|c| c.trace)
            .map_or_else(TraceParent::new_root, |t| t.child());
        let deadline = parent.and_then(|c| c.deadline);
        Self {
            peer,
            route,
            function,
            trace,
            deadline,
            give_up_at: deadline.unwrap_or_else(|| Instant::now() + peer.config.call_timeout),
        }
    }
}

impl Call<'_> {
    fn endpoint(&self) -> &str {
        &self.route.endpoint_url
    }

    fn failure(&self, job_id: Option<&str>, message: impl Into<String>) -> FlashError {
        RemoteExecutionError {
            function: self.function.to_owned(),
            endpoint: self.endpoint().to_owned(),
            job_id: job_id.map(str::to_owned),
            error_type: None,
            message: message.into(),
        }
        .into()
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Time left before the caller gives up on a queue job.
    fn patience(&self) -> Duration {
        self.give_up_at.saturating_duration_since(Instant::now())
    }

    /// Every request of a call starts here: the trace, the Flash dispatcher's names when the
    /// peer is called by name, the key.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = request.header("traceparent", self.trace.to_string());
        for (name, value) in self.route.dispatch_headers().into_iter().flatten() {
            request = request.header(name, value);
        }
        match &self.peer.config.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    /// Serializes `body`, refusing payloads over the limit before anything is sent.
    fn encode(&self, body: &Value) -> Result<Vec<u8>, FlashError> {
        let bytes = serde_json::to_vec(body).map_err(|error| SerializationError::Serde {
            function: self.function.to_owned(),
            direction: Direction::Arguments,
            message: error.to_string(),
        })?;
        if bytes.len() > config::MAX_PAYLOAD_BYTES {
            return Err(SerializationError::TooLarge {
                function: self.function.to_owned(),
                direction: Direction::Arguments,
                size: bytes.len(),
                limit: config::MAX_PAYLOAD_BYTES,
            }
            .into());
        }
        Ok(bytes)
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/{tail}", self.endpoint().trim_end_matches('/'))
    }

    fn timed_out(&self, job_id: Option<&str>) -> FlashError {
        if self.deadline.is_some() {
            return self.failure(
                job_id,
                "the call's deadline passed before the job finished; it was cancelled",
            );
        }
        self.failure(
            job_id,
            format!(
                "no result within the default call timeout of {} s (set {} or wrap the call in \
                 with_deadline); the job was cancelled",
                self.peer.config.call_timeout.as_secs_f64(),
                flash_contract::env::FLASH_CALL_TIMEOUT_SECS,
            ),
        )
    }

    /// The body of a queue call: `{"input": {...}}` with the reserved keys the worker reads.
    fn queue_body(
        &self,
        mut input: Map<String, Value>,
        discriminate: bool,
    ) -> Result<Vec<u8>, FlashError> {
        if input.is_empty() {
            input.insert(reserved::EMPTY.to_owned(), Value::Bool(true));
        }
        if discriminate {
            input.insert(reserved::FUNCTION.to_owned(), Value::from(self.function));
        }
        input.insert(
            reserved::TRACEPARENT.to_owned(),
            Value::from(self.trace.to_string()),
        );
        let remaining = self.remaining();
        if let Some(remaining) = remaining {
            if remaining.is_zero() {
                return Err(self.timed_out(None));
            }
            let ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
            input.insert(reserved::DEADLINE_MS.to_owned(), Value::from(ms));
        }
        let mut body = Map::with_capacity(1);
        body.insert("input".to_owned(), Value::Object(input));
        self.encode(&Value::Object(body))
    }

    async fn queue(
        &self,
        input: Map<String, Value>,
        discriminate: bool,
    ) -> Result<Outcome, FlashError> {
        let body = self.queue_body(input, discriminate)?;
        let wait = self.patience().min(self.peer.config.runsync_wait);
        // Runpod accepts waits of 1..=300 s.
        let wait_ms = wait.as_millis().clamp(1_000, 300_000);
        let request = self
            .authorized(
                self.peer
                    .http
                    .post(self.url(&format!("runsync?wait={wait_ms}"))),
            )
            .header("content-type", "application/json")
            .timeout(
                wait + self
                    .peer
                    .config
                    .request_timeout
                    .min(Duration::from_secs(30)),
            )
            .body(body);
        let mut status = self.job_request(request, None).await?;
        let job_id = status.id.clone();
        if let Some(id) = &job_id {
            tracing::Span::current().record("job_id", id.as_str());
        }
        let mut cancel = CancelOnDrop {
            request: job_id.as_deref().map(|id| {
                self.authorized(self.peer.http.post(self.url(&format!("cancel/{id}"))))
                    .timeout(self.peer.config.request_timeout)
            }),
        };
        let mut delay = self.peer.config.poll_initial;
        let mut errors_in_a_row = 0;
        while matches!(
            status.status.as_str(),
            "IN_QUEUE" | "IN_PROGRESS" | "RUNNING"
        ) {
            let Some(id) = job_id.as_deref() else {
                return Err(self.failure(
                    None,
                    format!("runsync answered {} without a job id", status.status),
                ));
            };
            let left = self.patience();
            if !left.is_zero() {
                tokio::time::sleep(poll_pause(delay).min(left)).await;
                delay = (delay + delay / 2).min(self.peer.config.poll_max);
            }
            let left = self.patience();
            if left.is_zero() {
                cancel.send().await;
                return Err(self.timed_out(Some(id)));
            }
            let timeout = left.min(self.peer.config.request_timeout);
            match self.status(id, timeout).await {
                Ok(next) => {
                    errors_in_a_row = 0;
                    status = next;
                }
                Err(Transient(error)) if errors_in_a_row < self.peer.config.poll_error_budget => {
                    errors_in_a_row += 1;
                    tracing::warn!(
                        job_id = id,
                        errors_in_a_row,
                        "polling a job's status failed: {error}"
                    );
                }
                Err(error) => return Err(error.into()),
            }
        }
        cancel.disarm();
        let span = tracing::Span::current();
        if let Some(ms) = status.delay_time {
            span.record("delay_time_ms", ms);
        }
        if let Some(ms) = status.execution_time {
            span.record("execution_time_ms", ms);
        }
        let job_id = job_id.as_deref();
        match status.status.as_str() {
            "COMPLETED" => {
                let output = status.output.unwrap_or(Value::Null);
                match python_error(&output) {
                    Some(wire) => Ok(Outcome::Failed {
                        wire,
                        job_id: job_id.map(str::to_owned),
                    }),
                    None => Ok(Outcome::Output(output)),
                }
            }
            "FAILED" => Ok(Outcome::Failed {
                wire: match status.error {
                    Some(Value::String(text)) => WireError::parse(&text),
                    Some(value) => serde_json::from_value(value.clone())
                        .unwrap_or_else(|_| WireError::new("Error", value.to_string())),
                    None => WireError::new("Error", "the job failed without an error message"),
                },
                job_id: job_id.map(str::to_owned),
            }),
            other => Err(self.failure(job_id, format!("the job ended {other}"))),
        }
    }

    /// `GET status/{id}`. By name, a 404 is asked again as runpod 2.0's `_wait_terminal` asks
    /// (`client::transport::NotFoundRetry`): the job may not have reached the dispatcher yet.
    async fn status(&self, id: &str, timeout: Duration) -> Result<JobStatus, PollError> {
        let retry = if self.route.dispatch_headers().is_some() {
            NotFoundRetry::DISPATCHER
        } else {
            NotFoundRetry::ONCE
        };
        let mut not_found = 0;
        loop {
            let request = self
                .authorized(self.peer.http.get(self.url(&format!("status/{id}"))))
                .timeout(timeout);
            match self.job_request(request, Some(id)).await {
                Err(NotFound(error)) => {
                    not_found += 1;
                    match retry.pause(not_found) {
                        Some(pause) if pause < self.patience() => tokio::time::sleep(pause).await,
                        _ => return Err(Fatal(error)),
                    }
                }
                answer => return answer,
            }
        }
    }

    /// Sends a runsync or status request and reads the job status object.
    async fn job_request(
        &self,
        request: reqwest::RequestBuilder,
        job_id: Option<&str>,
    ) -> Result<JobStatus, PollError> {
        let response = request
            .send()
            .await
            .map_err(|error| Transient(self.failure(job_id, describe(&error))))?;
        let code = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| Transient(self.failure(job_id, describe(&error))))?;
        if !code.is_success() {
            let error = self.failure(job_id, http_failure(code, &text));
            return Err(
                if code.is_server_error() || code == StatusCode::TOO_MANY_REQUESTS {
                    Transient(error)
                } else if code == StatusCode::NOT_FOUND {
                    NotFound(error)
                } else {
                    Fatal(error)
                },
            );
        }
        serde_json::from_str(&text).map_err(|error| {
            Fatal(self.failure(
                job_id,
                format!("malformed response ({error}): {}", excerpt(&text)),
            ))
        })
    }

    /// A load-balanced call's request: `{param}` segments filled in, the other arguments as a
    /// query (GET) or a JSON body, the deadline header; and its timeout.
    fn load_balanced_request(
        &self,
        mut args: Map<String, Value>,
        method: HttpMethod,
        path: &str,
    ) -> Result<(reqwest::RequestBuilder, Duration), FlashError> {
        let mut url = Url::parse(self.endpoint())
            .map_err(|error| self.failure(None, format!("invalid endpoint URL: {error}")))?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| self.failure(None, "endpoint URL cannot take a path"))?;
            segments.pop_if_empty();
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(param) => {
                        let value = args.remove(param).unwrap_or(Value::Null);
                        segments.push(&plain_text(&value));
                    }
                    None => {
                        segments.push(segment);
                    }
                }
            }
        }
        let method = match method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
        };
        let mut request;
        if method == Method::GET {
            if !args.is_empty() {
                let mut query = url.query_pairs_mut();
                for (name, value) in &args {
                    query.append_pair(name, &plain_text(value));
                }
            }
            let length = url.as_str().len();
            if length > config::MAX_PAYLOAD_BYTES {
                return Err(SerializationError::TooLarge {
                    function: self.function.to_owned(),
                    direction: Direction::Arguments,
                    size: length,
                    limit: config::MAX_PAYLOAD_BYTES,
                }
                .into());
            }
            request = self.peer.http.request(method, url);
        } else {
            let body = self.encode(&Value::Object(args))?;
            request = self
                .peer
                .http
                .request(method, url)
                .header("content-type", "application/json")
                .body(body);
        }
        let timeout = match self.remaining() {
            Some(left) if left.is_zero() => return Err(self.timed_out(None)),
            Some(left) => {
                let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
                request = request.header(config::DEADLINE_HEADER, ms);
                left.min(self.peer.config.request_timeout)
            }
            None => self.peer.config.request_timeout,
        };
        Ok((request, timeout))
    }

    async fn load_balanced(
        &self,
        args: Map<String, Value>,
        method: HttpMethod,
        path: &str,
    ) -> Result<Outcome, FlashError> {
        let (request, timeout) = self.load_balanced_request(args, method, path)?;
        let response = self
            .authorized(request)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| self.failure(None, describe(&error)))?;
        let code = response.status();
        let text = response
            .text()
            .await
            .map_err(|error| self.failure(None, describe(&error)))?;
        if code.is_success() {
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|error| {
                    self.failure(
                        None,
                        format!("malformed response ({error}): {}", excerpt(&text)),
                    )
                })?
            };
            return Ok(Outcome::Output(value));
        }
        match serde_json::from_str::<WireError>(&text) {
            Ok(wire) => Ok(Outcome::Failed { wire, job_id: None }),
            Err(_) => Err(self.failure(None, http_failure(code, &text))),
        }
    }
}

/// The pause before the next status poll: `delay`, jittered by [`config::POLL_JITTER`] so that
/// callers polling together spread out.
fn poll_pause(delay: Duration) -> Duration {
    crate::backoff::jittered(delay, config::POLL_JITTER)
}

enum PollError {
    /// Worth another poll: a network error, a 5xx or a 429.
    Transient(FlashError),
    /// A 404: worth another poll only by name ([`Call::status`]).
    NotFound(FlashError),
    /// Not worth another poll.
    Fatal(FlashError),
}
use PollError::{Fatal, NotFound, Transient};

impl From<PollError> for FlashError {
    fn from(error: PollError) -> Self {
        match error {
            Transient(error) | NotFound(error) | Fatal(error) => error,
        }
    }
}

/// Python Flash workers report exceptions as a successful output `{"error": ..., "traceback":
/// ...}` (and sync ones add `"success": false`). Read that as the failure it is.
fn python_error(output: &Value) -> Option<WireError> {
    let object = output.as_object()?;
    let message = object.get("error")?.as_str()?;
    let python_shape =
        object.contains_key("traceback") || object.get("success") == Some(&Value::Bool(false));
    python_shape.then(|| WireError::new("PythonError", message))
}

/// A value as it goes into a URL: strings bare, everything else as JSON text.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn http_failure(code: StatusCode, body: &str) -> String {
    let what = match code {
        StatusCode::NOT_FOUND => " (endpoint or job not found: is it deployed?)",
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => " (check RUNPOD_API_KEY)",
        _ => "",
    };
    format!("HTTP {}{what}: {}", code.as_u16(), excerpt(body))
}

pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A reqwest error with its causes, without the URL (which the error message already names).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut message = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_error_outputs_are_failures_but_user_dicts_are_not() {
        let wire = python_error(&json!({"error": "boom", "traceback": "..."})).unwrap();
        assert_eq!(wire.error_message, "boom");
        assert!(python_error(&json!({"success": false, "error": "bad"})).is_some());
        assert!(python_error(&json!({"error": "a field of the user's result"})).is_none());
        assert!(python_error(&json!([1, 2])).is_none());
    }

    #[test]
    fn status_poll_pauses_are_jittered_by_twenty_percent() {
        let delay = Duration::from_secs(5);
        let pauses: Vec<Duration> = (0..100).map(|_| poll_pause(delay)).collect();
        assert!(
            pauses
                .iter()
                .all(|p| (Duration::from_secs(4)..=Duration::from_secs(6)).contains(p)),
            "{pauses:?}"
        );
        assert!(
            pauses.iter().any(|p| *p != delay),
            "100 pauses were all exactly {delay:?}: the polls are not jittered"
        );
    }

    #[test]
    fn url_values_are_bare_strings_or_json() {
        assert_eq!(plain_text(&json!("a b")), "a b");
        assert_eq!(plain_text(&json!(3)), "3");
        assert_eq!(plain_text(&json!([1, 2])), "[1,2]");
    }
}
