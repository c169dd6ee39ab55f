//! Streaming `#[remote]` functions over real HTTP on 127.0.0.1: the caller's stub against the
//! worker runtime's own load-balanced router (the answer a deployed worker gives), and against
//! a server that breaks the stream off; plus mocks and the local path. The queue path (job-stream
//! posts, `/stream` reads, cancel) runs against the emulator in `tests/examples.rs`; here only
//! its reads by name against a dispatcher slow to know the job.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::ServiceRegistry;
use runpod_flash::testing::{Mocks, StaticEndpoints};
use runpod_flash::worker::{FunctionTable, lb_router};
use runpod_flash::{Error, FlashError, Resource, Stream, remote};
use serde::{Deserialize, Serialize};
use serde_json::json;

const API: Resource = Resource::load_balanced("stream-api");
const BROKEN: Resource = Resource::load_balanced("stream-broken");
const GPU: Resource = Resource::queue("stream-gpu");

const PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
enum CountError {
    #[error("{0} is unlucky")]
    Unlucky(u32),
}

/// Items produced so far by `tick`: how a test sees the producer stop.
static TICKS: AtomicU32 = AtomicU32::new(0);

/// 1..=n, one every [`PAUSE`]; `unlucky` ends the stream with a typed error.
#[remote(API, method = "POST", path = "/count")]
fn count(n: u32, unlucky: Option<u32>) -> impl Stream<Item = Result<u32, Error<CountError>>> {
    futures_util::stream::iter(1..=n).then(move |i| async move {
        tokio::time::sleep(PAUSE).await;
        if Some(i) == unlucky {
            return Err(Error::App(CountError::Unlucky(i)));
        }
        Ok(i)
    })
}

/// 1..=n, one every [`PAUSE`], each counted in [`TICKS`] as it is produced.
#[remote(API, method = "POST", path = "/tick")]
fn tick(n: u32) -> impl Stream<Item = Result<u32, FlashError>> {
    futures_util::stream::iter(1..=n).then(|i| async move {
        tokio::time::sleep(PAUSE).await;
        TICKS.fetch_add(1, Ordering::SeqCst);
        Ok(i)
    })
}

/// Served by a server that stops after two items, without the end event.
#[remote(BROKEN, method = "POST", path = "/broken")]
fn broken() -> impl Stream<Item = Result<u32, FlashError>> {
    futures_util::stream::iter([Ok(1)])
}

#[remote(GPU)]
fn letters(word: String) -> impl Stream<Item = Result<char, FlashError>> {
    futures_util::stream::iter(word.chars().map(Ok).collect::<Vec<_>>())
}

/// The worker runtime's server, as a load-balanced worker serves its routes.
async fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    let limits = runpod_flash::http_server::Limits::default();
    runpod_flash::http_server::serve(listener, router, limits, std::future::pending())
        .await
        .unwrap();
}

fn manifest() -> Manifest {
    serde_json::from_value(json!({
        "resources": {
            "caller": {"functions": [], "makes_remote_calls": true},
            "stream-api": {"is_load_balanced": true, "functions": [
                {"name": "count", "http_method": "POST", "http_path": "/count"},
                {"name": "tick", "http_method": "POST", "http_path": "/tick"}]},
            "stream-broken": {"is_load_balanced": true, "functions": [
                {"name": "broken", "http_method": "POST", "http_path": "/broken"}]},
            "stream-gpu": {"functions": [{"name": "letters"}]}
        },
        "function_registry": {"count": "stream-api", "tick": "stream-api", "broken": "stream-broken",
                              "letters": "stream-gpu"}
    }))
    .unwrap()
}

