use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

struct Image {
    pixels: Vec<u8>,
}

#[derive(serde::Serialize)]
struct SerializeOnly {
    x: u32,
}

#[remote(GPU)]
async fn classify(label: String, image: Image, extra: SerializeOnly) -> Result<String, FlashError> {
    let _ = (image.pixels, extra.x);
    Ok(label)
}

fn main() {}
