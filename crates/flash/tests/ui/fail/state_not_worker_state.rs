use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

struct Model;

#[remote(GPU)]
async fn word(#[state] model: &Model, i: usize) -> Result<usize, FlashError> {
    let _ = model;
    Ok(i)
}

fn main() {}
