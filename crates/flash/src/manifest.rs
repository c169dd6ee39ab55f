//! `flash_manifest.json`: types, where it is found, and validation.
//!
//! The manifest says which resource (Runpod endpoint) owns which function. Every process of a
//! Flash app reads the same one; after deploy the State Manager's copy also carries
//! `resources_endpoints`, the URL of each resource.

mod types;

pub use types::{FunctionEntry, Manifest, NetworkVolume, ResourceConfig, TemplateConfig};
