use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

#[remote(API, method = "GET", path = "/items/{id}")]
async fn item(item_id: u64) -> Result<String, FlashError> {
    Ok(item_id.to_string())
}

fn main() {}
