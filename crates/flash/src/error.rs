//! One error hierarchy for the runtime.
//!
//! [`FlashError`] is what public entry points return. Each variant wraps a narrower error that
//! names what it is about (file, JSON path, function, resource, endpoint, job or GraphQL
//! operation), so a caller can match on the kind it cares about and print the rest. None of them
//! ever holds the API key (see [`crate::ApiKey`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Any error the Flash runtime reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlashError {
    /// The manifest could not be read, parsed or validated.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A State Manager request failed.
    #[error(transparent)]
    StateManager(#[from] StateManagerError),
    /// A call could not be routed: no endpoint URL can be had for it, or the process's manifest
    /// is broken. [`RoutingError::kind`] says which.
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
    /// A call through [`client`](crate::client) to an endpoint failed.
    #[error(transparent)]
    Endpoint(#[from] crate::client::EndpointError),
}

/// A [`WorkerState`](crate::WorkerState) failed to initialize.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot initialize worker state `{state}`: {message}")]
#[non_exhaustive]
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
#[non_exhaustive]
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
        /// The error and its causes, one line, with any echoed key redacted.
        message: String,
        /// Whether the request timed out.
        timed_out: bool,
        /// The HTTP client's error.
        #[source]
        source: Arc<reqwest::Error>,
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
        /// What is wrong with it, naming the build or field.
        message: String,
        /// The JSON decoder's error, when it was one.
        #[source]
        source: Option<Arc<serde_json::Error>>,
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
    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                timed_out: true,
                ..
            }
        )
    }

    /// The HTTP status the server answered with, for [`StateManagerError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: the request did not complete, or the server
    /// answered 5xx or 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

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

/// A call could not be routed. Every way routing fails is one [`RoutingErrorKind`]; the
/// typed cause (the State Manager's error, the manifest's) is the [`source`](std::error::Error::source).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoutingError {
    function: String,
    resource: Option<String>,
    environment_id: Option<String>,
    kind: RoutingErrorKind,
}

/// Why a call could not be routed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RoutingErrorKind {
    /// Strict routing is on and the function is not in the manifest's `function_registry`.
    UnknownFunction,
    /// The State Manager's endpoint map has no URL for the owning resource (not deployed yet?).
    NoEndpoint,
    /// A remote call needs `FLASH_ENVIRONMENT_ID` to look up endpoint URLs and it is not set.
    NoEnvironment,
    /// The manifest says this resource makes no remote calls, so it never looks URLs up.
    RemoteCallsDisabled {
        /// This process's resource.
        resource: String,
    },
    /// No State Manager client could be made (no API key, or the HTTP client failed).
    NoStateManager {
        /// Why, naming the setting to fix.
        reason: String,
    },
    /// A remote call needs an endpoint URL, none is cached, and the State Manager cannot give
    /// one now. The registry never falls back to running another resource's function locally:
    /// that would silently run code on the wrong hardware.
    ManifestServiceUnavailable {
        /// The State Manager's error.
        error: Arc<StateManagerError>,
        /// Whether the registry is waiting out a backoff after that error, not asking again yet.
        backing_off: bool,
    },
    /// The process's manifest is unreadable or invalid, so nothing can be routed.
    Manifest(Arc<ManifestError>),
}

impl RoutingError {
    pub(crate) fn new(function: impl Into<String>, kind: RoutingErrorKind) -> Self {
        Self {
            function: function.into(),
            resource: None,
            environment_id: None,
            kind,
        }
    }

    pub(crate) fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub(crate) fn environment(mut self, environment_id: impl Into<String>) -> Self {
        self.environment_id = Some(environment_id.into());
        self
    }

    /// The function being called (`*` for a refresh of every URL).
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The resource that owns the function, when the manifest says.
    pub fn owner(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The Flash environment whose endpoints were looked up, when known.
    pub fn environment_id(&self) -> Option<&str> {
        self.environment_id.as_deref()
    }

    /// Why.
    pub fn kind(&self) -> &RoutingErrorKind {
        &self.kind
    }

    /// Whether the same call may succeed later without a change to the app: the State Manager
    /// was unreachable, or the owning resource is not deployed yet.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            RoutingErrorKind::ManifestServiceUnavailable { .. } | RoutingErrorKind::NoEndpoint
        )
    }

    /// The State Manager's error, when that is why.
    pub fn state_manager_error(&self) -> Option<&StateManagerError> {
        match &self.kind {
            RoutingErrorKind::ManifestServiceUnavailable { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The manifest's error, when that is why.
    pub fn manifest_error(&self) -> Option<&ManifestError> {
        match &self.kind {
            RoutingErrorKind::Manifest(error) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for RoutingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = &self.function;
        match &self.resource {
            Some(resource) => write!(f, "cannot route `{function}` to resource `{resource}`: ")?,
            None => write!(f, "cannot route `{function}`: ")?,
        }
        let environment = self
            .environment_id
            .as_deref()
            .map(|e| format!(" for Flash environment `{e}`"))
            .unwrap_or_default();
        // The causes' messages are part of this one, so that `{error}` alone says why; the
        // typed causes are also the error's source for code that wants them.
        match &self.kind {
            RoutingErrorKind::UnknownFunction => {
                f.write_str("it is not in the manifest's function_registry (strict routing is on)")
            }
            RoutingErrorKind::NoEndpoint => write!(
                f,
                "the State Manager's resources_endpoints{environment} has no URL for it (is it deployed?)"
            ),
            RoutingErrorKind::NoEnvironment => write!(
                f,
                "{} is not set, so its endpoint URL cannot be looked up",
                flash_contract::env::FLASH_ENVIRONMENT_ID
            ),
            RoutingErrorKind::RemoteCallsDisabled { resource } => write!(
                f,
                "the manifest says resource `{resource}` makes no remote calls, so it never looks \
                 up endpoint URLs; rebuild the app so makes_remote_calls is set"
            ),
            RoutingErrorKind::NoStateManager { reason } => {
                write!(f, "endpoint URLs are unavailable: {reason}")
            }
            RoutingErrorKind::ManifestServiceUnavailable { error, backing_off } => {
                write!(f, "endpoint URLs are unavailable{environment}: {error}")?;
                if *backing_off {
                    f.write_str(" (waiting before asking again)")?;
                }
                Ok(())
            }
            RoutingErrorKind::Manifest(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RoutingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            RoutingErrorKind::ManifestServiceUnavailable { error, .. } => Some(&**error),
            RoutingErrorKind::Manifest(error) => Some(&**error),
            _ => None,
        }
    }
}

/// The remote endpoint failed to run the function, or could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
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
