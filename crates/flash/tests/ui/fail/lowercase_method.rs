use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

#[remote(API, method = "post", path = "/items")]
async fn create(name: String) -> Result<String, FlashError> {
    Ok(name)
}

fn main() {}
