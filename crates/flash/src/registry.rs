//! The ServiceRegistry: which process runs a function, and at which URL.
//!
//! Every process of a Flash app holds the same manifest. The registry reads it once, works out
//! for every function whether this process owns it, and answers [`ServiceRegistry::route`] from
//! that table. Peer endpoint URLs come from an [`EndpointSource`] (the State Manager in
//! production), cached with a TTL.
//!
//! The rules:
//! - This process is the resource named by `FLASH_RESOURCE_NAME`, else the one whose name or
//!   `endpoint_id` is `RUNPOD_ENDPOINT_ID`; with neither it is a plain caller, owning nothing.
//! - A function owned by this resource runs locally; one owned by another resource is remote.
//! - A function absent from the manifest runs locally, with one warning per function; in strict
//!   mode it is an error instead.
//! - No manifest at all: everything runs locally.
//! - A resource whose manifest entry says it makes no remote calls never asks the State Manager.
//! - Configured to dispatch by name ([`ServiceRegistryBuilder::dispatch_by_name`],
//!   `FLASH_DISPATCH_BY_NAME`), a peer is called through Runpod's Flash dispatcher with the app,
//!   environment and resource names (runpod 2.0's way; the build needs no endpoint URLs and the
//!   State Manager is never asked).
//! - With no URL cached and the State Manager down, a remote call fails with
//!   [`RoutingErrorKind::ManifestServiceUnavailable`]: another resource's function never silently
//!   runs here.
//!
//! ```
//! use runpod_flash::manifest::Manifest;
//! use runpod_flash::registry::{Route, ServiceRegistry};
//!
//! let manifest = Manifest::from_json_str(
//!     r#"{"resources": {"gpu": {"functions": [{"name": "infer"}]}},
//!         "function_registry": {"infer": "gpu"}}"#,
//!     runpod_flash::error::ManifestOrigin::Inline,
//! )?;
//! let registry = ServiceRegistry::builder()
//!     .manifest(manifest)
//!     .identity("gpu")
//!     .build()?;
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! assert_eq!(registry.route("infer").await?, Route::Local);
//! # Ok::<_, runpod_flash::FlashError>(()) })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod clock;
mod route;
mod source;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustc_hash::FxHashMap;

pub use clock::{Clock, CoarseClock, ManualClock, TokioClock};
pub use route::{ByName, HttpMethod, RemoteKind, RemoteRoute, Route};
pub use source::{BoxFuture, EndpointSource};

use crate::config;
use crate::error::{FlashError, ManifestError, ManifestOrigin, RoutingError, RoutingErrorKind};
use crate::manifest::{LoadedManifest, Manifest, discover};
use crate::state_manager::StateManagerClient;
use cache::{CachePolicy, EndpointCache, Peer};

/// What the manifest says about one function, from this process's point of view.
#[derive(Debug, Clone, Copy)]
enum Ownership {
    Local,
    /// Index into [`ServiceRegistry::peers`].
    Peer(usize),
}

/// Why this process may not have endpoint URLs, for the error a remote call gets.
#[derive(Debug)]
enum Endpoints {
    Cache(Arc<EndpointCache>),
    /// The manifest says this resource makes no remote calls.
    NotNeeded {
        resource: String,
    },
    /// No `FLASH_ENVIRONMENT_ID`.
    NoEnvironment,
    /// No way to ask (no State Manager client could be made).
    NoSource {
        reason: String,
    },
    /// Every peer is called by name through the Flash dispatcher: one fixed route per peer,
    /// nothing to fetch.
    ByName(Arc<[Arc<RemoteRoute>]>),
}

/// Decides where each function runs; see the [module docs](self).
#[derive(Debug)]
pub struct ServiceRegistry {
    manifest: Option<Arc<Manifest>>,
    identity: Option<Arc<str>>,
    table: FxHashMap<Box<str>, Ownership>,
    peers: Arc<[Peer]>,
    endpoints: Endpoints,
    strict: bool,
    warned_unknown: Mutex<HashSet<String>>,
}

