use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
fn infer(prompt: String) -> Result<String, FlashError> {
    Ok(prompt)
}

fn main() {
    // The original function is still emitted: this call adds no error of its own.
    let _ = infer("x".into());
}
