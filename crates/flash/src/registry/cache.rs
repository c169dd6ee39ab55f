//! The endpoint URL cache: TTL, single-flight, stale-while-revalidate, backoff after failures.
//!
//! Reads never take a lock: the current map sits behind an [`ArcSwapOption`]. Fetches go through
//! one async gate, so any number of concurrent cold lookups cause one request; a caller holding a
//! stale entry never waits for a refresh, it starts one in the background and goes on with what
//! it has.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::clock::Clock;
use super::route::{RemoteKind, RemoteRoute};
use super::source::EndpointSource;
use crate::error::StateManagerError;
use arc_swap::ArcSwapOption;
use indexmap::IndexMap;
use rustc_hash::FxHashMap;

/// Cache timing settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachePolicy {
    pub(crate) ttl: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
}

/// A function owned by another resource; its index in the registry's peer list is the index of
/// its route in every [`Snapshot`].
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) resource: Arc<str>,
    pub(crate) kind: RemoteKind,
}

/// One fetched endpoint map, turned into a ready route per peer function, so a warm lookup is an
/// index and one reference-count increment.
#[derive(Debug)]
pub(crate) struct Snapshot {
    routes: Vec<Option<Arc<RemoteRoute>>>,
    fetched_at: Duration,
}

impl Snapshot {
    fn route(&self, peer: usize) -> Option<&Arc<RemoteRoute>> {
        self.routes.get(peer).and_then(Option::as_ref)
    }
}

/// What the last fetch attempts left behind.
#[derive(Debug, Default)]
struct FailureState {
    consecutive: u32,
    retry_at: Option<Duration>,
    last_error: Option<Arc<StateManagerError>>,
}

impl Unavailable {
    pub(crate) fn into_kind(self) -> crate::error::RoutingErrorKind {
        crate::error::RoutingErrorKind::ManifestServiceUnavailable {
            error: self.error,
            backing_off: self.backing_off,
        }
    }
}

/// Why the cache could not give a map: the last fetch's error, and whether the cache is still
/// waiting out the backoff after it rather than having just asked.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable {
    pub(crate) error: Arc<StateManagerError>,
    pub(crate) backing_off: bool,
}

pub(crate) struct EndpointCache {
    peers: Arc<[Peer]>,
    source: Arc<dyn EndpointSource>,
    environment_id: Box<str>,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    current: ArcSwapOption<Snapshot>,
    /// Held by whoever is fetching; waiting on it is how cold callers share one fetch.
    gate: tokio::sync::Mutex<()>,
    failures: Mutex<FailureState>,
    background: AtomicBool,
}

impl std::fmt::Debug for EndpointCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointCache")
            .field("environment_id", &self.environment_id)
            .field("policy", &self.policy)
            .field("current", &self.current.load())
            .finish_non_exhaustive()
    }
}

/// Whether to fetch even when the cache is fresh or backing off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Force {
    No,
    Yes,
}

impl EndpointCache {
    pub(crate) fn new(
        peers: Arc<[Peer]>,
        source: Arc<dyn EndpointSource>,
        environment_id: &str,
        clock: Arc<dyn Clock>,
        policy: CachePolicy,
    ) -> Arc<Self> {
        Arc::new(Self {
            peers,
            source,
            environment_id: environment_id.into(),
            clock,
            policy,
            current: ArcSwapOption::empty(),
            gate: tokio::sync::Mutex::new(()),
            failures: Mutex::new(FailureState::default()),
            background: AtomicBool::new(false),
        })
    }

    pub(crate) fn environment_id(&self) -> &str {
        &self.environment_id
    }

    /// The route to peer function `peer`: from the cache when it has one (starting a background
    /// refresh when it is stale), else after a fetch shared with every other caller waiting for
    /// one.
    ///
    /// `Ok(None)` means the State Manager answered and has no URL for the peer's resource.
    pub(crate) async fn route(
        self: &Arc<Self>,
        peer: usize,
    ) -> Result<Option<Arc<RemoteRoute>>, Unavailable> {
        if let Some(snapshot) = &*self.current.load() {
            let now = self.clock.now();
            let age = now.saturating_sub(snapshot.fetched_at);
            if age >= self.policy.ttl {
                self.refresh_in_background(now);
            }
            if let Some(route) = snapshot.route(peer) {
                return Ok(Some(Arc::clone(route)));
            }
            // A resource deployed after this snapshot was taken: look again, unless the
            // snapshot is so young that asking again would only hammer the State Manager.
            if age < self.policy.backoff_initial {
                return Ok(None);
            }
        }
        let snapshot = self.fetch_shared(Force::No).await?;
        Ok(snapshot.route(peer).cloned())
    }

