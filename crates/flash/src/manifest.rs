//! `flash_manifest.json`: types, where it is found, and validation.
//!
//! The manifest says which resource (Runpod endpoint) owns which function. Every process of a
//! Flash app reads the same one; after deploy the State Manager's copy also carries
//! `resources_endpoints`, the URL of each resource.
//!
//! - [`Manifest::from_json_str`], [`Manifest::from_path`], [`Manifest::save`]: reading and
//!   (atomically) writing; a load + save keeps every key, known or not.
//! - [`discover`]: which file this process uses.
//! - [`ManifestDocument`]: the State Manager's copy as raw JSON, and the one place deploy outputs
//!   (`endpoint_id`, `deploy_hash`, `resources_endpoints`) and worker state are edited in it.
//! - [`Manifest::problems`], [`Manifest::validate`]: the consistency rules, every problem with
//!   its JSON path. Paths write a key as `.key` when it is an ASCII identifier
//!   (`[A-Za-z_][A-Za-z0-9_]*`) and as `["key"]` (a JSON string) otherwise, so
//!   `$.resources["gpu-worker"].functions[0].http_path`.

mod discover;
mod document;
mod json_path;
mod load;
mod types;
mod validate;

pub use discover::{LoadedManifest, discover, discover_in};
pub use document::{DEPLOY_OUTPUT_KEYS, ManifestDocument};
pub use types::{FunctionEntry, Manifest, NetworkVolume, ResourceConfig, TemplateConfig};
