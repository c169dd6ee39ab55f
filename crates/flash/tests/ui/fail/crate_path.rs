use runpod_flash::{FlashError, Resource, remote};

const CPU: Resource = Resource::queue("cpu");

// The path is used as given: one that does not resolve fails there, not at `::runpod_flash`.
#[remote(CPU, crate = "not_a_dependency")]
async fn unresolved(x: u64) -> Result<u64, FlashError> {
    Ok(x)
}

#[remote(CPU, crate = "not a path")]
async fn malformed(x: u64) -> Result<u64, FlashError> {
    Ok(x)
}

#[remote(CPU, crate = runpod_flash)]
async fn unquoted(x: u64) -> Result<u64, FlashError> {
    Ok(x)
}

fn main() {}
