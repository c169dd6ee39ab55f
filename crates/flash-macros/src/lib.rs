//! The `#[remote]` attribute of [runpod-flash](https://docs.rs/runpod-flash).
//!
//! This crate is a thin shim: parsing, validation and code generation live in `flash-codegen`,
//! where they are unit-tested and shared with the `flash` CLI. Use the attribute through its
//! re-export, `runpod_flash::remote`, whose documentation describes it.

use proc_macro::TokenStream;

/// Turns an `async fn` into a function that runs here or on the Runpod endpoint that owns it.
/// See `runpod_flash::remote` for the full documentation.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    flash_codegen::expand_remote(attr.into(), item.into()).into()
}