impl ServiceRegistry {
    /// A builder with everything injectable: manifest, identity, environment, endpoint source,
    /// TTL, clock.
    pub fn builder() -> ServiceRegistryBuilder {
        ServiceRegistryBuilder::default()
    }

    /// The registry a deployed worker or a caller script uses, configured from the environment:
    /// the manifest found by [`manifest::discover`](crate::manifest::discover), the settings of
    /// [`ServiceRegistryBuilder::from_env`], and a [`StateManagerClient`] from
    /// `RUNPOD_API_BASE_URL` and `RUNPOD_API_KEY`.
    ///
    /// # Errors
    /// [`ManifestError`] when a manifest is found but cannot be read or breaks a rule. A missing
    /// API key is not an error here: only remote calls need one, and they report it.
    pub fn from_env() -> Result<Self, ManifestError> {
        let builder = ServiceRegistryBuilder::from_env().loaded_manifest(discover(None)?);
        let builder = match StateManagerClient::from_env() {
            Ok(client) if client.has_api_key() => builder.endpoint_source(Arc::new(client)),
            Ok(_) => builder.endpoint_source_unavailable(format!(
                "{} is not set, so the State Manager cannot be asked for endpoint URLs",
                flash_contract::env::RUNPOD_API_KEY
            )),
            Err(error) => builder.endpoint_source_unavailable(error.to_string()),
        };
        builder.build()
    }

    /// The resource this process is, if any.
    pub fn current_resource(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// The manifest in use, if one was found.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.manifest.as_deref()
    }

    /// Where a call to `function` runs.
    ///
    /// On a warm cache this takes no lock and allocates nothing.
    ///
    /// # Errors
    /// A [`RoutingError`] whose [`kind`](RoutingError::kind) is
    /// - [`UnknownFunction`](RoutingErrorKind::UnknownFunction) in strict mode for a function not
    ///   in the manifest;
    /// - [`NoEndpoint`](RoutingErrorKind::NoEndpoint) when the State Manager has no URL for the
    ///   owning resource;
    /// - [`NoEnvironment`](RoutingErrorKind::NoEnvironment) when a URL is needed and
    ///   `FLASH_ENVIRONMENT_ID` is unset;
    /// - [`ManifestServiceUnavailable`](RoutingErrorKind::ManifestServiceUnavailable) when a URL
    ///   is needed, none is cached and the State Manager cannot be reached.
    pub async fn route(&self, function: &str) -> Result<Route, FlashError> {
        match self.table.get(function) {
            Some(Ownership::Local) => Ok(Route::Local),
            Some(&Ownership::Peer(peer)) => {
                self.remote_route(function, peer).await.map(Route::Remote)
            }
            None => self.unknown_function(function),
        }
    }

    /// Fetches endpoint URLs now, ignoring the TTL and any backoff.
    ///
    /// # Errors
    /// [`RoutingErrorKind::ManifestServiceUnavailable`] when the fetch fails (the previous URLs
    /// stay in use).
    pub async fn refresh(&self) -> Result<(), FlashError> {
        match &self.endpoints {
            Endpoints::Cache(cache) => cache.refresh().await.map_err(|unavailable| {
                RoutingError::new("*", unavailable.into_kind())
                    .environment(cache.environment_id())
                    .into()
            }),
            _ => Ok(()),
        }
    }

