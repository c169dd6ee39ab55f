//! File and directory names shared by `flash build`, `flash deploy`, the runtime's manifest
//! lookup, the boot step and the emulator.

/// The manifest's file name: at the artifact root, in `.flash/`, in a worker's working directory
/// or next to its executable.
pub const MANIFEST_FILE: &str = "flash_manifest.json";
/// The build artifact's file name in [`FLASH_DIR`].
pub const ARTIFACT_FILE: &str = "artifact.tar.gz";
/// The project directory `flash build` writes to (manifest, artifact, deploy state).
pub const FLASH_DIR: &str = ".flash";
/// Where Runpod mounts the environment's active build artifact in every worker, unless
/// [`crate::env::FLASH_BUILD_ARTIFACT_PATH`] says otherwise.
pub const DEFAULT_ARTIFACT_MOUNT: &str = "/root/.runpod/artifact.tar.gz";
/// Where a worker image unpacks the artifact, unless [`crate::env::FLASH_APP_DIR`] says otherwise.
pub const DEFAULT_APP_DIR: &str = "/app";
