//! One error hierarchy for the runtime.
//!
//! [`FlashError`] is what public entry points return. Each variant wraps a narrower error that
//! names what it is about (file, JSON path, function, resource, endpoint, job or GraphQL
//! operation), so a caller can match on the kind it cares about and print the rest. None of them
//! ever holds the API key (see [`crate::ApiKey`]).

use std::fmt;
use std::path::PathBuf;

/// Any error the Flash runtime reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlashError {
    /// The manifest could not be read, parsed or validated.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A remote call needs an endpoint URL, none is cached and the State Manager cannot give one.
    #[error(transparent)]
    ManifestServiceUnavailable(#[from] ManifestServiceUnavailable),
    /// A State Manager request failed.
    #[error(transparent)]
    StateManager(#[from] StateManagerError),
    /// A function could not be routed.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// The remote endpoint ran the function and reported a failure, or could not be reached.
    #[error(transparent)]
    RemoteExecution(#[from] RemoteExecutionError),
    /// Arguments or a result could not be encoded or decoded.
    #[error(transparent)]
    Serialization(#[from] SerializationError),
    /// A function's worker state could not be built.
    #[error(transparent)]
    WorkerState(#[from] WorkerStateError),
}

/// A [`WorkerState`](crate::WorkerState) failed to initialize.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot initialize worker state `{state}`: {message}")]
pub struct WorkerStateError {
    /// The state type.
    pub state: &'static str,
    /// What its `init` said.
    pub message: String,
}

/// Where a manifest came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ManifestOrigin {
    /// A file on disk.
    File(PathBuf),
    /// The `manifest` field of a Flash build held by the State Manager.
    StateManager {
        /// The build's id.
        build_id: String,
    },
    /// Text given in code (tests, `Manifest::from_json_str`).
    #[default]
    Inline,
}

impl fmt::Display for ManifestOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::StateManager { build_id } => write!(f, "<State Manager build {build_id}>"),
            Self::Inline => f.write_str("<inline manifest>"),
        }
    }
}

/// The manifest could not be read, parsed, validated or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {origin}: {source}")]
    Read {
        /// Which manifest.
        origin: ManifestOrigin,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write manifest {origin}: {source}")]
    Write {
        /// Which manifest.
        origin: ManifestOrigin,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON, or does not have the manifest's shape.
    #[error("manifest {origin} is malformed at line {line}, column {column}: {message}")]
    Parse {
        /// Which manifest.
        origin: ManifestOrigin,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// The manifest parsed but breaks one or more rules. Every problem found is listed.
    #[error("manifest {origin} is invalid ({} problem{}):{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, ProblemList(problems))]
    Invalid {
        /// Which manifest.
        origin: ManifestOrigin,
        /// Every problem, in document order.
        problems: Vec<ManifestProblem>,
    },
}

impl ManifestError {
    /// Which manifest this error is about.
    pub fn origin(&self) -> &ManifestOrigin {
        match self {
            Self::Read { origin, .. }
            | Self::Write { origin, .. }
            | Self::Parse { origin, .. }
            | Self::Invalid { origin, .. } => origin,
        }
    }
}

struct ProblemList<'a>(&'a [ManifestProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// One broken rule in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestProblem {
    /// JSON path of the offending value, like `$.resources.gpu.functions[0].http_path`.
    pub json_path: String,
    /// Which rule.
    pub rule: ManifestRule,
    /// A sentence naming the function, resource, method or path involved.
    pub message: String,
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.json_path, self.message)
    }
}

/// The manifest rules, one per kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManifestRule {
    /// `function_registry` names a resource that `resources` does not define.
    RegistryUnknownResource,
    /// A function listed under a resource is missing from `function_registry`, or is registered
    /// to a different resource.
    FunctionNotInRegistry,
    /// `function_registry` names a function its resource does not list.
    RegistryFunctionNotInResource,
    /// One function name appears in two resources (or twice in one).
    DuplicateFunction,
    /// A load-balanced function without `http_method` or `http_path`.
    MissingRoute,
    /// Two functions of one resource share `METHOD path`.
    DuplicateRoute,
    /// A function claims `/execute` or `/ping`.
    ReservedPath,
    /// `http_method` is not one of GET, POST, PUT, PATCH, DELETE.
    InvalidMethod,
    /// `http_path` does not start with `/` or is otherwise not a path.
    InvalidPath,
    /// The `routes` table disagrees with the functions' methods and paths.
    RoutesMismatch,
    /// `resources_endpoints` names a resource that `resources` does not define, or a URL that is
    /// not http(s).
    InvalidEndpoint,
}

/// A remote call needs an endpoint URL, none is cached, and the State Manager cannot provide one.
///
/// The registry never falls back to running another resource's function locally: that would
/// silently run code on the wrong hardware.
#[derive(Debug, thiserror::Error)]
#[error("cannot route `{function}` to resource `{resource}`: endpoint URLs are unavailable{}: {reason}", environment_id.as_deref().map(|e| format!(" for Flash environment `{e}`")).unwrap_or_default())]
pub struct ManifestServiceUnavailable {
    /// The function being called.
    pub function: String,
    /// The resource that owns it.
    pub resource: String,
    /// The Flash environment whose endpoints were looked up, if known.
    pub environment_id: Option<String>,
    /// Why no URL could be had.
    pub reason: String,
}

