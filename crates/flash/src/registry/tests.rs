//! Routing rules and cache behaviour against an in-memory endpoint source. The same behaviours
//! over real HTTP and GraphQL are covered in `tests/registry_state_manager.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::json;

use super::*;
use crate::error::StateManagerError;

fn manifest() -> Manifest {
    serde_json::from_value(json!({
        "resources": {
            "gpu": {"functions": [{"name": "infer"}], "makes_remote_calls": false},
            "cpu": {"functions": [{"name": "prep"}, {"name": "post"}], "makes_remote_calls": true,
                    "endpoint_id": "ep-cpu"},
            "api": {"is_load_balanced": true, "makes_remote_calls": true, "functions": [
                {"name": "classify", "http_method": "POST", "http_path": "/classify"},
                {"name": "item", "http_method": "GET", "http_path": "/items/{id}"}]}
        },
        "function_registry": {"infer": "gpu", "prep": "cpu", "post": "cpu",
                              "classify": "api", "item": "api"}
    }))
    .expect("test manifest")
}

/// Counts fetches; fails while `down` is set; can be slowed down.
#[derive(Default)]
struct FakeSource {
    fetches: AtomicUsize,
    down: AtomicBool,
    delay: Option<Duration>,
}

impl EndpointSource for FakeSource {
    fn resources_endpoints<'a>(
        &'a self,
        _environment_id: &'a str,
    ) -> BoxFuture<'a, Result<IndexMap<String, String>, StateManagerError>> {
        Box::pin(async move {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(StateManagerError::Http {
                    operation: "getFlashEnvironment",
                    url: "http://test/graphql".into(),
                    status: 503,
                    body: "down".into(),
                });
            }
            Ok([
                ("gpu", format!("https://api.runpod.ai/v2/gpu-{n}")),
                ("cpu", format!("https://api.runpod.ai/v2/cpu-{n}")),
                ("api", format!("https://api-{n}.api.runpod.ai")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect())
        })
    }
}

fn registry_as(
    identity: &str,
    source: &Arc<FakeSource>,
    clock: &Arc<ManualClock>,
) -> ServiceRegistry {
    ServiceRegistry::builder()
        .manifest(manifest())
        .identity(identity)
        .environment_id("env-1")
        .endpoint_source(Arc::clone(source) as Arc<dyn EndpointSource>)
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .ttl(Duration::from_secs(300))
        .build()
        .expect("valid manifest")
}

fn url(route: &Route) -> &str {
    match route {
        Route::Remote(remote) => &remote.endpoint_url,
        Route::Local => panic!("expected a remote route"),
    }
}

