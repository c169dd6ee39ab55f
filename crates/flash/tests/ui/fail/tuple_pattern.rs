use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn add((a, b): (u32, u32), _: u32) -> Result<u32, FlashError> {
    Ok(a + b)
}

fn main() {
    let _ = add((1, 2), 3);
}
