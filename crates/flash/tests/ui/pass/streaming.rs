//! Streaming functions: plain `fn`s returning `impl Stream`, called like any other stub; the
//! stream ends at the first error, as it does from a worker.

use futures_util::StreamExt;
use runpod_flash::{BoxError, Error, FlashError, RemoteStream, Resource, Stream, WorkerState, remote};
use serde::{Deserialize, Serialize};

const GPU: Resource = Resource::queue("gpu");
const API: Resource = Resource::load_balanced("api");

#[derive(Debug, Serialize, Deserialize, thiserror::Error)]
#[error("too many")]
struct TooMany;

/// Counts to `n`, then fails if `fail` is set; nothing after the error is seen.
#[remote(GPU)]
fn count(n: u32, fail: bool) -> impl Stream<Item = Result<u32, Error<TooMany>>> {
    let tail = fail.then_some(Err(Error::App(TooMany)));
    futures_util::stream::iter((1..=n).map(Ok).chain(tail).chain([Ok(99)]))
}

struct Model {
    words: Vec<String>,
}

impl WorkerState for Model {
    async fn init() -> Result<Self, BoxError> {
        Ok(Model { words: vec!["hello".into(), "world".into()] })
    }
}

#[remote(GPU)]
fn words(#[state] model: &Model, take: usize) -> impl Stream<Item = Result<String, FlashError>> + Send {
    futures_util::stream::iter(model.words.iter().take(take).cloned().map(Ok))
}

#[remote(API, method = "POST", path = "/tokens")]
fn tokens(prompt: String) -> impl Stream<Item = Result<String, FlashError>> {
    futures_util::stream::iter(prompt.split(' ').map(str::to_owned).map(Ok).collect::<Vec<_>>())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let all: Vec<_> = count(3, false).collect().await;
        assert_eq!(all.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [1, 2, 3, 99]);
        let failing: Vec<_> = count(2, true).collect().await;
        assert_eq!(failing.len(), 3, "the stream ends at its error");
        assert!(matches!(failing[2], Err(Error::App(TooMany))));
        let stream: RemoteStream<Result<String, FlashError>> = words(5);
        let got: Vec<String> = stream.map(Result::unwrap).collect().await;
        assert_eq!(got, ["hello", "world"]);
        let got: Vec<String> = tokens("a b".into()).map(Result::unwrap).collect().await;
        assert_eq!(got, ["a", "b"]);
    });
    let meta = <count as runpod_flash::call::RemoteFunction>::META;
    assert!(meta.is_streaming());
    assert!(<words as runpod_flash::call::RemoteFunction>::META.route().is_none());
}