#[tokio::test]
async fn own_functions_are_local_and_others_remote() {
    let source = Arc::new(FakeSource::default());
    let clock = Arc::new(ManualClock::new());
    let registry = registry_as("cpu", &source, &clock);
    assert_eq!(registry.route("prep").await.unwrap(), Route::Local);
    assert_eq!(registry.route("post").await.unwrap(), Route::Local);
    let route = registry.route("infer").await.unwrap();
    assert_eq!(
        route,
        Route::Remote(Arc::new(RemoteRoute {
            resource: "gpu".into(),
            endpoint_url: "https://api.runpod.ai/v2/gpu-1".into(),
            kind: RemoteKind::Queue {
                discriminate: false
            },
            by_name: None,
        }))
    );
    let Route::Remote(lb) = registry.route("item").await.unwrap() else {
        panic!("item is remote")
    };
    assert_eq!(
        lb.kind,
        RemoteKind::LoadBalanced {
            method: HttpMethod::Get,
            path: "/items/{id}".into()
        }
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn endpoint_id_identity_resolves_to_its_resource() {
    let source = Arc::new(FakeSource::default());
    let clock = Arc::new(ManualClock::new());
    let registry = registry_as("ep-cpu", &source, &clock);
    assert_eq!(registry.current_resource(), Some("cpu"));
    assert_eq!(registry.route("prep").await.unwrap(), Route::Local);
}

#[tokio::test]
async fn unknown_functions_run_locally_unless_strict() {
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("cpu")
        .build()
        .expect("valid manifest");
    assert_eq!(
        registry.route("not_in_manifest").await.unwrap(),
        Route::Local
    );
    assert_eq!(
        registry.route("not_in_manifest").await.unwrap(),
        Route::Local
    );
    let strict = ServiceRegistry::builder()
        .manifest(manifest())
        .strict(true)
        .build()
        .expect("valid manifest");
    let error = strict.route("not_in_manifest").await.unwrap_err();
    assert!(
        matches!(&error, FlashError::Routing(e) if matches!(e.kind(), RoutingErrorKind::UnknownFunction) && e.function() == "not_in_manifest"),
        "{error}"
    );
}

#[tokio::test]
async fn without_a_manifest_everything_is_local() {
    let registry = ServiceRegistry::builder()
        .identity("cpu")
        .build()
        .expect("valid manifest");
    assert_eq!(registry.route("infer").await.unwrap(), Route::Local);
}

#[tokio::test]
async fn a_resource_that_makes_no_remote_calls_never_fetches() {
    let source = Arc::new(FakeSource::default());
    let clock = Arc::new(ManualClock::new());
    let registry = registry_as("gpu", &source, &clock);
    assert_eq!(registry.route("infer").await.unwrap(), Route::Local);
    let error = registry.route("prep").await.unwrap_err();
    assert!(
        matches!(&error, FlashError::Routing(e) if matches!(e.kind(), RoutingErrorKind::RemoteCallsDisabled { resource } if resource == "gpu")),
        "{error}"
    );
    assert!(
        error.to_string().contains("makes no remote calls"),
        "{error}"
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn remote_call_without_environment_is_a_typed_error() {
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("cpu")
        .build()
        .expect("valid manifest");
    let error = registry.route("infer").await.unwrap_err();
    assert!(
        matches!(&error, FlashError::Routing(e) if matches!(e.kind(), RoutingErrorKind::NoEnvironment) && e.function() == "infer" && e.owner() == Some("gpu")),
        "{error}"
    );
}

#[tokio::test]
async fn ttl_expiry_refreshes_in_the_background_and_serves_stale_meanwhile() {
    let source = Arc::new(FakeSource::default());
    let clock = Arc::new(ManualClock::new());
    let registry = registry_as("cpu", &source, &clock);
    assert_eq!(
        url(&registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu-1"
    );
    clock.advance(Duration::from_secs(299));
    assert_eq!(
        url(&registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu-1"
    );
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(1));
    // Stale: this caller gets the old URL at once; the refresh runs behind it.
    assert_eq!(
        url(&registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu-1"
    );
    wait_for_fetches(&source, 2).await;
    tokio::task::yield_now().await;
    assert_eq!(
        url(&registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu-2"
    );
}

async fn wait_for_fetches(source: &FakeSource, n: usize) {
    for _ in 0..1000 {
        if source.fetches.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!(
        "expected {n} fetches, saw {}",
        source.fetches.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_cold_lookups_share_one_fetch() {
    let source = Arc::new(FakeSource {
        delay: Some(Duration::from_millis(50)),
        ..Default::default()
    });
    let clock = Arc::new(ManualClock::new());
    let registry = Arc::new(registry_as("cpu", &source, &clock));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let function = if i % 2 == 0 { "infer" } else { "classify" };
                registry.route(function).await
            })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap().unwrap(), Route::Remote(_)));
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn outage_keeps_stale_urls_backs_off_and_recovers() {
    let source = Arc::new(FakeSource::default());
    let clock = Arc::new(ManualClock::new());
    let registry = registry_as("cpu", &source, &clock);
    registry.route("infer").await.unwrap();
    source.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(301));
    for _ in 0..50 {
        assert_eq!(
            url(&registry.route("infer").await.unwrap()),
            "https://api.runpod.ai/v2/gpu-1"
        );
        tokio::task::yield_now().await;
    }
    // One failed background refresh, then backoff: no request per call.
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    clock.advance(Duration::from_secs(1));
    registry.route("infer").await.unwrap();
    wait_for_fetches(&source, 3).await;
    source.down.store(false, Ordering::SeqCst);
    // Second failure doubled the backoff to 2 s.
    clock.advance(Duration::from_secs(1));
    registry.route("infer").await.unwrap();
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
    clock.advance(Duration::from_secs(1));
    registry.route("infer").await.unwrap();
    wait_for_fetches(&source, 4).await;
    tokio::task::yield_now().await;
    assert_eq!(
        url(&registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu-4"
    );
}

#[tokio::test]
async fn cold_cache_with_state_manager_down_is_manifest_service_unavailable() {
    let source = Arc::new(FakeSource::default());
    source.down.store(true, Ordering::SeqCst);
    let clock = Arc::new(ManualClock::new());
    let registry = registry_as("cpu", &source, &clock);
    let error = registry.route("infer").await.unwrap_err();
    let FlashError::Routing(unavailable) = &error else {
        panic!("wrong error: {error}")
    };
    assert!(
        matches!(
            unavailable.kind(),
            RoutingErrorKind::ManifestServiceUnavailable {
                backing_off: false,
                ..
            }
        ),
        "{error}"
    );
    assert!(unavailable.is_transient());
    assert_eq!(unavailable.function(), "infer");
    assert_eq!(unavailable.owner(), Some("gpu"));
    assert_eq!(unavailable.environment_id(), Some("env-1"));
    assert_eq!(
        unavailable.state_manager_error().and_then(|e| e.status()),
        Some(503)
    );
    // The typed cause is the error's source.
    let cause = std::error::Error::source(unavailable).expect("a source");
    assert!(cause.downcast_ref::<StateManagerError>().is_some());
    assert!(error.to_string().contains("HTTP 503"), "{error}");
    // Backing off: the next calls fail fast without a request.
    for _ in 0..10 {
        assert!(registry.route("infer").await.is_err());
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    // An explicit refresh ignores the backoff.
    source.down.store(false, Ordering::SeqCst);
    registry.refresh().await.unwrap();
    assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(
        url(&registry.route("infer").await.unwrap()),
        "https://api.runpod.ai/v2/gpu-2"
    );
}

#[tokio::test]
async fn resource_missing_from_the_endpoint_map_is_no_endpoint() {
    struct Partial;
    impl EndpointSource for Partial {
        fn resources_endpoints<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, Result<IndexMap<String, String>, StateManagerError>> {
            Box::pin(async {
                Ok(IndexMap::from([(
                    "api".to_owned(),
                    "https://x.api.runpod.ai".to_owned(),
                )]))
            })
        }
    }
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("cpu")
        .environment_id("env-1")
        .endpoint_source(Arc::new(Partial))
        .build()
        .expect("valid manifest");
    let error = registry.route("infer").await.unwrap_err();
    assert!(
        matches!(&error, FlashError::Routing(e) if matches!(e.kind(), RoutingErrorKind::NoEndpoint) && e.function() == "infer" && e.owner() == Some("gpu")),
        "{error}"
    );
}

#[tokio::test]
async fn dispatch_by_name_routes_every_peer_through_the_dispatcher_without_fetching() {
    let source = Arc::new(FakeSource::default());
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("cpu")
        .environment_id("env-1")
        .endpoint_source(Arc::clone(&source) as Arc<dyn EndpointSource>)
        // URLs first: the order of the two does not matter.
        .dispatch_urls("http://127.0.0.1:9/v2/", None)
        .dispatch_by_name("shop", "production")
        .build()
        .unwrap();
    let Route::Remote(queue) = registry.route("infer").await.unwrap() else {
        panic!("infer is remote")
    };
    assert_eq!(&*queue.endpoint_url, "http://127.0.0.1:9/v2/flash");
    assert_eq!(
        queue.dispatch_headers(),
        Some([
            ("X-Flash-App", "shop"),
            ("X-Flash-Environment", "production"),
            ("X-Flash-Endpoint", "gpu"),
        ])
    );
    let Route::Remote(lb) = registry.route("classify").await.unwrap() else {
        panic!("classify is remote")
    };
    // runpod 2.0's load-balanced dispatcher: the flash subdomain of the data plane's host,
    // `flash.localhost` for a loopback one (`client::dispatcher_url`).
    assert_eq!(&*lb.endpoint_url, "http://flash.localhost:9");
    assert_eq!(
        lb.dispatch_headers().unwrap()[2],
        ("X-Flash-Endpoint", "api")
    );
    assert_eq!(registry.route("prep").await.unwrap(), Route::Local);
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        0,
        "the State Manager is never asked"
    );
}

#[tokio::test]
async fn dispatch_by_name_without_an_app_name_refuses_peer_calls_naming_the_variable() {
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("cpu")
        .dispatch_by_name("", "production")
        .build()
        .unwrap();
    let error = registry.route("infer").await.unwrap_err();
    assert!(error.to_string().contains("FLASH_APP"), "{error}");
}
