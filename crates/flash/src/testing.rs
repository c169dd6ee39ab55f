//! Unit-testing code that calls `#[remote]` functions, with no server.
//!
//! Inside [`Mocks::run`], calls to `#[remote]` functions made by the test's task are answered by
//! the mocks: a handler you give ([`Mocks::on`]), a canned value ([`Mocks::returns`]), or the
//! function's own body ([`Mocks::local`], also the default for functions you do not mention).
//! Every call is recorded with its arguments. Give [`Mocks::registry`] to route the calls you do
//! not mock through a registry of your own instead (a test manifest and identity, say).
//!
//! The scope is the test's task: calls from tasks it spawns are not mocked. Scopes of tests
//! running in parallel do not see each other.
//!
//! ```
//! use runpod_flash::{remote, FlashError, Resource};
//! use runpod_flash::testing::Mocks;
//!
//! const GPU: Resource = Resource::queue("doc-gpu");
//!
//! #[remote(GPU)]
//! async fn embed(text: String) -> Result<Vec<f32>, FlashError> {
//!     unreachable!("the test never runs the real model")
//! }
//!
//! async fn similarity(a: String, b: String) -> Result<f32, FlashError> {
//!     let (x, y) = (embed(a).await?, embed(b).await?);
//!     Ok(x.iter().zip(&y).map(|(p, q)| p * q).sum())
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mocks = Mocks::new().on::<embed, _>(|(text,)| async move {
//!     Ok(vec![text.len() as f32, 1.0])
//! });
//! let score = mocks.run(similarity("ab".into(), "abc".into())).await.unwrap();
//! assert_eq!(score, 7.0);
//! assert_eq!(mocks.calls::<embed>().len(), 2);
//! assert_eq!(mocks.calls::<embed>()[0]["text"], "ab");
//! # });
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::call::errors::RemoteResult;
use crate::call::function::{
    BoxStream, RemoteFunction, StreamingFunction, UnaryFunction, invalidate_routes,
};
use crate::registry::{BoxFuture, ServiceRegistry};

type Ok<F> = <<F as RemoteFunction>::Return as RemoteResult>::Ok;
/// A mock of a unary function.
pub(crate) type Handler<F> = Arc<
    dyn Fn(<F as RemoteFunction>::Args) -> BoxFuture<'static, <F as RemoteFunction>::Return>
        + Send
        + Sync,
>;
/// A mock of a streaming function.
pub(crate) type StreamHandler<F> = Arc<
    dyn Fn(<F as RemoteFunction>::Args) -> BoxStream<'static, <F as RemoteFunction>::Return>
        + Send
        + Sync,
>;

#[derive(Clone)]
enum Behaviour {
    Local,
    /// A `Handler<F>` or `StreamHandler<F>` for the `F` whose `TypeId` keys it.
    Handler(Arc<dyn Any + Send + Sync>),
}

type Calls = Arc<Mutex<Vec<(TypeId, Map<String, Value>)>>>;

tokio::task_local! {
    static SCOPE: Mocks;
}

/// Number of mock scopes running anywhere in the process: while there is one, the stubs' cached
/// routing decisions are bypassed so each call can look for its task's mocks.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Mocks for `#[remote]` functions; see the [module docs](self).
///
/// Clones share their record of calls.
#[derive(Clone, Default)]
pub struct Mocks {
    behaviours: Arc<HashMap<TypeId, Behaviour>>,
    registry: Option<Arc<ServiceRegistry>>,
    calls: Calls,
}

impl std::fmt::Debug for Mocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mocks")
            .field("mocked", &self.behaviours.len())
            .field("registry", &self.registry.is_some())
            .finish_non_exhaustive()
    }
}

impl Mocks {
    /// No mocks: every call runs the function's own body.
    pub fn new() -> Self {
        Self::default()
    }

    fn set<F: RemoteFunction>(&mut self, behaviour: Behaviour) {
        Arc::make_mut(&mut self.behaviours).insert(TypeId::of::<F>(), behaviour);
    }

