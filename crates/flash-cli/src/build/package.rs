//! The artifact: a reproducible `tar.gz` (see `flash_emulator::artifacts` for the contract).

use std::io::{self, Write};
use std::path::Path;

use flate2::{Compression, GzBuilder};

/// The manifest's name at the artifact root.
pub(crate) const MANIFEST_FILE: &str = "flash_manifest.json";

/// One member of the archive.
pub(crate) struct Entry {
    path: String,
    bytes: Vec<u8>,
    mode: u32,
    dir: bool,
}

impl Entry {
    /// A directory (mode 0755); `path` ends with `/`.
    pub(crate) fn dir(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            bytes: Vec::new(),
            mode: 0o755,
            dir: true,
        }
    }

    /// A regular file.
    pub(crate) fn file(path: String, bytes: Vec<u8>, mode: u32) -> Self {
        Self {
            path,
            bytes,
            mode,
            dir: false,
        }
    }
}

/// `entries` as a gzip'd tar: sorted by path, mtime 0, uid/gid 0, no user or group names, the
/// given modes, and a gzip header with mtime 0 and no file name. Identical inputs give identical
/// bytes.
pub(crate) fn pack(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    for entry in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_path(&entry.path)?;
        header.set_size(entry.bytes.len() as u64);
        header.set_mode(entry.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(if entry.dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_cksum();
        tar.append(&header, entry.bytes.as_slice())?;
    }
    tar.into_inner()?.finish()
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let temp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::File::create(&temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn sorted_fixed_and_reproducible() {
        let make = || {
            pack(&[
                Entry::file("z.json".into(), b"{}".to_vec(), 0o644),
                Entry::file("bin/app".into(), b"\x7fELF".to_vec(), 0o755),
                Entry::dir("bin/"),
            ])
            .expect("packs")
        };
        let bytes = make();
        assert_eq!(bytes, make());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut seen = Vec::new();
        for entry in archive.entries().expect("tar") {
            let mut entry = entry.expect("entry");
            let header = entry.header().clone();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).expect("body");
            seen.push((
                entry.path().expect("path").display().to_string(),
                header.mode().expect("mode"),
                header.mtime().expect("mtime"),
                header.uid().expect("uid"),
                header.username().expect("utf8").map(str::to_owned),
            ));
        }
        let paths: Vec<_> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(paths, ["bin/", "bin/app", "z.json"]);
        assert_eq!(seen[1].1, 0o755);
        assert_eq!(seen[2].1, 0o644);
        assert!(seen.iter().all(|s| s.2 == 0 && s.3 == 0));
        assert!(seen.iter().all(|s| s.4.as_deref().unwrap_or("").is_empty()));
    }
}