/// A State Manager (Runpod GraphQL) request failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StateManagerError {
    /// No API key is configured.
    #[error("State Manager `{operation}`: no API key; set RUNPOD_API_KEY")]
    MissingApiKey {
        /// GraphQL operation name.
        operation: &'static str,
    },
    /// The request did not complete (connection refused, reset, timed out).
    #[error("State Manager `{operation}` at {url}: {message}")]
    Transport {
        /// GraphQL operation name.
        operation: &'static str,
        /// The GraphQL URL.
        url: String,
        /// What went wrong.
        message: String,
        /// Whether the request timed out.
        timed_out: bool,
    },
    /// The server answered with a non-success HTTP status.
    #[error("State Manager `{operation}` at {url}: HTTP {status}: {body}")]
    Http {
        /// GraphQL operation name.
        operation: &'static str,
        /// The GraphQL URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The start of the response body, with any echoed key redacted.
        body: String,
    },
    /// The response carried GraphQL `errors`.
    #[error("State Manager `{operation}` failed: {}", messages.join("; "))]
    GraphQl {
        /// GraphQL operation name.
        operation: &'static str,
        /// Every error message, in order.
        messages: Vec<String>,
    },
    /// The response could not be decoded.
    #[error("State Manager `{operation}` returned an unreadable response: {message}")]
    Decode {
        /// GraphQL operation name.
        operation: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// The response was well formed but lacks something required.
    #[error("State Manager `{operation}`: {what}")]
    Missing {
        /// GraphQL operation name.
        operation: &'static str,
        /// What is missing, naming the environment or build.
        what: String,
    },
}

impl StateManagerError {
    /// The GraphQL operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::MissingApiKey { operation }
            | Self::Transport { operation, .. }
            | Self::Http { operation, .. }
            | Self::GraphQl { operation, .. }
            | Self::Decode { operation, .. }
            | Self::Missing { operation, .. } => operation,
        }
    }
}

/// A function could not be routed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingError {
    /// Strict routing is on and the function is not in the manifest's `function_registry`.
    #[error(
        "function `{function}` is not in the manifest's function_registry (strict routing is on)"
    )]
    UnknownFunction {
        /// The function.
        function: String,
    },
    /// The State Manager's endpoint map has no URL for the owning resource.
    #[error(
        "function `{function}` belongs to resource `{resource}`, which has no endpoint URL in the State Manager's resources_endpoints (is it deployed?)"
    )]
    NoEndpoint {
        /// The function.
        function: String,
        /// Its resource.
        resource: String,
    },
    /// The process's registry could not be built (its manifest is unreadable or invalid).
    #[error("cannot route calls: {reason}")]
    Unavailable {
        /// Why, naming the manifest file and its problems.
        reason: String,
    },
    /// A remote call needs `FLASH_ENVIRONMENT_ID` to look up endpoint URLs and it is not set.
    #[error(
        "function `{function}` belongs to resource `{resource}`, but FLASH_ENVIRONMENT_ID is not set, so its endpoint URL cannot be looked up"
    )]
    NoEnvironment {
        /// The function.
        function: String,
        /// Its resource.
        resource: String,
    },
}

/// The remote endpoint failed to run the function, or could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[error("remote call to `{function}` on {endpoint}{} failed{}: {message}", job_id.as_deref().map(|j| format!(" (job {j})")).unwrap_or_default(), error_type.as_deref().map(|t| format!(" with {t}")).unwrap_or_default())]
pub struct RemoteExecutionError {
    /// The function called.
    pub function: String,
    /// The endpoint URL called.
    pub endpoint: String,
    /// The queue job id, when there was one.
    pub job_id: Option<String>,
    /// The remote error's type, when it reported one.
    pub error_type: Option<String>,
    /// The remote error message, or what went wrong on the way.
    pub message: String,
}

/// Which way a value was being converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Encoding the arguments of a call.
    Arguments,
    /// Decoding the result of a call.
    Result,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Arguments => "arguments",
            Self::Result => "result",
        })
    }
}

/// Arguments or a result could not be converted, or are too large to send.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SerializationError {
    /// serde failed.
    #[error("cannot convert the {direction} of `{function}`: {message}")]
    Serde {
        /// The function.
        function: String,
        /// Arguments or result.
        direction: Direction,
        /// What serde said.
        message: String,
    },
    /// The encoded payload is over the limit; nothing was sent.
    #[error(
        "the {direction} of `{function}` encode to {size} bytes, over the {limit}-byte payload limit; nothing was sent"
    )]
    TooLarge {
        /// The function.
        function: String,
        /// Arguments or result.
        direction: Direction,
        /// Encoded size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
}
