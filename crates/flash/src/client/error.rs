//! What can go wrong calling an endpoint, each case its own variant naming the endpoint (and the
//! job, when there is one).

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::call::WireError;

/// A call to a Runpod endpoint failed.
///
/// [`kind`](Self::kind) says how; the message names the endpoint and the job. It never holds the
/// API key: server bodies are redacted before they are kept.
#[derive(Debug, Clone, thiserror::Error)]
#[error("endpoint {}{}: {}", .0.endpoint, .0.job_id.as_deref().map(|j| format!(", job {j}")).unwrap_or_default(), .0.kind)]
pub struct EndpointError(Box<Details>);

/// Boxed so that `Result<_, EndpointError>` and [`FlashError`](crate::FlashError) stay small.
#[derive(Debug, Clone)]
struct Details {
    endpoint: String,
    job_id: Option<String>,
    kind: EndpointErrorKind,
}

/// How a call to an endpoint failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EndpointErrorKind {
    /// The job ended `FAILED`; the worker's error (a Flash or runpod SDK worker reports a JSON
    /// object, other workers plain text, kept as the message).
    Failed(WireError),
    /// The job was cancelled.
    Cancelled,
    /// The job ran past its execution timeout (`TIMED_OUT`).
    TimedOut {
        /// What the platform said, if anything.
        message: Option<String>,
    },
    /// The caller's deadline passed before the job finished.
    Deadline {
        /// How long the caller waited.
        waited: Duration,
    },
    /// HTTP 401/403: the API key is missing, wrong, or not allowed on this endpoint.
    Unauthorized,
    /// HTTP 404: no such endpoint, or no such job (never existed, expired, or its result's
    /// retention window passed).
    NotFound {
        /// The server's answer (an excerpt).
        body: String,
    },
    /// HTTP 429: rate limited, or the endpoint's queue is full.
    RateLimited {
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// The server's answer (an excerpt).
        body: String,
    },
    /// HTTP 5xx.
    Server {
        /// The status code.
        status: u16,
        /// The server's answer (an excerpt).
        body: String,
    },
    /// Another HTTP 4xx: the platform refused the request (a bad body, a job that cannot be
    /// retried, ...).
    Rejected {
        /// The status code.
        status: u16,
        /// The server's answer (an excerpt).
        body: String,
    },
    /// The request could not be sent or its answer not read (connect, timeout, reset).
    Transport(String),
    /// The server answered 2xx with a body that is not what the API promises.
    Malformed(String),
    /// The request was not sent: an input or option is invalid (the message names it).
    InvalidRequest(String),
    /// The job's output (or a streamed chunk, or a progress value) does not decode as the type
    /// asked for.
    Decode(String),
}

impl fmt::Display for EndpointErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(wire) => write!(
                f,
                "the job FAILED with {}: {}",
                wire.error_type, wire.error_message
            ),
            Self::Cancelled => f.write_str("the job was CANCELLED"),
            Self::TimedOut { message: None } => f.write_str("the job TIMED_OUT"),
            Self::TimedOut {
                message: Some(message),
            } => write!(f, "the job TIMED_OUT: {message}"),
            Self::Deadline { waited } => write!(
                f,
                "no result within the caller's deadline of {:.3} s",
                waited.as_secs_f64()
            ),
            Self::Unauthorized => {
                f.write_str("HTTP 401 Unauthorized: check the API key (RUNPOD_API_KEY)")
            }
            Self::NotFound { body } => write!(
                f,
                "HTTP 404 Not Found (no such endpoint, or the job is unknown or expired): {body}"
            ),
            Self::RateLimited { retry_after, body } => {
                write!(f, "HTTP 429 Too Many Requests")?;
                if let Some(after) = retry_after {
                    write!(f, " (retry after {} s)", after.as_secs())?;
                }
                write!(f, ": {body}")
            }
            Self::Server { status, body } => write!(f, "HTTP {status} server error: {body}"),
            Self::Rejected { status, body } => write!(f, "HTTP {status}: {body}"),
            Self::Transport(message) => write!(f, "request failed: {message}"),
            Self::Malformed(message) => write!(f, "malformed answer: {message}"),
            Self::InvalidRequest(message) => write!(f, "invalid request: {message}"),
            Self::Decode(message) => write!(f, "cannot decode: {message}"),
        }
    }
}

impl EndpointError {
    pub(crate) fn new(
        endpoint: impl Into<String>,
        job_id: Option<&str>,
        kind: EndpointErrorKind,
    ) -> Self {
        Self(Box::new(Details {
            endpoint: endpoint.into(),
            job_id: job_id.map(str::to_owned),
            kind,
        }))
    }

    /// The endpoint (its id, or the URL of a load-balanced endpoint).
    pub fn endpoint(&self) -> &str {
        &self.0.endpoint
    }

    /// The job, when the call was about one.
    pub fn job_id(&self) -> Option<&str> {
        self.0.job_id.as_deref()
    }

    /// How the call failed.
    pub fn kind(&self) -> &EndpointErrorKind {
        &self.0.kind
    }

    /// The worker's typed application error (a Rust Flash function's `Err(e)`, carried as
    /// `app_error`), when the job failed with one of type `E`.
    pub fn app_error<E: DeserializeOwned>(&self) -> Option<E> {
        match &self.0.kind {
            EndpointErrorKind::Failed(wire) => serde_json::from_value(wire.app_error.clone()?).ok(),
            _ => None,
        }
    }

    /// Whether the same request may succeed later (transport errors, 429 and 5xx).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.0.kind,
            EndpointErrorKind::Transport(_)
                | EndpointErrorKind::RateLimited { .. }
                | EndpointErrorKind::Server { .. }
        )
    }
}
