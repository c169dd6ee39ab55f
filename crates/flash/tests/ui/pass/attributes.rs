//! Doc comments and other attributes on a `#[remote]` function are kept: the stub and its handle
//! are documented (`missing_docs` is denied) and a lint `allow` still applies to the body.

#![deny(warnings, missing_docs)]

use runpod_flash::{FlashError, Resource, remote};

const GPU: Resource = Resource::queue("gpu");

/// Documented.
///
/// With several lines.
#[remote(GPU)]
#[allow(unused_variables, clippy::let_and_return)]
pub async fn documented(input: String) -> Result<u32, FlashError> {
    let unused = 1;
    let out = 2;
    Ok(out)
}

/// Another one, attribute order swapped.
#[allow(unused_mut)]
#[remote(GPU)]
pub async fn swapped(mut input: String) -> Result<String, FlashError> {
    Ok(input)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(documented("x".into())).unwrap(), 2);
    assert_eq!(runtime.block_on(swapped("y".into())).unwrap(), "y");
}
