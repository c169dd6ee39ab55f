//! A typed client of any Runpod endpoint: queue endpoints by id ([`QueueEndpoint`]: run,
//! runsync, status, wait, stream, cancel, retry, health, purge) and load-balanced ones
//! ([`LoadBalancedEndpoint`]: get/post/put/patch/delete).
//!
//! Inputs are any `Serialize`, outputs any `DeserializeOwned` (`serde_json::Value` works for
//! both). Every failure is an [`EndpointError`] naming the endpoint and job, with a
//! [`kind`](EndpointError::kind) per case: the job `FAILED` (with the worker's error),
//! `CANCELLED`, `TIMED_OUT`, the caller's deadline, HTTP 401, 404, 429, 5xx. Reads and cancels are
//! retried on transport errors, 429 and 5xx; `/run`, `/runsync`, `/retry` and load-balanced writes
//! never are. By name, job requests (`/retry` too) are also asked again on 404, as runpod 2.0's
//! are ([`QueueEndpointBuilder::not_found_retry`]). The API key travels only in the `Authorization` header: it is not in any `Debug`
//! output or error. The guide is docs/client.md.

mod error;
mod job;
mod load_balanced;
mod options;
mod queue;
mod status;
pub(crate) mod transport;

pub use error::{EndpointError, EndpointErrorKind};
pub use job::{Job, JobStream};
pub use load_balanced::LoadBalancedEndpoint;
pub(crate) use load_balanced::dispatcher_url;
pub use options::{Policy, RunOptions};
pub use queue::{Health, JobCounts, QueueEndpoint, QueueEndpointBuilder};
pub use status::{JobState, JobStatus};
pub(crate) use transport::{NotFoundRetry, sendable_name};
