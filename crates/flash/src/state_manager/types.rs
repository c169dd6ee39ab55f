//! What the State Manager returns, as public hand-written types.

use serde_json::Value;

use crate::manifest::Manifest;

/// A Flash environment: one deployment target of a Flash app (`dev`, `prod`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashEnvironment {
    /// Environment id.
    pub id: String,
    /// Environment name.
    pub name: Option<String>,
    /// Runpod's state of the environment (`HEALTHY`, `DEPLOYING`, ...), passed through verbatim.
    pub state: Option<String>,
    /// The build currently deployed to it; its manifest holds the endpoint URLs.
    pub active_build_id: Option<String>,
    /// Creation time, as Runpod formats it.
    pub created_at: Option<String>,
    /// The Runpod endpoints of this environment.
    pub endpoints: Vec<EnvironmentEndpoint>,
    /// The network volumes of this environment.
    pub network_volumes: Vec<EnvironmentNetworkVolume>,
}

/// A Runpod endpoint that belongs to a Flash environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentEndpoint {
    /// Endpoint id.
    pub id: String,
    /// Endpoint name.
    pub name: Option<String>,
}

/// A network volume that belongs to a Flash environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentNetworkVolume {
    /// Volume id.
    pub id: String,
    /// Volume name.
    pub name: Option<String>,
}

/// A Flash build and its stored manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct FlashBuild {
    /// Build id.
    pub id: String,
    /// The build's `flash_manifest.json` as raw JSON; `None` until one is written.
    ///
    /// Kept untyped so that a read-modify-write never drops fields this crate does not model.
    pub manifest: Option<Value>,
}

/// The manifest of an environment's active build, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedManifest {
    /// The active build the manifest was read from.
    pub build_id: String,
    /// Its manifest.
    pub manifest: Manifest,
}
