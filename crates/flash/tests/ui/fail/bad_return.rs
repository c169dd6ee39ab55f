use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

#[remote(GPU)]
async fn not_a_result(x: u32) -> u32 {
    x
}

#[remote(GPU)]
async fn string_error(x: u32) -> Result<u32, String> {
    Ok(x)
}

struct Opaque;

#[remote(GPU)]
async fn opaque_ok(x: u32) -> Result<Opaque, FlashError> {
    let _ = x;
    Ok(Opaque)
}

fn main() {}
