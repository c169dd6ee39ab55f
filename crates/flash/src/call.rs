//! What a `#[remote]` call does, and what the generated code builds on.
//!
//! The stub asks the process's [`ServiceRegistry`](crate::registry::ServiceRegistry) where the
//! function runs. Locally, it calls the body directly: no serialization, no lock, no allocation
//! (after the first call, the decision is a cached atomic compare). On a peer, it sends the
//! arguments as a JSON object keyed by parameter name:
//!
//! - queue endpoints: `POST {url}/runsync` with `{"input": {...}}`, then `GET {url}/status/{id}`
//!   with capped, jittered backoff while the job runs, `POST {url}/cancel/{id}` when the caller
//!   gives up (its deadline, or [`PeerConfig::call_timeout`] without one, passed, or its future
//!   was dropped);
//! - load-balanced endpoints: `{METHOD} {url}{path}` with `{param}` segments filled in, the other
//!   arguments as a JSON body (as a query string for GET).
//!
//! Reserved input keys ([`reserved`]) carry the function's name when a queue resource serves
//! several, the W3C trace context and the remaining deadline; parameter names never start with
//! `__`. A failed function comes back as its typed error when its error type carries one
//! ([`Error<E>`]), else as a [`RemoteExecutionError`](crate::error::RemoteExecutionError) naming
//! function, endpoint, job, error type and message.

pub(crate) mod args;
mod context;
pub(crate) mod dispatch;
pub(crate) mod errors;
pub(crate) mod function;
mod global;
pub(crate) mod http;
pub(crate) mod otlp;
mod sse;
pub(crate) mod streaming;
pub(crate) mod stub;
pub(crate) mod transport;

pub use args::{ArgumentError, reserved};
pub(crate) use context::scoped_stream;
pub use context::{CallContext, TraceParent, current, remaining, with_context, with_deadline};
pub use errors::{Error, RemoteError, RemoteResult, WireError};
pub use function::{
    BoxStream, FunctionMeta, HttpRoute, InvokeError, RemoteFunction, SourceLocation,
    StreamingFunction, UnaryFunction, ValueStream, function, functions,
};
pub use global::{registry, set_registry};
pub use http::{PeerConfig, configure};
pub use streaming::RemoteStream;
