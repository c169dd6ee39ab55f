//! `#[remote]` functions with no manifest: calls run the body here, the function table lists
//! them with their metadata, `invoke` runs them from JSON, and `testing::Mocks` overrides them.
//!
//! Cargo runs integration tests with the crate directory as working directory, which holds no
//! `flash_manifest.json` (nor does the test executable's directory), so the default registry
//! finds no manifest and routes every function locally.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use runpod_flash::call::{self, FunctionMeta, InvokeError, RemoteFunction, WireError};
use runpod_flash::error::RoutingErrorKind;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::{HttpMethod, ServiceRegistry};
use runpod_flash::testing::Mocks;
use runpod_flash::{BoxError, Error, FlashError, Resource, WorkerState, remote};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

const GPU: Resource = Resource::queue("gpu").workers(0, 3);
const API: Resource = Resource::load_balanced("api");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum MyErr {
    NotFound(u64),
}

impl fmt::Display for MyErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(id) => write!(f, "item {id} not found"),
        }
    }
}

static MODELS_BUILT: AtomicUsize = AtomicUsize::new(0);

struct Model {
    words: Vec<String>,
}

impl WorkerState for Model {
    async fn init() -> Result<Self, BoxError> {
        MODELS_BUILT.fetch_add(1, Ordering::SeqCst);
        Ok(Self {
            words: vec!["hello".into(), "world".into()],
        })
    }
}

/// Repeats the prompt.
#[remote(GPU)]
async fn infer(prompt: String, n: u32) -> Result<Vec<String>, FlashError> {
    Ok(vec![prompt; n as usize])
}

#[remote(API, method = "GET", path = "/items/{id}")]
async fn item(id: u64, verbose: bool) -> Result<String, Error<MyErr>> {
    if id == 0 {
        return Err(Error::App(MyErr::NotFound(id)));
    }
    Ok(if verbose {
        format!("item {id} (verbose)")
    } else {
        format!("item {id}")
    })
}

#[remote(GPU)]
async fn word(#[state] model: &Model, i: usize) -> Result<String, FlashError> {
    Ok(model.words.get(i).cloned().unwrap_or_default())
}

#[remote(GPU)]
async fn version() -> Result<u32, FlashError> {
    Ok(3)
}

mod stages {
    use runpod_flash::{FlashError, remote};

    #[remote(super::GPU)]
    pub async fn tokenize(text: String, limit: Option<usize>) -> Result<Vec<String>, FlashError> {
        let words = text.split_whitespace().map(str::to_owned);
        Ok(words.take(limit.unwrap_or(usize::MAX)).collect())
    }
}

use stages::tokenize;

