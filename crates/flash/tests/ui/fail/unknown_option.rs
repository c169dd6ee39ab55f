use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU, timeout = 30)]
async fn infer(prompt: String) -> Result<String, FlashError> {
    Ok(prompt)
}

#[remote(GPU, retries(3))]
async fn other(prompt: String) -> Result<String, FlashError> {
    Ok(prompt)
}

fn main() {
    let _ = infer(String::new());
    let _ = other(String::new());
}