    /// Fetches now, whatever the cache holds, still sharing the fetch with concurrent callers.
    pub(crate) async fn refresh(self: &Arc<Self>) -> Result<(), Unavailable> {
        self.fetch_shared(Force::Yes).await.map(drop)
    }

    fn refresh_in_background(self: &Arc<Self>, now: Duration) {
        if self.backing_off(now).is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .background
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let cache = Arc::clone(self);
        runtime.spawn(async move {
            // The error is already recorded in the failure state and logged.
            let _ = cache.fetch_shared(Force::No).await;
            cache.background.store(false, Ordering::Release);
        });
    }

    async fn fetch_shared(self: &Arc<Self>, force: Force) -> Result<Arc<Snapshot>, Unavailable> {
        let started = self.clock.now();
        let _gate = self.gate.lock().await;
        let now = self.clock.now();
        if let Some(snapshot) = self.current.load_full() {
            // Someone else fetched while we waited for the gate.
            let fresh = now.saturating_sub(snapshot.fetched_at) < self.policy.ttl;
            if snapshot.fetched_at > started || (force == Force::No && fresh) {
                return Ok(snapshot);
            }
        }
        if force == Force::No
            && let Some(error) = self.backing_off(now)
        {
            return Err(Unavailable {
                error,
                backing_off: true,
            });
        }
        match self.source.resources_endpoints(&self.environment_id).await {
            Ok(map) => {
                let snapshot = Arc::new(self.snapshot(&map));
                self.current.store(Some(Arc::clone(&snapshot)));
                *self.failure_state() = FailureState::default();
                Ok(snapshot)
            }
            Err(error) => {
                let error = Arc::new(error);
                let mut failures = self.failure_state();
                failures.consecutive = failures.consecutive.saturating_add(1);
                let delay = backoff_delay(self.policy, failures.consecutive);
                failures.retry_at = Some(self.clock.now() + delay);
                failures.last_error = Some(Arc::clone(&error));
                tracing::warn!(
                    environment_id = %self.environment_id,
                    failures = failures.consecutive,
                    retry_in_ms = delay.as_millis() as u64,
                    serving_stale = self.current.load().is_some(),
                    "endpoint URL refresh failed: {error}"
                );
                Err(Unavailable {
                    error,
                    backing_off: false,
                })
            }
        }
    }

    fn snapshot(&self, endpoints: &IndexMap<String, String>) -> Snapshot {
        let urls: FxHashMap<&str, Arc<str>> = endpoints
            .iter()
            .map(|(resource, url)| (resource.as_str(), Arc::from(url.as_str())))
            .collect();
        let routes = self
            .peers
            .iter()
            .map(|peer| {
                urls.get(&*peer.resource).map(|url| {
                    Arc::new(RemoteRoute {
                        resource: Arc::clone(&peer.resource),
                        endpoint_url: Arc::clone(url),
                        kind: peer.kind.clone(),
                        by_name: None,
                    })
                })
            })
            .collect();
        Snapshot {
            routes,
            fetched_at: self.clock.now(),
        }
    }

    /// The last error, while a failed fetch's backoff is still running.
    fn backing_off(&self, now: Duration) -> Option<Arc<StateManagerError>> {
        let failures = self.failure_state();
        match failures.retry_at {
            Some(retry_at) if now < retry_at => failures.last_error.clone(),
            _ => None,
        }
    }

    fn failure_state(&self) -> MutexGuard<'_, FailureState> {
        // The state is plain data that is always left consistent, so a panic elsewhere while
        // holding the lock leaves nothing to repair.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `initial * 2^(n-1)`, capped.
fn backoff_delay(policy: CachePolicy, consecutive_failures: u32) -> Duration {
    let doublings = consecutive_failures.saturating_sub(1).min(31);
    policy
        .backoff_initial
        .saturating_mul(1 << doublings)
        .min(policy.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = CachePolicy {
            ttl: Duration::from_secs(300),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        };
        let delays: Vec<u64> = (1..=9)
            .map(|n| backoff_delay(policy, n).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff_delay(policy, u32::MAX).as_secs(), 60);
    }
}