/// The worker's load-balanced router for `stream-api` and a breaking server for
/// `stream-broken`, both on 127.0.0.1, and mocks routing the caller's calls to them.
async fn start() -> Mocks {
    let worker = lb_router(&FunctionTable::for_resource("stream-api"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, worker));
    let breaking = axum::Router::new().route(
        "/broken",
        axum::routing::post(|| async {
            (
                [("content-type", "text/event-stream")],
                "data: 1\n\ndata: 2\n\n",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broken = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, breaking));
    routed_to([("stream-api", api), ("stream-broken", broken)])
}

#[tokio::test]
async fn items_arrive_as_they_are_produced() {
    let mocks = start().await;
    mocks
        .run(async {
            let started = Instant::now();
            let mut items = count(5, None);
            assert_eq!(items.next().await.unwrap().unwrap(), 1);
            let first = started.elapsed();
            let rest: Vec<u32> = items.map(Result::unwrap).collect().await;
            let last = started.elapsed();
            assert_eq!(rest, [2, 3, 4, 5]);
            // Four more pauses of 100 ms separate the first item from the last.
            assert!(
                last - first >= Duration::from_millis(300),
                "first at {first:?}, last at {last:?}: not streamed"
            );
        })
        .await;
}

#[tokio::test]
async fn an_error_mid_stream_reaches_the_caller_typed_and_ends_it() {
    let mocks = start().await;
    let got: Vec<_> = mocks.run(count(5, Some(3)).collect()).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        matches!(got[0], Ok(1)) && matches!(got[1], Ok(2)),
        "{got:?}"
    );
    assert!(
        matches!(got[2], Err(Error::App(CountError::Unlucky(3)))),
        "{got:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_stops_the_producer() {
    let mocks = start().await;
    mocks
        .run(async {
            let mut items = tick(20);
            assert_eq!(items.next().await.unwrap().unwrap(), 1);
            assert_eq!(items.next().await.unwrap().unwrap(), 2);
        })
        .await;
    tokio::time::sleep(PAUSE * 6).await;
    // An unstopped producer makes six more in that time.
    let produced = TICKS.load(Ordering::SeqCst);
    assert!(
        produced <= 3,
        "{produced} items produced; the caller let go at 2"
    );
}

#[tokio::test]
async fn the_callers_deadline_ends_the_stream_with_its_error() {
    let mocks = start().await;
    let started = Instant::now();
    let got: Vec<_> = mocks
        .run(runpod_flash::call::with_deadline(
            Duration::from_millis(350),
            count(20, None).collect::<Vec<_>>(),
        ))
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "ended after {took:?}");
    let (last, items) = got.split_last().unwrap();
    assert!(
        items.iter().all(Result::is_ok) && items.len() <= 3,
        "{got:?}"
    );
    let Err(Error::Flash(error)) = last else {
        panic!("{got:?}")
    };
    assert!(error.to_string().contains("deadline passed"), "{error}");
}

#[tokio::test]
async fn a_stream_cut_off_before_its_end_event_is_an_error_not_a_short_answer() {
    let mocks = start().await;
    let got: Vec<_> = mocks.run(broken().collect()).await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap(), &1);
    assert_eq!(got[1].as_ref().unwrap(), &2);
    let error = got[2].as_ref().unwrap_err().to_string();
    assert!(error.contains("cut off before its end event"), "{error}");
}

