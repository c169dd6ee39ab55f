use runpod_flash::{BoxError, FlashError, Resource, WorkerState, remote};

const GPU: Resource = Resource::queue("gpu");

struct Model;

impl WorkerState for Model {
    async fn init() -> Result<Self, BoxError> {
        Ok(Model)
    }
}

#[remote(GPU)]
async fn not_first(i: usize, #[state] model: &Model) -> Result<usize, FlashError> {
    let _ = model;
    Ok(i)
}

#[remote(GPU)]
async fn not_a_reference(#[state] model: Model, i: usize) -> Result<usize, FlashError> {
    let _ = model;
    Ok(i)
}

#[remote(GPU)]
async fn mutable(#[state] model: &mut Model, i: usize) -> Result<usize, FlashError> {
    let _ = model;
    Ok(i)
}

fn main() {}
