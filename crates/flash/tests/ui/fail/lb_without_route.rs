use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

#[remote(API)]
async fn items() -> Result<Vec<String>, FlashError> {
    Ok(Vec::new())
}

fn main() {}
