//! Parsing, validation and code generation for runpod-flash's `#[remote]` attribute.
//!
//! Kept out of the proc-macro crate so it can be unit-tested (the expansion is snapshotted) and
//! reused by the `flash` CLI's source scanner. [`parse_remote`] reads an attribute and its
//! function into a [`RemoteFn`]; [`expand_remote`] is the whole macro.

mod expand;
mod parse;

pub use expand::expand_remote;
pub use parse::{RemoteFn, RouteSpec, StateParam, parse_remote};
