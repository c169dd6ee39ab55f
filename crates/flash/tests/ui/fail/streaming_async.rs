use runpod_flash::{FlashError, Resource, Stream, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn tokens(prompt: String) -> impl Stream<Item = Result<String, FlashError>> {
    futures_util::stream::iter([Ok(prompt)])
}

fn main() {}