    async fn remote_route(
        &self,
        function: &str,
        peer: usize,
    ) -> Result<Arc<RemoteRoute>, FlashError> {
        let resource = &*self.peers[peer].resource;
        let cache = match &self.endpoints {
            Endpoints::Cache(cache) => cache,
            Endpoints::ByName(routes) => return Ok(Arc::clone(&routes[peer])),
            Endpoints::NotNeeded { resource: me } => {
                let kind = RoutingErrorKind::RemoteCallsDisabled {
                    resource: me.clone(),
                };
                return Err(RoutingError::new(function, kind).resource(resource).into());
            }
            Endpoints::NoEnvironment => {
                return Err(RoutingError::new(function, RoutingErrorKind::NoEnvironment)
                    .resource(resource)
                    .into());
            }
            Endpoints::NoSource { reason } => {
                let kind = RoutingErrorKind::NoStateManager {
                    reason: reason.clone(),
                };
                return Err(RoutingError::new(function, kind).resource(resource).into());
            }
        };
        let kind = match cache.route(peer).await {
            Ok(Some(route)) => return Ok(route),
            Ok(None) => RoutingErrorKind::NoEndpoint,
            Err(unavailable) => unavailable.into_kind(),
        };
        Err(RoutingError::new(function, kind)
            .resource(resource)
            .environment(cache.environment_id())
            .into())
    }

    fn unknown_function(&self, function: &str) -> Result<Route, FlashError> {
        if self.strict {
            return Err(RoutingError::new(function, RoutingErrorKind::UnknownFunction).into());
        }
        if self.manifest.is_some() {
            let mut warned = self
                .warned_unknown
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !warned.contains(function) {
                warned.insert(function.to_owned());
                tracing::warn!(
                    function,
                    "function is not in the manifest's function_registry; running it locally"
                );
            }
        }
        Ok(Route::Local)
    }
}

/// Builds a [`ServiceRegistry`]. Every setting has a production default; see
/// [`ServiceRegistryBuilder::from_env`] for the one deployed workers use.
#[derive(Default)]
pub struct ServiceRegistryBuilder {
    manifest: Option<Manifest>,
    manifest_origin: ManifestOrigin,
    identity: Option<String>,
    environment_id: Option<String>,
    source: Option<Arc<dyn EndpointSource>>,
    source_error: Option<String>,
    clock: Option<Arc<dyn Clock>>,
    ttl: Option<Duration>,
    backoff: Option<(Duration, Duration)>,
    strict: bool,
    /// Whether peers are called by name (`by_name` may hold URLs set before it was asked for).
    dispatch: bool,
    by_name: Option<DispatchByName>,
}

/// How peers are called by name ([`ServiceRegistryBuilder::dispatch_by_name`]).
#[derive(Debug, Clone, Default)]
struct DispatchByName {
    app: String,
    environment: String,
    /// The data-plane base URL (`RUNPOD_ENDPOINT_BASE_URL`), `None` for the default.
    queue_base: Option<String>,
    /// The load-balanced dispatcher's URL, `None` for `https://flash.{host of the base}`.
    lb_url: Option<String>,
}

