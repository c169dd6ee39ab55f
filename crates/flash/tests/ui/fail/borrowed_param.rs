use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn greet(name: &str, tags: &mut Vec<String>) -> Result<String, FlashError> {
    let _ = tags;
    Ok(name.to_owned())
}

fn main() {}
