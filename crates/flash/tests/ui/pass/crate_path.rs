//! `crate = "..."`: the generated code reaches runpod-flash through the path given, here a
//! re-export inside the user's crate, as a library that wraps runpod-flash would provide it.

mod deps {
    pub use runpod_flash as flash;
}

use deps::flash::{FlashError, Resource};

const CPU: Resource = Resource::queue("cpu");

#[deps::flash::remote(CPU, crate = "crate::deps::flash")]
async fn double(x: u64) -> Result<u64, FlashError> {
    Ok(x * 2)
}

const API: Resource = Resource::load_balanced("api");

#[deps::flash::remote(API, method = "GET", path = "/half/{x}", crate = "crate::deps::flash")]
async fn half(x: u64) -> Result<u64, FlashError> {
    Ok(x / 2)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(double(21)).unwrap(), 42);
    assert_eq!(runtime.block_on(half(8)).unwrap(), 4);
    assert_eq!(<double as deps::flash::call::RemoteFunction>::META.name(), "double");
}