impl std::fmt::Debug for ServiceRegistryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceRegistryBuilder")
            .field("identity", &self.identity)
            .field("environment_id", &self.environment_id)
            .field("ttl", &self.ttl)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl ServiceRegistryBuilder {
    /// Settings from the environment, as a deployed worker or a caller script has them:
    /// identity from `FLASH_RESOURCE_NAME` (else `RUNPOD_ENDPOINT_ID`), `FLASH_ENVIRONMENT_ID`,
    /// `FLASH_CACHE_TTL_SECS`, `FLASH_STRICT_ROUTING`, and with `FLASH_DISPATCH_BY_NAME` set
    /// dispatch by name with the app `FLASH_APP` and environment `FLASH_ENV` (both set on
    /// deployed workers) at `RUNPOD_ENDPOINT_BASE_URL`. The manifest and endpoint source are
    /// left for the caller to set.
    ///
    /// A malformed `FLASH_CACHE_TTL_SECS` is reported as a warning and the default TTL is used.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let ttl = var(flash_contract::env::FLASH_CACHE_TTL_SECS).and_then(|ttl| {
            ttl.trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| {
                    tracing::warn!(
                        value = %ttl,
                        "{} is not a whole number of seconds; using {} s",
                        flash_contract::env::FLASH_CACHE_TTL_SECS,
                        config::ENDPOINT_CACHE_TTL.as_secs()
                    );
                })
                .ok()
        });
        Self {
            identity: var(flash_contract::env::FLASH_RESOURCE_NAME)
                .or_else(|| var(flash_contract::env::RUNPOD_ENDPOINT_ID)),
            environment_id: var(flash_contract::env::FLASH_ENVIRONMENT_ID),
            ttl,
            strict: var(flash_contract::env::FLASH_STRICT_ROUTING).is_some_and(|v| truthy(&v)),
            dispatch: var(flash_contract::env::FLASH_DISPATCH_BY_NAME).is_some_and(|v| truthy(&v)),
            by_name: var(flash_contract::env::FLASH_DISPATCH_BY_NAME)
                .filter(|v| truthy(v))
                .map(|_| DispatchByName {
                    // Missing names stay empty; `build` then refuses every peer call, naming
                    // the variable.
                    app: var(flash_contract::env::FLASH_APP).unwrap_or_default(),
                    environment: var(flash_contract::env::FLASH_ENV).unwrap_or_default(),
                    queue_base: var(flash_contract::env::RUNPOD_ENDPOINT_BASE_URL),
                    lb_url: None,
                }),
            ..Self::default()
        }
    }

    /// Calls peers by name through Runpod's Flash dispatcher instead of at URLs from the State
    /// Manager: queue peers at `{RUNPOD_ENDPOINT_BASE_URL}/flash/runsync` (then `/flash/status`,
    /// `/flash/cancel`), load-balanced peers at `https://flash.{host of that URL}{path}`, each
    /// request with `X-Flash-App: app`, `X-Flash-Environment: environment` and
    /// `X-Flash-Endpoint: <resource>`. For apps whose builds carry no endpoint URLs (a runpod
    /// 2.0 app's) and callers outside the app. Deployed endpoint names must be the resource
    /// names, as `flash deploy` names them.
    pub fn dispatch_by_name(
        mut self,
        app: impl Into<String>,
        environment: impl Into<String>,
    ) -> Self {
        let by_name = self.by_name.get_or_insert_with(DispatchByName::default);
        by_name.app = app.into();
        by_name.environment = environment.into();
        self.dispatch = true;
        self
    }

    /// For [`dispatch_by_name`](Self::dispatch_by_name), in either order: the data-plane base
    /// URL (default `RUNPOD_ENDPOINT_BASE_URL`, else `https://api.runpod.ai/v2`) and, when
    /// given, the load-balanced dispatcher's URL (default: `https://flash.{host}` of the base
    /// URL, `http://flash.localhost:{port}` for the emulator's; or its `flash_lb_url()`).
    pub fn dispatch_urls(mut self, queue_base: impl Into<String>, lb_url: Option<String>) -> Self {
        let by_name = self.by_name.get_or_insert_with(DispatchByName::default);
        by_name.queue_base = Some(queue_base.into());
        by_name.lb_url = lb_url;
        self
    }

    /// The manifest. Without one, every function runs locally.
    pub fn manifest(mut self, manifest: Manifest) -> Self {
        self.manifest = Some(manifest);
        self.manifest_origin = ManifestOrigin::Inline;
        self
    }

    /// A manifest found by [`manifest::discover`](crate::manifest::discover), or none.
    pub fn loaded_manifest(mut self, loaded: Option<LoadedManifest>) -> Self {
        match loaded {
            Some(LoadedManifest { path, manifest }) => {
                self.manifest = Some(manifest);
                self.manifest_origin = ManifestOrigin::File(path);
            }
            None => self.manifest = None,
        }
        self
    }

    /// Which resource this process is (a resource name, or its endpoint id).
    pub fn identity(mut self, identity: impl Into<String>) -> Self {
        self.identity = Some(identity.into());
        self
    }

    /// The Flash environment whose endpoint URLs to use.
    pub fn environment_id(mut self, environment_id: impl Into<String>) -> Self {
        self.environment_id = Some(environment_id.into());
        self
    }

    /// Where endpoint URLs come from.
    pub fn endpoint_source(mut self, source: Arc<dyn EndpointSource>) -> Self {
        self.source = Some(source);
        self.source_error = None;
        self
    }

    /// Records why no endpoint source could be made, for the errors remote calls will get.
    pub fn endpoint_source_unavailable(mut self, reason: impl Into<String>) -> Self {
        self.source = None;
        self.source_error = Some(reason.into());
        self
    }

    /// The clock used for cache expiry and backoff (default [`TokioClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How long fetched URLs are fresh (default [`config::ENDPOINT_CACHE_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Backoff after a failed fetch: first delay, doubled per failure up to `max`
    /// (defaults [`config::REFRESH_BACKOFF_INITIAL`], [`config::REFRESH_BACKOFF_MAX`]).
    pub fn refresh_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Some((initial, max));
        self
    }

    /// Strict mode: calling a function absent from the manifest is an error.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Builds the registry and its routing table.
    ///
    /// # Errors
    /// [`ManifestError::Invalid`] listing every problem when the manifest breaks a rule: routing
    /// from a broken manifest would send calls to the wrong place.
    pub fn build(self) -> Result<ServiceRegistry, ManifestError> {
        if let Some(manifest) = &self.manifest {
            manifest.validate(&self.manifest_origin)?;
        }
        let identity = self
            .manifest
            .as_ref()
            .zip(self.identity.as_deref())
            .map(|(manifest, id)| resolve_identity(manifest, id))
            .or(self.identity.clone())
            .map(Arc::<str>::from);
        let (table, peers) = self
            .manifest
            .as_ref()
            .map(|manifest| routing_table(manifest, identity.as_deref()))
            .unwrap_or_default();
        let peers: Arc<[Peer]> = peers.into();
        let makes_remote_calls = match (&self.manifest, identity.as_deref()) {
            (Some(manifest), Some(me)) => manifest
                .resources
                .get(me)
                .is_none_or(|resource| resource.calls_remote()),
            _ => true,
        };
        let (initial, max) = self
            .backoff
            .unwrap_or((config::REFRESH_BACKOFF_INITIAL, config::REFRESH_BACKOFF_MAX));
        let policy = CachePolicy {
            ttl: self.ttl.unwrap_or(config::ENDPOINT_CACHE_TTL),
            backoff_initial: initial,
            backoff_max: max,
        };
        let endpoints = if !makes_remote_calls {
            Endpoints::NotNeeded {
                resource: identity.as_deref().unwrap_or_default().into(),
            }
        } else if let Some(by_name) = self.by_name.filter(|_| self.dispatch) {
            by_name_routes(&peers, by_name)
        } else {
            match (self.environment_id, self.source) {
                (None, _) => Endpoints::NoEnvironment,
                (Some(_), None) => Endpoints::NoSource {
                    reason: self
                        .source_error
                        .unwrap_or_else(|| "no State Manager client is configured".into()),
                },
                (Some(environment_id), Some(source)) => Endpoints::Cache(EndpointCache::new(
                    Arc::clone(&peers),
                    source,
                    &environment_id,
                    self.clock.unwrap_or_else(|| Arc::new(CoarseClock::new())),
                    policy,
                )),
            }
        };
        Ok(ServiceRegistry {
            manifest: self.manifest.map(Arc::new),
            identity,
            table,
            peers,
            endpoints,
            strict: self.strict,
            warned_unknown: Mutex::new(HashSet::new()),
        })
    }
}

