//! Where a worker's network volume is mounted.
//!
//! On Runpod a resource's network volume is mounted at `/runpod-volume`. The local emulator
//! shares a directory between the workers of the endpoints that mount the same volume and says
//! where through `FLASH_VOLUME_PATH`. Code that uses the volume calls [`path`] and works in both.

use std::path::PathBuf;

use flash_contract::env;

/// Runpod's mount point for network volumes.
pub const RUNPOD_VOLUME: &str = "/runpod-volume";

/// The network volume's directory: `FLASH_VOLUME_PATH` when set, else `/runpod-volume`.
pub fn path() -> PathBuf {
    std::env::var_os(env::FLASH_VOLUME_PATH)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from(RUNPOD_VOLUME), PathBuf::from)
}
