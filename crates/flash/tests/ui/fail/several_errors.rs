use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

// Every problem is reported in one compile.
#[remote(API, method = "FETCH", path = "/execute/{id}", retries = 3)]
fn item(name: &str) -> Result<String, FlashError> {
    Ok(name.to_owned())
}

fn main() {
    let _ = item("x");
}