fn truthy(value: &str) -> bool {
    matches!(value.trim(), "1" | "true" | "TRUE" | "True" | "yes")
}

/// The fixed route of every peer called by name, or why none can be.
fn by_name_routes(peers: &[Peer], by_name: DispatchByName) -> Endpoints {
    use flash_contract::env::{FLASH_APP, FLASH_ENV};
    for (value, what) in [(&by_name.app, FLASH_APP), (&by_name.environment, FLASH_ENV)] {
        if !crate::client::sendable_name(value) {
            return Endpoints::NoSource {
                reason: format!(
                    "dispatch by name needs the {} name ({what}) as printable ASCII without surrounding spaces, got {value:?}",
                    if what == FLASH_APP {
                        "app"
                    } else {
                        "environment"
                    }
                ),
            };
        }
    }
    let base = by_name
        .queue_base
        .or_else(|| std::env::var(flash_contract::env::RUNPOD_ENDPOINT_BASE_URL).ok())
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| config::DEFAULT_ENDPOINT_BASE_URL.to_owned());
    let base = base.trim().trim_end_matches('/');
    let queue_url: Arc<str> = format!("{base}/{}", flash_contract::dispatch::SENTINEL_ID).into();
    let lb_url: Arc<str> = by_name
        .lb_url
        .map_or_else(
            || crate::client::dispatcher_url(base),
            |u| u.trim_end_matches('/').to_owned(),
        )
        .into();
    let names = Arc::new(ByName {
        app: by_name.app.into(),
        environment: by_name.environment.into(),
    });
    let routes = peers
        .iter()
        .map(|peer| {
            let endpoint_url = match peer.kind {
                RemoteKind::Queue { .. } => Arc::clone(&queue_url),
                RemoteKind::LoadBalanced { .. } => Arc::clone(&lb_url),
            };
            Arc::new(RemoteRoute {
                resource: Arc::clone(&peer.resource),
                endpoint_url,
                kind: peer.kind.clone(),
                by_name: Some(Arc::clone(&names)),
            })
        })
        .collect();
    Endpoints::ByName(routes)
}

