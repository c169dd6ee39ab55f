//! Build artifacts: where uploads are stored and how a build is unpacked for its workers.
//!
//! # The artifact contract
//!
//! A Flash build artifact is a gzip-compressed tar file (`artifact.tar.gz`) whose **root** holds:
//!
//! - `flash_manifest.json`: the build's manifest, a JSON object with at least a top-level string
//!   field `"entrypoint"`;
//! - the app executable, at the relative path named by `"entrypoint"` (for example `"bin/app"`).
//!
//! The entrypoint must be a relative path that stays inside the artifact (no `..`, not absolute).
//! Every member of the tar must likewise stay inside it; links and devices are rejected. The
//! executable bit is set on the entrypoint when it is unpacked, whatever the tar said.
//!
//! Workers run the entrypoint with the unpacked directory as their working directory, and find the
//! manifest through `FLASH_MANIFEST_PATH` (see [`crate::supervisor`] for the whole environment).
//!
//! Uploads go to `{state_dir}/artifacts/{object_key}.tar.gz` (PUT to the URL that
//! `prepareFlashArtifactUpload` returns); a build is unpacked once into
//! `{state_dir}/builds/{build_id}/`.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::EmulatorError;

/// Name of the manifest at the root of an artifact.
pub const MANIFEST_FILE: &str = "flash_manifest.json";
/// The manifest field naming the executable.
pub const ENTRYPOINT_FIELD: &str = "entrypoint";
/// Largest artifact accepted by the upload route (Runpod's limit is 1500 MB).
pub const MAX_ARTIFACT_BYTES: usize = 1500 * 1024 * 1024;

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

/// An unpacked build, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Unpacked {
    /// The unpacked directory (the workers' working directory).
    pub(crate) dir: PathBuf,
    /// Absolute path of the entrypoint executable.
    pub(crate) entrypoint: PathBuf,
    /// Absolute path of `flash_manifest.json`.
    pub(crate) manifest_path: PathBuf,
}

/// Unpacks the artifact of `object_key` into `dest` (once: an existing complete unpack is reused)
/// and checks the contract.
pub(crate) fn unpack(
    state_dir: &Path,
    object_key: &str,
    dest: &Path,
) -> Result<Unpacked, EmulatorError> {
    let err = |message: String| EmulatorError::Artifact {
        object_key: object_key.to_owned(),
        message,
    };
    let marker = dest.join(".flash-emulator-unpacked");
    if !marker.exists() {
        let src = upload_path(state_dir, object_key);
        let file = std::fs::File::open(&src).map_err(|e| {
            err(format!(
                "cannot open the uploaded file {}: {e}",
                src.display()
            ))
        })?;
        if dest.exists() {
            std::fs::remove_dir_all(dest).map_err(|e| EmulatorError::io("remove", dest, e))?;
        }
        std::fs::create_dir_all(dest).map_err(|e| EmulatorError::io("create", dest, e))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let entries = archive
            .entries()
            .map_err(|e| err(format!("not a tar.gz: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| err(format!("corrupt tar: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| err(format!("bad member name: {e}")))?
                .into_owned();
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_dir()) {
                return Err(err(format!(
                    "member {} is neither a file nor a directory",
                    path.display()
                )));
            }
            let rel = safe_relative(&path)
                .ok_or_else(|| err(format!("member {} escapes the artifact", path.display())))?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            let target = dest.join(&rel);
            if kind.is_dir() {
                std::fs::create_dir_all(&target)
                    .map_err(|e| EmulatorError::io("create", &target, e))?;
                continue;
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| EmulatorError::io("create", parent, e))?;
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| err(format!("cannot read member {}: {e}", path.display())))?;
            std::fs::write(&target, bytes).map_err(|e| EmulatorError::io("write", &target, e))?;
        }
    }
    let manifest_path = dest.join(MANIFEST_FILE);
    let manifest: Value = std::fs::read(&manifest_path)
        .map_err(|e| err(format!("no {MANIFEST_FILE} at the artifact root: {e}")))
        .and_then(|b| {
            serde_json::from_slice(&b).map_err(|e| err(format!("{MANIFEST_FILE} is not JSON: {e}")))
        })?;
    let entry = manifest
        .get(ENTRYPOINT_FIELD)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            err(format!(
                "{MANIFEST_FILE} has no string field \"{ENTRYPOINT_FIELD}\""
            ))
        })?;
    let rel = safe_relative(Path::new(entry))
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| {
            err(format!(
                "entrypoint {entry:?} is not a relative path inside the artifact"
            ))
        })?;
    let entrypoint = dest.join(rel);
    if !entrypoint.is_file() {
        return Err(err(format!("entrypoint {entry:?} is not in the artifact")));
    }
    make_executable(&entrypoint)?;
    std::fs::write(&marker, b"").map_err(|e| EmulatorError::io("write", &marker, e))?;
    Ok(Unpacked {
        dir: dest.to_path_buf(),
        entrypoint,
        manifest_path,
    })
}

fn safe_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), EmulatorError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| EmulatorError::io("stat", path, e))?;
    let mut perms = meta.permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms).map_err(|e| EmulatorError::io("chmod", path, e))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), EmulatorError> {
    Ok(())
}

/// Builds an artifact in memory from `(relative path, bytes, executable)` members: a helper for
/// tests and tools that want to produce the contract's layout.
pub fn build_artifact(members: &[(&str, &[u8], bool)]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes, exec) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(if *exec { 0o755 } else { 0o644 });
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, path, *bytes)?;
    }
    tar.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_and_rejects_traversal() {
        let dir = std::env::temp_dir().join(format!("flash-emu-art-{}", crate::ids::short(8)));
        std::fs::create_dir_all(dir.join("artifacts")).unwrap();
        let manifest = br#"{"entrypoint":"bin/app"}"#;
        let good = build_artifact(&[
            (MANIFEST_FILE, manifest, false),
            ("bin/app", b"#!/bin/sh\n", false),
        ])
        .unwrap();
        std::fs::write(upload_path(&dir, "k1"), good).unwrap();
        let u = unpack(&dir, "k1", &build_dir(&dir, "b1")).unwrap();
        assert!(u.entrypoint.ends_with("bin/app"));

        let bad_manifest = br#"{"entrypoint":"../../etc/passwd"}"#;
        let bad = build_artifact(&[(MANIFEST_FILE, bad_manifest, false)]).unwrap();
        std::fs::write(upload_path(&dir, "k2"), bad).unwrap();
        let e = unpack(&dir, "k2", &build_dir(&dir, "b2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("k2") && e.contains("entrypoint"), "{e}");

        let missing = build_artifact(&[(MANIFEST_FILE, br#"{"resources":{}}"#, false)]).unwrap();
        std::fs::write(upload_path(&dir, "k3"), missing).unwrap();
        let e = unpack(&dir, "k3", &build_dir(&dir, "b3"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"entrypoint\""), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
