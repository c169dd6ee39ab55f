//! A stateful function: the `#[state]` parameter is built once and left out of the signature.

use std::sync::atomic::{AtomicUsize, Ordering};

use runpod_flash::{BoxError, FlashError, Resource, WorkerState, remote};

const GPU: Resource = Resource::queue("gpu");

static BUILT: AtomicUsize = AtomicUsize::new(0);

struct Model {
    words: Vec<String>,
}

impl WorkerState for Model {
    async fn init() -> Result<Self, BoxError> {
        BUILT.fetch_add(1, Ordering::SeqCst);
        Ok(Model { words: vec!["hello".into(), "world".into()] })
    }
}

#[remote(GPU)]
async fn word(#[state] model: &Model, i: usize) -> Result<String, FlashError> {
    Ok(model.words.get(i).cloned().unwrap_or_default())
}

#[remote(GPU)]
async fn count(#[state] model: &Model) -> Result<usize, FlashError> {
    Ok(model.words.len())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(word(1)).unwrap(), "world");
    assert_eq!(runtime.block_on(count()).unwrap(), 2);
    assert_eq!(BUILT.load(Ordering::SeqCst), 1);
    let meta = <word as runpod_flash::call::RemoteFunction>::META;
    assert_eq!(meta.params(), ["i"]);
    assert_eq!(meta.state(), Some("Model"));
}
