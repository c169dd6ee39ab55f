use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn infer<T: serde::Serialize>(value: T) -> Result<String, FlashError> {
    let _ = value;
    Ok(String::new())
}

#[remote(GPU)]
async fn bounded(value: String) -> Result<String, FlashError>
where
    String: Clone,
{
    Ok(value)
}

fn main() {
    let _ = infer(1u32);
    let _ = bounded(String::new());
}
