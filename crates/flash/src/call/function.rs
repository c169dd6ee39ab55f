//! What `#[remote]` registers for each function.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::args::ArgumentError;
use super::errors::{RemoteResult, WireError};
use crate::registry::{BoxFuture, HttpMethod};
use crate::resource::Resource;

/// A boxed, sendable stream: what streaming functions produce behind the generated code.
pub type BoxStream<'a, T> = std::pin::Pin<Box<dyn futures_core::Stream<Item = T> + Send + 'a>>;

/// A load-balanced function's HTTP route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRoute {
    /// The method.
    pub method: HttpMethod,
    /// The path, possibly with `{param}` segments.
    pub path: &'static str,
}

/// Where a function is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLocation {
    /// The source file, as `file!()` gives it.
    pub file: &'static str,
    /// The line of the `#[remote]` attribute's function.
    pub line: u32,
}

/// Why a type-erased invocation failed.
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeError {
    /// The arguments did not decode: the caller's fault (a 4xx for load-balanced endpoints).
    BadArguments(ArgumentError),
    /// The function ran and failed; this is what a worker reports.
    Failed(WireError),
}

/// Builds a function's worker state ahead of its first call.
pub type Warmer = fn() -> BoxFuture<'static, Result<(), crate::FlashError>>;

/// Calls a function from JSON arguments (keyed by parameter name) to a JSON result.
pub type Invoker = fn(Map<String, Value>) -> BoxFuture<'static, Result<Value, InvokeError>>;

/// The items of a streaming function as JSON, each an item or the error that ends the stream.
pub type ValueStream = BoxStream<'static, Result<Value, WireError>>;

/// Starts a streaming function from JSON arguments (keyed by parameter name).
pub type StreamInvoker = fn(Map<String, Value>) -> Result<ValueStream, InvokeError>;

/// Everything known about one `#[remote]` function at compile time: `<f as
/// RemoteFunction>::META`, or [`function`]/[`functions`] by name at run time.
#[derive(Debug)]
pub struct FunctionMeta {
    pub(crate) name: &'static str,
    pub(crate) resource: &'static Resource,
    pub(crate) module_path: &'static str,
    pub(crate) source: SourceLocation,
    pub(crate) params: &'static [&'static str],
    pub(crate) route: Option<HttpRoute>,
    pub(crate) state: Option<&'static str>,
    pub(crate) invoke: Invoker,
    /// Set for a streaming function (one returning `impl Stream`): its items one by one, where
    /// [`invoke`](Self::invoke) collects them into an array.
    pub(crate) stream: Option<StreamInvoker>,
    pub(crate) warm: Option<Warmer>,
}

impl FunctionMeta {
    /// The function's name; unique across the app.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The resource that serves it.
    pub const fn resource(&self) -> &'static Resource {
        self.resource
    }

    /// `module_path!()` at its definition.
    pub const fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// Where it is defined.
    pub const fn source(&self) -> SourceLocation {
        self.source
    }

    /// Its parameter names, in order (the worker-state parameter of a stateful function excluded).
    pub const fn params(&self) -> &'static [&'static str] {
        self.params
    }

    /// Its route, for load-balanced resources.
    pub const fn route(&self) -> Option<HttpRoute> {
        self.route
    }

    /// The worker-state type a stateful function receives, by name.
    pub const fn state(&self) -> Option<&'static str> {
        self.state
    }

    /// Whether the function streams its results (returns `impl Stream`).
    pub const fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// Starts a streaming function in this process from JSON arguments keyed by parameter name:
    /// its items as JSON, as a worker streams them. `None` for a function that does not stream.
    pub fn invoke_stream(
        &self,
        args: Map<String, Value>,
    ) -> Option<Result<ValueStream, InvokeError>> {
        self.stream.map(|start| start(args))
    }

    /// Runs the function in this process from JSON arguments keyed by parameter name, as a
    /// worker does for each job or request. Never routes. A streaming function's result is the
    /// array of its items (the runpod SDK's `return_aggregate_stream`), or the error that ended
    /// it; inside a queue job each item is also posted to job-stream as it comes.
    pub fn invoke(
        &self,
        args: Map<String, Value>,
    ) -> BoxFuture<'static, Result<Value, InvokeError>> {
        (self.invoke)(args)
    }
}

/// The type-level handle `#[remote]` generates for each function (a struct with the function's
/// name): what [`crate::testing::Mocks`] is keyed by and where [`RemoteFunction::META`] lives.
/// Only `#[remote]` implements it; its hidden methods are the generated code's interface.
///
/// Each function also implements one of [`UnaryFunction`] (an `async fn` returning one
/// `Result`) or [`StreamingFunction`] (a `fn` returning `impl Stream` of `Result`s).
pub trait RemoteFunction: Send + Sync + 'static {
    /// The arguments, as a tuple in parameter order.
    type Args: Send + 'static;
    /// What the function returns, `Result<T, E>`; for a streaming function, each item.
    type Return: RemoteResult + Send + 'static;
    /// Its metadata.
    const META: &'static FunctionMeta;
    #[doc(hidden)]
    fn slot() -> &'static Slot;
    #[doc(hidden)]
    fn encode_args(args: &Self::Args) -> Result<Map<String, Value>, ArgumentError>;
    #[doc(hidden)]
    fn decode_args(args: Map<String, Value>) -> Result<Self::Args, ArgumentError>;
}

/// A `#[remote] async fn`: one call, one [`RemoteFunction::Return`].
pub trait UnaryFunction: RemoteFunction {
    #[doc(hidden)]
    fn call_local(args: Self::Args) -> BoxFuture<'static, Self::Return>;
}

/// A streaming `#[remote] fn ... -> impl Stream<Item = Result<T, E>>`: one call, a stream of
/// [`RemoteFunction::Return`] items.
pub trait StreamingFunction: RemoteFunction {
    #[doc(hidden)]
    fn stream_local(args: Self::Args) -> BoxStream<'static, Self::Return>;
}

/// Every `#[remote]` function linked into this binary (the generated code's registration table;
/// read it through [`functions`] and [`function`]).
#[allow(unsafe_code)] // linkme's link-section static; see the workspace lint settings.
#[linkme::distributed_slice]
pub static FUNCTIONS: [&'static FunctionMeta];

/// Every `#[remote]` function linked into this binary, sorted by name.
pub fn functions() -> Vec<&'static FunctionMeta> {
    let mut functions: Vec<_> = FUNCTIONS.iter().copied().collect();
    functions.sort_by_key(|meta| meta.name);
    functions
}

/// The `#[remote]` function called `name`, if linked into this binary.
pub fn function(name: &str) -> Option<&'static FunctionMeta> {
    FUNCTIONS.iter().copied().find(|meta| meta.name == name)
}

/// A function's cached routing decision: "local" stamped with the routing generation it was
/// taken under, so replacing the registry or entering a mock scope invalidates it. One static per
/// function, owned by the generated code.
#[derive(Debug)]
pub struct Slot(AtomicU64);

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Slot {
    /// An empty slot.
    #[allow(clippy::new_without_default)] // used in statics, where `Default` cannot be called
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Whether the function is known to run locally under the current routing.
    #[inline(always)]
    pub fn is_local(&self) -> bool {
        self.0.load(Ordering::Acquire) == local_tag(GENERATION.load(Ordering::Acquire))
    }

    pub(crate) fn set_local(&self, generation: u64) {
        self.0.store(local_tag(generation), Ordering::Release);
    }
}

const fn local_tag(generation: u64) -> u64 {
    (generation << 1) | 1
}

/// The current routing generation.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Forgets every cached decision.
pub(crate) fn invalidate_routes() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}
