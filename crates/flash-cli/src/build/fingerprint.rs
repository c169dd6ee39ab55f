//! `source_fingerprint`: SHA-256 over the files that make the binary.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::BuildError;
use super::cargo::Package;
use super::scan::RawFile;

/// SHA-256 (lower-case hex) over the package's `Cargo.toml`, the workspace's `Cargo.lock` (when
/// there is one), `build.rs` (when there is one) and every file under `src/`, sorted by
/// relative path, each framed as `len(path) path len(bytes) bytes` with 8-byte big-endian
/// lengths, so no two file sets hash the same bytes.
pub(crate) fn source_fingerprint(
    root: &Path,
    package: &Package,
    sources: &[RawFile],
) -> Result<String, BuildError> {
    let mut files: Vec<(String, Vec<u8>)> = sources
        .iter()
        .map(|f| (f.rel.clone(), f.bytes.clone()))
        .collect();
    let read = |path: &Path| std::fs::read(path).map_err(|e| BuildError::io("read", path, e));
    files.push(("Cargo.toml".to_owned(), read(&package.manifest_path)?));
    for (name, path) in [
        ("Cargo.lock", package.workspace_root.join("Cargo.lock")),
        ("build.rs", root.join("build.rs")),
    ] {
        if path.is_file() {
            files.push((name.to_owned(), read(&path)?));
        }
    }
    Ok(fingerprint(&mut files))
}

/// The framed hash of `files` (sorted here by path).
pub(crate) fn fingerprint(files: &mut [(String, Vec<u8>)]) -> String {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (path, bytes) in files.iter() {
        hasher.update((path.len() as u64).to_be_bytes());
        hasher.update(path.as_bytes());
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_and_order() {
        let f = |pairs: &[(&str, &str)]| {
            let mut files: Vec<_> = pairs
                .iter()
                .map(|(p, b)| ((*p).to_owned(), b.as_bytes().to_vec()))
                .collect();
            fingerprint(&mut files)
        };
        let a = f(&[("a", "1"), ("b", "2")]);
        assert_eq!(a.len(), 64);
        assert_eq!(a, f(&[("b", "2"), ("a", "1")]), "order does not matter");
        assert_ne!(
            f(&[("ab", "")]),
            f(&[("a", "b")]),
            "lengths frame the parts"
        );
        assert_ne!(a, f(&[("a", "1"), ("b", "3")]));
    }
}
