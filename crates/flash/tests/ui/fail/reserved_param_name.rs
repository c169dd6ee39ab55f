use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn infer(__empty: bool, prompt: String) -> Result<String, FlashError> {
    let _ = __empty;
    Ok(prompt)
}

fn main() {
    let _ = infer(true, String::new());
}