fn args(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn invoke(meta: &FunctionMeta, value: Value) -> Result<Value, InvokeError> {
    meta.invoke(args(value)).await
}

fn bad_arguments(result: Result<Value, InvokeError>) -> (Option<String>, String) {
    match result {
        Err(InvokeError::BadArguments(error)) => (error.parameter, error.message),
        other => panic!("expected bad arguments, got {other:?}"),
    }
}

#[tokio::test]
async fn calls_run_the_body_locally() {
    assert_eq!(infer("hi".into(), 2).await.unwrap(), ["hi", "hi"]);
    // Twice: the second call takes the cached local decision.
    assert_eq!(infer("yo".into(), 1).await.unwrap(), ["yo"]);
    assert_eq!(item(7, true).await.unwrap(), "item 7 (verbose)");
    assert!(matches!(
        item(0, false).await,
        Err(Error::App(MyErr::NotFound(0)))
    ));
    assert_eq!(version().await.unwrap(), 3);
    assert_eq!(tokenize("a b c".into(), Some(2)).await.unwrap(), ["a", "b"]);
    assert_eq!(word(1).await.unwrap(), "world");
    assert_eq!(word(0).await.unwrap(), "hello");
    assert_eq!(MODELS_BUILT.load(Ordering::SeqCst), 1);
    let registry = call::registry().unwrap();
    assert!(registry.manifest().is_none());
}

#[test]
fn the_function_table_lists_every_function() {
    let functions = call::functions();
    let names: Vec<_> = functions.iter().map(|meta| meta.name()).collect();
    assert_eq!(names, ["infer", "item", "tokenize", "version", "word"]);

    let infer_meta = call::function("infer").unwrap();
    assert!(std::ptr::eq(infer_meta, <infer as RemoteFunction>::META));
    assert_eq!(infer_meta.resource().name(), "gpu");
    assert!(!infer_meta.resource().is_load_balanced());
    assert_eq!(infer_meta.params(), ["prompt", "n"]);
    assert_eq!(infer_meta.route(), None);
    assert_eq!(infer_meta.state(), None);
    assert_eq!(infer_meta.module_path(), "remote_local");
    assert!(infer_meta.source().file.ends_with("remote_local.rs"));
    assert!(infer_meta.source().line > 0);

    let item_meta = call::function("item").unwrap();
    assert_eq!(item_meta.resource().name(), "api");
    assert!(item_meta.resource().is_load_balanced());
    assert_eq!(item_meta.params(), ["id", "verbose"]);
    let route = item_meta.route().unwrap();
    assert_eq!((route.method, route.path), (HttpMethod::Get, "/items/{id}"));

    let word_meta = call::function("word").unwrap();
    assert_eq!(word_meta.params(), ["i"]);
    assert_eq!(word_meta.state(), Some("Model"));

    let version_meta = call::function("version").unwrap();
    assert!(version_meta.params().is_empty());

    let tokenize_meta = call::function("tokenize").unwrap();
    assert_eq!(tokenize_meta.module_path(), "remote_local::stages");
    assert_eq!(tokenize_meta.params(), ["text", "limit"]);
    assert_eq!(tokenize_meta.resource().name(), "gpu");

    assert!(call::function("missing").is_none());
}

#[tokio::test]
async fn invoke_runs_functions_from_json() {
    let infer_meta = <infer as RemoteFunction>::META;
    assert_eq!(
        invoke(infer_meta, json!({"prompt": "a", "n": 3}))
            .await
            .unwrap(),
        json!(["a", "a", "a"])
    );
    // Reserved keys (trace context, discriminator, ...) are not arguments.
    assert_eq!(
        invoke(
            infer_meta,
            json!({"prompt": "b", "n": 1, "__flash_fn": "infer", "__flash_traceparent": "x"})
        )
        .await
        .unwrap(),
        json!(["b"])
    );
    let item_meta = <item as RemoteFunction>::META;
    assert_eq!(
        invoke(item_meta, json!({"id": 5, "verbose": false}))
            .await
            .unwrap(),
        json!("item 5")
    );
    // No arguments: `{}` or Runpod's `__empty` marker.
    let version_meta = <version as RemoteFunction>::META;
    assert_eq!(invoke(version_meta, json!({})).await.unwrap(), json!(3));
    assert_eq!(
        invoke(version_meta, json!({"__empty": true}))
            .await
            .unwrap(),
        json!(3)
    );
    // The state is built by the worker, never passed.
    let word_meta = <word as RemoteFunction>::META;
    assert_eq!(
        invoke(word_meta, json!({"i": 1})).await.unwrap(),
        json!("world")
    );
    // An `Option` parameter may be left out.
    let tokenize_meta = <tokenize as RemoteFunction>::META;
    assert_eq!(
        invoke(tokenize_meta, json!({"text": "x y"})).await.unwrap(),
        json!(["x", "y"])
    );
}

#[tokio::test]
async fn invoke_names_bad_arguments() {
    let infer_meta = <infer as RemoteFunction>::META;
    let (parameter, message) = bad_arguments(invoke(infer_meta, json!({"n": 1})).await);
    assert_eq!(parameter.as_deref(), Some("prompt"));
    assert_eq!(message, "missing");

    let (parameter, message) =
        bad_arguments(invoke(infer_meta, json!({"prompt": "a", "n": "three"})).await);
    assert_eq!(parameter.as_deref(), Some("n"));
    assert!(message.starts_with("wrong type: "), "{message}");

    let (parameter, message) = bad_arguments(
        invoke(
            infer_meta,
            json!({"prompt": "a", "n": 1, "temperature": 0.5}),
        )
        .await,
    );
    assert_eq!(parameter, None);
    assert_eq!(message, "unexpected argument(s): temperature");

    let version_meta = <version as RemoteFunction>::META;
    let (parameter, message) = bad_arguments(invoke(version_meta, json!({"x": 1})).await);
    assert_eq!(parameter, None);
    assert_eq!(message, "unexpected argument(s): x");

    match invoke(infer_meta, json!({"n": 1})).await {
        Err(InvokeError::BadArguments(error)) => {
            assert_eq!(error.to_string(), "argument `prompt` of `infer`: missing");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invoke_reports_typed_app_errors() {
    let item_meta = <item as RemoteFunction>::META;
    let error = match invoke(item_meta, json!({"id": 0, "verbose": true})).await {
        Err(InvokeError::Failed(error)) => error,
        other => panic!("expected a failure, got {other:?}"),
    };
    assert_eq!(error.error_type, "MyErr");
    assert_eq!(error.error_message, "item 0 not found");
    assert_eq!(error.app_error, Some(json!({"NotFound": 0})));
    // What the caller's side makes of it: the typed error back.
    let wire = WireError::parse(&serde_json::to_string(&error).unwrap());
    let back = <Error<MyErr> as call::RemoteError>::from_wire(&wire);
    assert!(matches!(back, Some(Error::App(MyErr::NotFound(0)))));
}

#[tokio::test]
async fn mocks_answer_record_and_run_locally() {
    let mocks = Mocks::new()
        .on::<infer, _>(|(prompt, n)| async move { Ok(vec![format!("{prompt}:{n}")]) })
        .returns::<version>(42)
        .local::<word>();
    let (a, b, c, d) = mocks
        .run(async {
            (
                infer("p".into(), 2).await.unwrap(),
                version().await.unwrap(),
                word(1).await.unwrap(),
                // Not mentioned: runs its own body.
                item(9, false).await.unwrap(),
            )
        })
        .await;
    assert_eq!(a, ["p:2"]);
    assert_eq!(b, 42);
    assert_eq!(c, "world");
    assert_eq!(d, "item 9");

    assert_eq!(
        mocks.calls::<infer>(),
        [args(json!({"prompt": "p", "n": 2}))]
    );
    assert_eq!(mocks.calls::<version>(), [Map::new()]);
    assert_eq!(mocks.calls::<word>(), [args(json!({"i": 1}))]);
    assert_eq!(
        mocks.calls::<item>(),
        [args(json!({"id": 9, "verbose": false}))]
    );
    assert!(mocks.calls::<tokenize>().is_empty());

    // Outside the scope, the real body again.
    assert_eq!(version().await.unwrap(), 3);
    assert_eq!(infer("q".into(), 1).await.unwrap(), ["q"]);
    assert_eq!(mocks.calls::<infer>().len(), 1);
}

/// The stub decides where a call runs at its first poll: a future made before a mock scope, of a
/// function whose local route is already cached, is still answered by the mock inside it.
#[tokio::test]
async fn a_future_made_before_the_scope_is_mocked_inside_it() {
    assert_eq!(version().await.unwrap(), 3, "cached as local");
    let call = version();
    let mocks = Mocks::new().returns::<version>(7);
    assert_eq!(mocks.run(call).await.unwrap(), 7);
    assert_eq!(mocks.calls::<version>().len(), 1);
    assert_eq!(version().await.unwrap(), 3);
}

#[tokio::test]
async fn mocks_can_return_typed_errors() {
    let mocks = Mocks::new()
        .on::<item, _>(|(id, _verbose)| async move { Err(Error::App(MyErr::NotFound(id + 1))) });
    let result = mocks.run(item(4, true)).await;
    assert!(matches!(result, Err(Error::App(MyErr::NotFound(5)))));
}

#[tokio::test]
async fn local_overrides_the_routing_of_a_mock_registry() {
    // A strict registry whose (empty) manifest knows none of the functions: every call it
    // routes fails, unless the mocks say to run it here.
    let registry = || {
        ServiceRegistry::builder()
            .manifest(Manifest::default())
            .identity("gpu")
            .strict(true)
            .build()
            .unwrap()
    };
    let routed = Mocks::new().registry(registry());
    match routed.run(version()).await {
        Err(FlashError::Routing(error))
            if matches!(error.kind(), RoutingErrorKind::UnknownFunction) =>
        {
            assert_eq!(error.function(), "version");
        }
        other => panic!("expected an unknown-function error, got {other:?}"),
    }
    assert_eq!(routed.calls::<version>().len(), 1);

    let local = Mocks::new().registry(registry()).local::<version>();
    assert_eq!(local.run(version()).await.unwrap(), 3);
    assert!(matches!(
        local.run(infer("x".into(), 1)).await,
        Err(FlashError::Routing(error)) if matches!(error.kind(), RoutingErrorKind::UnknownFunction)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_mock_scopes_do_not_see_each_other() {
    let barrier = Arc::new(Barrier::new(2));
    let scope = |answer: u32, tag: &'static str| {
        let barrier = Arc::clone(&barrier);
        tokio::spawn(async move {
            let mocks = Mocks::new().returns::<version>(answer).on::<infer, _>(
                move |(prompt, _)| async move { Ok(vec![format!("{tag}{prompt}")]) },
            );
            let seen = mocks
                .run(async {
                    let mut seen = Vec::new();
                    for round in 0..20 {
                        // Both scopes are open at once from here on.
                        if round == 0 {
                            barrier.wait().await;
                        }
                        seen.push(version().await.unwrap());
                        let out = infer(round.to_string(), 1).await.unwrap();
                        assert_eq!(out, [format!("{tag}{round}")]);
                        tokio::task::yield_now().await;
                    }
                    seen
                })
                .await;
            assert!(seen.iter().all(|&value| value == answer), "{seen:?}");
            assert_eq!(mocks.calls::<version>().len(), 20);
            assert_eq!(mocks.calls::<infer>().len(), 20);
            assert!(
                mocks
                    .calls::<infer>()
                    .iter()
                    .enumerate()
                    .all(|(round, call)| call["prompt"] == json!(round.to_string()))
            );
        })
    };
    let first = scope(1, "a:");
    let second = scope(2, "b:");
    first.await.unwrap();
    second.await.unwrap();
    // A task spawned outside any scope is not mocked.
    assert_eq!(tokio::spawn(version()).await.unwrap().unwrap(), 3);
}
