//! Build artifacts: where uploads are stored and how a build is unpacked for its workers.
//!
//! The artifact's layout and its checked reader are [`flash_contract::artifact`]'s: the same code
//! a worker image's boot step runs.
//!
//! Uploads go to `{state_dir}/artifacts/{object_key}.tar.gz` (PUT to the URL that
//! `prepareFlashArtifactUpload` returns); a build is unpacked once into
//! `{state_dir}/builds/{build_id}/`.

use std::path::{Path, PathBuf};

use flash_contract::artifact::{self, UnpackLimits, Unpacked};

use crate::EmulatorError;

/// Largest artifact accepted by the upload route (Runpod's limit is 1500 MB).
pub const MAX_ARTIFACT_BYTES: usize = artifact::MAX_ARTIFACT_BYTES as usize;

/// Where the upload for `object_key` is stored.
pub(crate) fn upload_path(state_dir: &Path, object_key: &str) -> PathBuf {
    state_dir
        .join("artifacts")
        .join(format!("{}.tar.gz", sanitize(object_key)))
}

/// Where build `build_id` is unpacked.
pub(crate) fn build_dir(state_dir: &Path, build_id: &str) -> PathBuf {
    state_dir.join("builds").join(sanitize(build_id))
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

/// Unpacks the artifact of `object_key` into `dest` (once: an existing complete unpack is reused)
/// and checks the contract.
pub(crate) fn unpack(
    state_dir: &Path,
    object_key: &str,
    dest: &Path,
) -> Result<Unpacked, EmulatorError> {
    let err = |error: artifact::ArtifactError| EmulatorError::Artifact {
        object_key: object_key.to_owned(),
        message: error.to_string(),
    };
    let marker = dest.join(".flash-emulator-unpacked");
    if marker.exists() {
        return artifact::check(dest).map_err(err);
    }
    let unpacked = artifact::unpack(
        &upload_path(state_dir, object_key),
        dest,
        UnpackLimits::default(),
    )
    .map_err(err)?;
    std::fs::write(&marker, b"").map_err(|e| EmulatorError::io("write", &marker, e))?;
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use flash_contract::artifact::{Member, pack};
    use flash_contract::files::MANIFEST_FILE;

    use super::*;

    #[test]
    fn unpacks_and_rejects_traversal() {
        let dir = std::env::temp_dir().join(format!("flash-emu-art-{}", crate::ids::short(8)));
        std::fs::create_dir_all(dir.join("artifacts")).unwrap();
        let manifest = br#"{"entrypoint":"bin/app"}"#;
        let good = pack(&[
            Member::file(MANIFEST_FILE, &manifest[..], 0o644),
            Member::file("bin/app", &b"#!/bin/sh\n"[..], 0o644),
        ])
        .unwrap();
        std::fs::write(upload_path(&dir, "k1"), good).unwrap();
        let u = unpack(&dir, "k1", &build_dir(&dir, "b1")).unwrap();
        assert!(u.entrypoint.ends_with("bin/app"));

        let bad_manifest = br#"{"entrypoint":"../../etc/passwd"}"#;
        let bad = pack(&[Member::file(MANIFEST_FILE, &bad_manifest[..], 0o644)]).unwrap();
        std::fs::write(upload_path(&dir, "k2"), bad).unwrap();
        let e = unpack(&dir, "k2", &build_dir(&dir, "b2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("k2") && e.contains("entrypoint"), "{e}");

        let missing = pack(&[Member::file(
            MANIFEST_FILE,
            &br#"{"resources":{}}"#[..],
            0o644,
        )])
        .unwrap();
        std::fs::write(upload_path(&dir, "k3"), missing).unwrap();
        let e = unpack(&dir, "k3", &build_dir(&dir, "b3"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"entrypoint\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
