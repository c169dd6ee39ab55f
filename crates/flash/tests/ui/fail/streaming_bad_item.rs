use runpod_flash::{Resource, Stream, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
fn tokens(prompt: String) -> impl Stream<Item = String> {
    futures_util::stream::iter([prompt])
}

fn main() {}
