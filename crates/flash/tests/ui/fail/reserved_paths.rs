use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

#[remote(API, method = "GET", path = "/ping")]
async fn ping() -> Result<String, FlashError> {
    Ok("pong".into())
}

#[remote(API, method = "POST", path = "/execute")]
async fn execute(code: String) -> Result<String, FlashError> {
    Ok(code)
}

#[remote(API, method = "GET", path = "/ping/")]
async fn ping_slash() -> Result<String, FlashError> {
    Ok("pong".into())
}

fn main() {}
