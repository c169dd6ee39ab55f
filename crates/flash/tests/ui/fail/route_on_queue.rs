use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU, method = "POST", path = "/infer")]
async fn infer(prompt: String) -> Result<String, FlashError> {
    Ok(prompt)
}

fn main() {}
