use std::rc::Rc;

use futures_util::StreamExt;

use runpod_flash::{FlashError, Resource, Stream, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
fn tokens(prompt: String) -> impl Stream<Item = Result<String, FlashError>> {
    let shared = Rc::new(prompt);
    futures_util::stream::iter([Ok(shared.to_string())]).map(move |item| {
        let _keep = &shared;
        item
    })
}

fn main() {}