/// Maps an identity that may be an endpoint id (from `RUNPOD_ENDPOINT_ID`) to a resource name.
fn resolve_identity(manifest: &Manifest, identity: &str) -> String {
    if manifest.resources.contains_key(identity) {
        return identity.to_owned();
    }
    manifest
        .resources
        .iter()
        .find(|(_, resource)| resource.endpoint_id.as_deref() == Some(identity))
        .map(|(name, _)| name.clone())
        .unwrap_or_else(|| {
            tracing::warn!(
                identity,
                "this process's identity names no resource of the manifest; \
                 every function in the manifest will be called remotely"
            );
            identity.to_owned()
        })
}

fn routing_table(
    manifest: &Manifest,
    me: Option<&str>,
) -> (FxHashMap<Box<str>, Ownership>, Vec<Peer>) {
    let mut table = FxHashMap::default();
    let mut peers = Vec::new();
    let mut resources: FxHashMap<&str, Arc<str>> = FxHashMap::default();
    for (function, owner) in &manifest.function_registry {
        let ownership = if me == Some(owner.as_str()) {
            Ownership::Local
        } else {
            let resource = resources
                .entry(owner.as_str())
                .or_insert_with(|| Arc::from(owner.as_str()));
            peers.push(Peer {
                resource: Arc::clone(resource),
                kind: remote_kind(manifest, owner, function),
            });
            Ownership::Peer(peers.len() - 1)
        };
        table.insert(function.as_str().into(), ownership);
    }
    (table, peers)
}

fn remote_kind(manifest: &Manifest, resource: &str, function: &str) -> RemoteKind {
    let Some(config) = manifest.resources.get(resource) else {
        return RemoteKind::Queue {
            discriminate: false,
        };
    };
    if !config.load_balanced() {
        return RemoteKind::Queue {
            discriminate: config.functions.len() > 1,
        };
    }
    // `build` validated the manifest, so every load-balanced function has a method and a path;
    // the fallbacks are never taken.
    let entry = config.function(function);
    let method = entry
        .and_then(|f| f.http_method.as_deref())
        .and_then(HttpMethod::parse)
        .unwrap_or(HttpMethod::Post);
    let path = entry
        .and_then(|f| f.http_path.as_deref())
        .map_or_else(|| Arc::from(format!("/{function}")), Arc::from);
    RemoteKind::LoadBalanced { method, path }
}

#[cfg(test)]
mod tests;
