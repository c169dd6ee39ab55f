use runpod_flash::{FlashError, remote};

#[remote]
async fn infer(prompt: String) -> Result<String, FlashError> {
    Ok(prompt)
}

#[remote(method = "GET", path = "/items")]
async fn items() -> Result<Vec<String>, FlashError> {
    Ok(Vec::new())
}

fn main() {
    let _ = infer(String::new());
    let _ = items();
}