/// A queue endpoint that queues `j1`, streams one chunk, then nothing (the job runs on), and
/// counts `/run` and `/cancel` requests.
async fn queue_endpoint() -> (String, Arc<AtomicU32>, Arc<AtomicU32>) {
    let (runs, cancels, reads) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    let (r, c) = (Arc::clone(&runs), Arc::clone(&cancels));
    let endpoint = axum::Router::new()
        .route(
            "/v2/ep/run",
            axum::routing::post(move || {
                r.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"id": "j1", "status": "IN_QUEUE"})) }
            }),
        )
        .route(
            "/v2/ep/stream/j1",
            axum::routing::get(move || {
                let first = reads.fetch_add(1, Ordering::SeqCst) == 0;
                let stream = if first {
                    json!([{"output": "a"}])
                } else {
                    json!([])
                };
                async move { axum::Json(json!({"status": "IN_PROGRESS", "stream": stream})) }
            }),
        )
        .route(
            "/v2/ep/cancel/j1",
            axum::routing::post(move || {
                c.fetch_add(1, Ordering::SeqCst);
                async { axum::Json(json!({"id": "j1", "status": "CANCELLED"})) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v2/ep", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, endpoint));
    (url, runs, cancels)
}

/// Mocks routing the caller's calls to the endpoints at `urls` (resource, URL).
fn routed_to<const N: usize>(urls: [(&str, String); N]) -> Mocks {
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("caller")
        .environment_id("env")
        .endpoint_source(Arc::new(StaticEndpoints::new(urls)))
        .build()
        .unwrap();
    Mocks::new().registry(registry)
}

/// Held by the tests that set the process's peer settings (the key), so none sees another's.
static PEER_SETTINGS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn queue_streams_need_a_key_and_are_cancelled_before_the_caller_moves_on() {
    let _settings = PEER_SETTINGS.lock().await;
    // Without a key: nothing is queued.
    runpod_flash::call::configure(runpod_flash::call::PeerConfig::default());
    let (url, runs, _) = queue_endpoint().await;
    let got: Vec<_> = routed_to([("stream-gpu", url)])
        .run(letters("abc".into()).collect())
        .await;
    assert_eq!(got.len(), 1, "{got:?}");
    let error = got[0].as_ref().unwrap_err().to_string();
    assert!(error.contains("no API key"), "{error}");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a job was queued");

    runpod_flash::call::configure(runpod_flash::call::PeerConfig {
        api_key: runpod_flash::ApiKey::new("stream-test-key"),
        ..runpod_flash::call::PeerConfig::default()
    });
    // `cancel()` returns once the endpoint has the cancel.
    let (url, runs, cancels) = queue_endpoint().await;
    routed_to([("stream-gpu", url)])
        .run(async {
            let mut stream = letters("abc".into());
            assert_eq!(stream.next().await.unwrap().unwrap(), 'a');
            stream.cancel().await;
        })
        .await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        cancels.load(Ordering::SeqCst),
        1,
        "cancel() returned before it was sent"
    );

    // A passed deadline: the cancel is sent before the error reaches the caller.
    let (url, _, cancels) = queue_endpoint().await;
    let got: Vec<_> = routed_to([("stream-gpu", url)])
        .run(runpod_flash::call::with_deadline(
            Duration::from_millis(300),
            letters("abc".into()).collect::<Vec<_>>(),
        ))
        .await;
    assert_eq!(cancels.load(Ordering::SeqCst), 1, "{got:?}");
    assert!(matches!(got[..], [Ok('a'), Err(_)]), "{got:?}");
}

#[tokio::test]
async fn bad_arguments_are_refused_before_the_stream_starts() {
    let worker = lb_router(&FunctionTable::for_resource("stream-api"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/count", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, worker));
    let answer = reqwest::Client::new()
        .post(&url)
        .json(&json!({"n": "three"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_type"], "ArgumentError", "{body}");
}

#[tokio::test]
async fn mocks_answer_streaming_functions() {
    let mocks = Mocks::new()
        .yields::<letters>(vec!['o', 'k'])
        .on_stream::<count, _>(|(n, _)| {
            futures_util::stream::iter([Ok(n), Err(Error::App(CountError::Unlucky(n))), Ok(0)])
        });
    let (word, counted) = mocks
        .run(async {
            let word: String = letters("ignored".into())
                .map(Result::unwrap)
                .collect()
                .await;
            let counted: Vec<_> = count(7, None).collect().await;
            (word, counted)
        })
        .await;
    assert_eq!(word, "ok");
    assert_eq!(counted.len(), 2, "a mocked stream also ends at its error");
    assert_eq!(mocks.calls::<letters>()[0]["word"], "ignored");

    // Without mocks (and no manifest naming it), the body runs here.
    let local: String = Mocks::new()
        .run(letters("abc".into()).map(Result::unwrap).collect())
        .await;
    assert_eq!(local, "abc");
}

#[tokio::test]
async fn a_worker_collects_a_streaming_functions_items_as_its_result() {
    let meta = runpod_flash::call::function("count").unwrap();
    assert!(meta.is_streaming());
    let args = json!({"n": 3, "unlucky": null});
    let collected = meta
        .invoke(args.as_object().unwrap().clone())
        .await
        .unwrap();
    assert_eq!(collected, json!([1, 2, 3]));
    let failing = json!({"n": 3, "unlucky": 2});
    let error = meta
        .invoke(failing.as_object().unwrap().clone())
        .await
        .unwrap_err();
    assert!(format!("{error:?}").contains("Unlucky"), "{error:?}");
}

/// A Flash dispatcher whose `/stream` does not know the job for its first `misses` reads (a
/// job just submitted by name, not yet propagated), then has all of it, then nothing more (a
/// read returns the chunks since the previous one); counting the reads.
async fn late_dispatcher(misses: u32) -> (String, Arc<AtomicU32>) {
    use axum::response::IntoResponse as _;
    let reads = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&reads);
    let app = axum::Router::new()
        .route(
            "/v2/{endpoint}/run",
            axum::routing::post(|| async { axum::Json(json!({"id": "j1", "status": "IN_QUEUE"})) }),
        )
        .route(
            "/v2/{endpoint}/stream/{job}",
            axum::routing::get(move || {
                let read = counter.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if read <= misses {
                        return (axum::http::StatusCode::NOT_FOUND, "job not found")
                            .into_response();
                    }
                    let stream = if read == misses + 1 {
                        json!([{"output": "o"}, {"output": "k"}])
                    } else {
                        json!([])
                    };
                    axum::Json(json!({"status": "COMPLETED", "stream": stream})).into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, reads)
}

#[tokio::test]
async fn by_name_a_queue_streams_404_is_asked_again_as_runpod_2_asks() {
    let _settings = PEER_SETTINGS.lock().await;
    runpod_flash::call::configure(runpod_flash::call::PeerConfig {
        api_key: runpod_flash::ApiKey::new("stream-test-key"),
        ..runpod_flash::call::PeerConfig::default()
    });
    let (base, reads) = late_dispatcher(1).await;
    let registry = ServiceRegistry::builder()
        .manifest(manifest())
        .identity("caller")
        .dispatch_by_name("shop", "production")
        .dispatch_urls(format!("{base}/v2"), None)
        .build()
        .unwrap();
    let got: Vec<_> = Mocks::new()
        .registry(registry)
        .run(letters("ok".into()).collect())
        .await;
    assert!(matches!(&got[..], [Ok('o'), Ok('k')]), "{got:?}");
    assert_eq!(
        reads.load(Ordering::SeqCst),
        3,
        "one 404, the chunks, the end"
    );

    // By id, the 404 is final.
    let (base, reads) = late_dispatcher(1).await;
    let got: Vec<_> = routed_to([("stream-gpu", format!("{base}/v2/ep1"))])
        .run(letters("ok".into()).collect())
        .await;
    assert!(matches!(&got[..], [Err(_)]), "{got:?}");
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}
