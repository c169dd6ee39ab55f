//! A function without arguments.

use runpod_flash::{FlashError, Resource, remote};

const CPU: Resource = Resource::queue("cpu");

#[remote(CPU)]
async fn health() -> Result<String, FlashError> {
    Ok("ok".into())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(health()).unwrap(), "ok");
    assert!(<health as runpod_flash::call::RemoteFunction>::META.params().is_empty());
}
