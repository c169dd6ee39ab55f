//! Build artifacts: where uploads are stored.
//!
//! Uploads go to `{state_dir}/artifacts/{object_key}.tar.gz` (PUT to the URL that
//! `prepareFlashArtifactUpload` returns). The emulator never unpacks them itself: each worker
//! gets the active build's artifact mounted and unpacks it with the worker image's boot step
//! (see [`crate::launch`]), whose checked reader is [`flash_contract::artifact`]'s.

use std::path::{Path, PathBuf};

use flash_contract::artifact;

/// Largest artifact accepted by the upload route (Runpod's limit is 1500 MB).
pub const MAX_ARTIFACT_BYTES: usize = artifact::MAX_ARTIFACT_BYTES as usize;

/// Where the upload for `object_key` is stored.
pub fn upload_path(state_dir: &Path, object_key: &str) -> PathBuf {
    state_dir
        .join("artifacts")
        .join(format!("{}.tar.gz", sanitize(object_key)))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
