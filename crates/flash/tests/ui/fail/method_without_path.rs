use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

#[remote(API, method = "GET")]
async fn items() -> Result<Vec<String>, FlashError> {
    Ok(Vec::new())
}

#[remote(API, path = "/things")]
async fn things() -> Result<Vec<String>, FlashError> {
    Ok(Vec::new())
}

fn main() {}
