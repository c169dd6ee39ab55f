use runpod_flash::{FlashError, Resource, remote};

const NOT_A_RESOURCE: &str = "gpu";

#[remote(NOT_DEFINED)]
async fn undefined() -> Result<Vec<String>, FlashError> {
    Ok(Vec::new())
}

#[remote(NOT_A_RESOURCE)]
async fn wrong_type() -> Result<Vec<String>, FlashError> {
    Ok(Vec::new())
}

fn main() {
    let _: Option<Resource> = None;
}