    /// Answers calls to `F` with `handler`, which gets the arguments as a tuple.
    #[must_use]
    pub fn on<F, Fut>(mut self, handler: impl Fn(F::Args) -> Fut + Send + Sync + 'static) -> Self
    where
        F: UnaryFunction,
        Fut: Future<Output = F::Return> + Send + 'static,
    {
        let handler: Handler<F> = Arc::new(move |args| Box::pin(handler(args)));
        self.set::<F>(Behaviour::Handler(Arc::new(handler)));
        self
    }

    /// Answers every call to `F` with `Ok(value)`.
    #[must_use]
    pub fn returns<F>(self, value: Ok<F>) -> Self
    where
        F: UnaryFunction,
        Ok<F>: Clone + Sync,
    {
        self.on::<F, _>(move |_| {
            let value = value.clone();
            async move { F::Return::from_result(Ok(value)) }
        })
    }

    /// Answers calls to the streaming function `F` with the stream `handler` makes from the
    /// arguments (a tuple). As from the function itself, the caller's stream ends after the
    /// first error.
    #[must_use]
    pub fn on_stream<F, S>(mut self, handler: impl Fn(F::Args) -> S + Send + Sync + 'static) -> Self
    where
        F: StreamingFunction,
        S: futures_core::Stream<Item = F::Return> + Send + 'static,
    {
        let handler: StreamHandler<F> = Arc::new(move |args| Box::pin(handler(args)));
        self.set::<F>(Behaviour::Handler(Arc::new(handler)));
        self
    }

    /// Answers every call to the streaming function `F` with `items`, each `Ok`.
    #[must_use]
    pub fn yields<F>(self, items: Vec<Ok<F>>) -> Self
    where
        F: StreamingFunction,
        Ok<F>: Clone + Sync,
    {
        self.on_stream::<F, _>(move |_| {
            futures_util::stream::iter(
                items
                    .clone()
                    .into_iter()
                    .map(|item| F::Return::from_result(Ok(item))),
            )
        })
    }

    /// Runs `F`'s own body in this process, whatever the routing says.
    #[must_use]
    pub fn local<F: RemoteFunction>(mut self) -> Self {
        self.set::<F>(Behaviour::Local);
        self
    }

    /// Routes the calls not mocked through `registry` instead of running them locally.
    #[must_use]
    pub fn registry(mut self, registry: ServiceRegistry) -> Self {
        self.registry = Some(Arc::new(registry));
        self
    }

    /// Runs `future` with these mocks.
    pub async fn run<Fut: Future>(&self, future: Fut) -> Fut::Output {
        struct Active;
        impl Drop for Active {
            fn drop(&mut self) {
                ACTIVE.fetch_sub(1, Ordering::AcqRel);
                invalidate_routes();
            }
        }
        ACTIVE.fetch_add(1, Ordering::AcqRel);
        invalidate_routes();
        let _active = Active;
        SCOPE.scope(self.clone(), future).await
    }

    /// The arguments of every call to `F` so far, keyed by parameter name.
    pub fn calls<F: RemoteFunction>(&self) -> Vec<Map<String, Value>> {
        let calls = self
            .calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        calls
            .iter()
            .filter(|(id, _)| *id == TypeId::of::<F>())
            .map(|(_, args)| args.clone())
            .collect()
    }
}

/// Whether any mock scope is running.
pub(crate) fn active() -> bool {
    ACTIVE.load(Ordering::Acquire) > 0
}

/// What the mocks say about one call.
pub(crate) enum Intercept<F: RemoteFunction> {
    /// A [`Handler`] or [`StreamHandler`] of `F`, for the caller to downcast.
    Handler(Arc<dyn Any + Send + Sync>, F::Args),
    Local(F::Args),
    Route(Arc<ServiceRegistry>, F::Args),
    NotMocked(F::Args),
}

pub(crate) fn intercept<F: RemoteFunction>(args: F::Args) -> Intercept<F> {
    if !active() {
        return Intercept::NotMocked(args);
    }
    let Ok(scope) = SCOPE.try_with(Mocks::clone) else {
        return Intercept::NotMocked(args);
    };
    let recorded = F::encode_args(&args).unwrap_or_default();
    scope
        .calls
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((TypeId::of::<F>(), recorded));
    match scope.behaviours.get(&TypeId::of::<F>()) {
        Some(Behaviour::Handler(handler)) => Intercept::Handler(Arc::clone(handler), args),
        Some(Behaviour::Local) => Intercept::Local(args),
        None => match &scope.registry {
            Some(registry) => Intercept::Route(Arc::clone(registry), args),
            None => Intercept::Local(args),
        },
    }
}

/// An [`EndpointSource`](crate::registry::EndpointSource) that answers a fixed resource-to-URL
/// map, optionally after a delay, and counts how often it was asked: what a test or benchmark
/// gives [`ServiceRegistry::builder`] in place of the State Manager.
///
/// ```
/// use std::sync::Arc;
/// use runpod_flash::registry::{Route, ServiceRegistry};
/// use runpod_flash::testing::StaticEndpoints;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let manifest = serde_json::from_value(serde_json::json!({
///     "resources": {"gpu": {"functions": [{"name": "infer"}]},
///                   "cpu": {"functions": [{"name": "prep"}], "makes_remote_calls": true}},
///     "function_registry": {"infer": "gpu", "prep": "cpu"}
/// })).unwrap();
/// let endpoints = Arc::new(StaticEndpoints::new([("gpu", "https://api.runpod.ai/v2/abc")]));
/// let registry = ServiceRegistry::builder()
///     .manifest(manifest)
///     .identity("cpu")
///     .environment_id("env")
///     .endpoint_source(endpoints.clone())
///     .build()
///     .unwrap();
/// assert!(matches!(registry.route("infer").await, Ok(Route::Remote(_))));
/// assert_eq!(endpoints.fetches(), 1);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct StaticEndpoints {
    urls: indexmap::IndexMap<String, String>,
    latency: std::time::Duration,
    fetches: AtomicUsize,
}

impl StaticEndpoints {
    /// Answers `urls` (resource name, endpoint URL) at once.
    pub fn new<K: Into<String>, V: Into<String>>(urls: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            urls: urls
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            ..Self::default()
        }
    }

    /// Answers only after `latency`, as a State Manager round trip would.
    #[must_use]
    pub fn with_latency(mut self, latency: std::time::Duration) -> Self {
        self.latency = latency;
        self
    }

    /// How many lookups it has answered.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl crate::registry::EndpointSource for StaticEndpoints {
    fn resources_endpoints<'a>(
        &'a self,
        _environment_id: &'a str,
    ) -> BoxFuture<'a, Result<indexmap::IndexMap<String, String>, crate::error::StateManagerError>>
    {
        Box::pin(async move {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            Ok(self.urls.clone())
        })
    }
}
