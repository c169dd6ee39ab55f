//! # runpod-flash
//!
//! Distributed serverless functions on [Runpod](https://runpod.io), in Rust.
//!
//! A Flash app is a set of *resources* (Runpod endpoints), each owning some functions. Every
//! process of the app carries the same `flash_manifest.json`, which says which resource owns which
//! function. When code calls a function, the [`registry::ServiceRegistry`] decides whether it runs
//! here (this process *is* the owning resource, or the function is not in the manifest) or on the
//! peer endpoint that owns it, whose URL comes from the State Manager
//! ([`state_manager::StateManagerClient`]) and is cached under a TTL.
//!
//! This crate is the core runtime:
//!
//! - [`manifest`]: the manifest's serde types, where it is found, and its validation;
//! - [`registry`]: identity, function-to-route decisions and the endpoint cache;
//! - [`state_manager`]: the State Manager GraphQL client;
//! - [`client`]: a typed client of any Runpod endpoint (jobs, streams, progress, webhooks);
//! - [`error`]: one error hierarchy for all of it;
//! - [`config`]: the runtime's tunables (timeouts, retry and cache policy, limits);
//! - [`contract`]: the names every Flash crate shares (environment variables, file names, routes).

#[doc(hidden)]
pub mod __private;
mod backoff;
pub mod call;
pub mod client;
pub mod config;
pub mod error;
pub mod http_server;
pub mod manifest;
pub mod registry;
pub mod resource;
pub mod secret;
pub mod state_manager;
pub mod testing;
pub mod volume;
pub mod worker;
pub mod worker_state;

pub use call::{Error, RemoteStream};
pub use error::FlashError;
pub use flash_contract as contract;
pub use flash_macros::remote;
/// The trait a streaming `#[remote]` function returns (`impl Stream<Item = Result<T, E>>`), and
/// its stub's [`RemoteStream`] implements (read it with `futures::StreamExt`).
pub use futures_core::Stream;
pub use resource::Resource;
pub use secret::ApiKey;
pub use worker_state::{BoxError, WorkerState};

/// The user guide's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../../README.md")]
    struct Readme;
    #[doc = include_str!("../../../docs/getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../../../docs/concepts.md")]
    struct Concepts;
    #[doc = include_str!("../../../docs/configuration.md")]
    struct Configuration;
    #[doc = include_str!("../../../docs/errors.md")]
    struct Errors;
    #[doc = include_str!("../../../docs/testing.md")]
    struct Testing;
    #[doc = include_str!("../../../docs/client.md")]
    struct Client;
}
