//! The build artifact: its layout, its one writer and its one reader.
//!
//! A Flash build artifact is a gzip-compressed tar file ([`ARTIFACT_FILE`](crate::files::ARTIFACT_FILE))
//! whose **root** holds:
//!
//! - [`MANIFEST_FILE`]: the build's manifest, a JSON object with at
//!   least a top-level string field [`ENTRYPOINT_FIELD`];
//! - the app executable, at the relative path named by that field (for example `"bin/app"`).
//!
//! The entrypoint is a relative path that stays inside the artifact (no `..`, not absolute).
//! Every member stays inside it too; links, devices and FIFOs are refused, and so is an archive
//! that unpacks to more than [`UnpackLimits::max_bytes`] (a decompression bomb) or holds more than
//! [`UnpackLimits::max_members`] members. The executable bit is set on the entrypoint when it
//! is unpacked, whatever the tar said.
//!
//! [`pack`] is what `flash build` writes: reproducible (sorted members, mtime 0, uid/gid 0, no
//! owner names, a gzip header without time or name), so identical inputs give identical bytes.
//! [`unpack`] is what the boot step and the emulator read with; [`extract`] is the same reader
//! without the manifest contract, for artifacts of other runtimes (Python Flash's).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use flate2::{Compression, GzBuilder};
use serde_json::Value;

use crate::files::MANIFEST_FILE;

/// The manifest field naming the executable.
pub const ENTRYPOINT_FIELD: &str = "entrypoint";
/// The manifest field naming the target triple the executable was built for.
pub const TARGET_FIELD: &str = "target";
/// Largest artifact Runpod accepts for upload (1500 MB).
pub const MAX_ARTIFACT_BYTES: u64 = 1500 * 1024 * 1024;

/// One member of an artifact being packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    path: String,
    bytes: Vec<u8>,
    mode: u32,
    dir: bool,
}

impl Member {
    /// A directory (mode 0755); `path` ends with `/`.
    pub fn dir(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            bytes: Vec::new(),
            mode: 0o755,
            dir: true,
        }
    }

    /// A regular file with the given mode.
    pub fn file(path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> Self {
        Self {
            path: path.into(),
            bytes: bytes.into(),
            mode,
            dir: false,
        }
    }

    /// Its path inside the artifact.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// `members` as a reproducible gzip'd tar (see the module docs).
///
/// # Errors
/// A member path tar cannot hold (longer than ustar allows, not UTF-8), or an I/O error of the
/// in-memory writer.
pub fn pack(members: &[Member]) -> io::Result<Vec<u8>> {
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    for member in sorted {
        let mut header = tar::Header::new_ustar();
        header.set_path(&member.path)?;
        header.set_size(member.bytes.len() as u64);
        header.set_mode(member.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(if member.dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_cksum();
        tar.append(&header, member.bytes.as_slice())?;
    }
    tar.into_inner()?.finish()
}

/// Bounds [`unpack`] enforces while it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Largest total size of the unpacked files, in bytes.
    pub max_bytes: u64,
    /// Largest number of members.
    pub max_members: usize,
}

impl Default for UnpackLimits {
    /// 4 GiB unpacked (a compressed artifact is at most 1.5 GB; a Rust binary compresses about
    /// 3:1), 100 000 members.
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024 * 1024,
            max_members: 100_000,
        }
    }
}

/// An unpacked artifact, checked against the contract.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The directory it was unpacked into (the worker's working directory).
    pub dir: PathBuf,
    /// Absolute path of the entrypoint executable.
    pub entrypoint: PathBuf,
    /// Absolute path of the manifest.
    pub manifest_path: PathBuf,
    /// The manifest, parsed.
    pub manifest: Value,
}

impl Unpacked {
    /// The target triple the manifest records, when it records one.
    pub fn target(&self) -> Option<&str> {
        self.manifest.get(TARGET_FIELD).and_then(Value::as_str)
    }
}

/// Why an artifact could not be unpacked. Each variant names the member or path involved.
#[derive(Debug)]
#[non_exhaustive]
pub enum ArtifactError {
    /// Reading the archive or writing the unpacked files failed.
    Io {
        /// What was being done (`read`, `create`, `write`, ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The bytes are not a gzip'd tar, or the tar is corrupt or truncated.
    Corrupt {
        /// What the decoder said.
        source: io::Error,
    },
    /// A member is a link, device, FIFO or other non-regular entry.
    MemberKind {
        /// The member's path.
        member: PathBuf,
    },
    /// A member's path is absolute or climbs out with `..`.
    Escapes {
        /// The member's path.
        member: PathBuf,
    },
    /// The archive unpacks to more than the limit allows.
    TooLarge {
        /// The member being read when the limit was crossed.
        member: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The archive has more members than the limit allows.
    TooManyMembers {
        /// The limit.
        limit: usize,
    },
    /// There is no manifest at the root, or it is not a JSON object.
    Manifest {
        /// What is wrong with it.
        problem: String,
    },
    /// The manifest's entrypoint is missing, outside the artifact, or not a file in it.
    Entrypoint {
        /// What is wrong with it.
        problem: String,
    },
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Self::Corrupt { source } => write!(f, "not a complete tar.gz: {source}"),
            Self::MemberKind { member } => write!(
                f,
                "member {} is neither a regular file nor a directory (links and devices are refused)",
                member.display()
            ),
            Self::Escapes { member } => {
                write!(f, "member {} escapes the artifact", member.display())
            }
            Self::TooLarge { member, limit } => write!(
                f,
                "the artifact unpacks to more than {limit} bytes (reached at member {})",
                member.display()
            ),
            Self::TooManyMembers { limit } => {
                write!(f, "the artifact has more than {limit} members")
            }
            Self::Manifest { problem } => write!(f, "{MANIFEST_FILE}: {problem}"),
            Self::Entrypoint { problem } => write!(f, "{MANIFEST_FILE} entrypoint: {problem}"),
        }
    }
}

impl std::error::Error for ArtifactError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } | Self::Corrupt { source } => Some(source),
            _ => None,
        }
    }
}

impl ArtifactError {
    /// Whether the archive itself is incomplete or unreadable, as when it is read while still
    /// being written (callers may retry these).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Unpacks the artifact at `artifact` into `dest` (created; an existing `dest` is emptied first)
/// and checks the contract. Members stream to disk; nothing is held in memory whole.
///
/// # Errors
/// [`ArtifactError`], naming the member, file or manifest field involved. On error `dest` may
/// hold part of the artifact.
pub fn unpack(
    artifact: &Path,
    dest: &Path,
    limits: UnpackLimits,
) -> Result<Unpacked, ArtifactError> {
    let file = File::open(artifact).map_err(io_err("open", artifact))?;
    unpack_from(file, dest, limits)
}

/// [`unpack`] from any reader of the gzip'd bytes.
///
/// # Errors
/// As [`unpack`].
pub fn unpack_from(
    reader: impl Read,
    dest: &Path,
    limits: UnpackLimits,
) -> Result<Unpacked, ArtifactError> {
    extract_from(reader, dest, limits)?;
    check(dest)
}

/// [`unpack`] without the Flash-for-Rust manifest contract: every member with the same checks
/// and limits (no traversal, no links or devices, [`UnpackLimits`]), but no manifest or
/// entrypoint required. For artifacts of other runtimes, such as Python Flash's (a manifest,
/// the app's modules, `handler_<resource>.py` files and vendored packages at the root).
///
/// # Errors
/// As [`unpack`], except [`ArtifactError::Manifest`] and [`ArtifactError::Entrypoint`].
pub fn extract(artifact: &Path, dest: &Path, limits: UnpackLimits) -> Result<(), ArtifactError> {
    let file = File::open(artifact).map_err(io_err("open", artifact))?;
    extract_from(file, dest, limits)
}

/// [`extract`] from any reader of the gzip'd bytes.
///
/// # Errors
/// As [`extract`].
pub fn extract_from(
    reader: impl Read,
    dest: &Path,
    limits: UnpackLimits,
) -> Result<(), ArtifactError> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(io_err("empty", dest))?;
    }
    std::fs::create_dir_all(dest).map_err(io_err("create", dest))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let corrupt = |source| ArtifactError::Corrupt { source };
    let mut remaining = limits.max_bytes;
    for (count, entry) in archive.entries().map_err(corrupt)?.enumerate() {
        if count >= limits.max_members {
            return Err(ArtifactError::TooManyMembers {
                limit: limits.max_members,
            });
        }
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(ArtifactError::MemberKind { member: path });
        }
        let rel = safe_relative(&path).ok_or_else(|| ArtifactError::Escapes {
            member: path.clone(),
        })?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&rel);
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(io_err("create", &target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        let mut out = File::create(&target).map_err(io_err("create", &target))?;
        // One byte past the budget tells "exactly at the limit" from "over it".
        let mut limited = (&mut entry).take(remaining + 1);
        let written = copy(&mut limited, &mut out, &target)?;
        if written > remaining {
            return Err(ArtifactError::TooLarge {
                member: path,
                limit: limits.max_bytes,
            });
        }
        remaining -= written;
    }
    Ok(())
}

/// Copies, telling a read failure (a truncated archive) from a write failure.
fn copy(reader: &mut impl Read, out: &mut File, target: &Path) -> Result<u64, ArtifactError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(ArtifactError::Corrupt { source }),
        };
        out.write_all(&buf[..n]).map_err(io_err("write", target))?;
        total += n as u64;
    }
}

/// Checks an unpacked directory against the contract and makes its entrypoint executable.
///
/// # Errors
/// [`ArtifactError::Manifest`] or [`ArtifactError::Entrypoint`] naming the problem.
pub fn check(dir: &Path) -> Result<Unpacked, ArtifactError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&manifest_path).map_err(|e| ArtifactError::Manifest {
        problem: format!("not at the artifact root ({e})"),
    })?;
    let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Manifest {
        problem: format!("not JSON ({e})"),
    })?;
    let entry = manifest
        .get(ENTRYPOINT_FIELD)
        .and_then(Value::as_str)
        .ok_or_else(|| ArtifactError::Entrypoint {
            problem: format!("no string field \"{ENTRYPOINT_FIELD}\""),
        })?;
    let rel = safe_relative(Path::new(entry))
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| ArtifactError::Entrypoint {
            problem: format!("{entry:?} is not a relative path inside the artifact"),
        })?;
    let entrypoint = dir.join(rel);
    if !entrypoint.is_file() {
        return Err(ArtifactError::Entrypoint {
            problem: format!("{entry:?} is not in the artifact"),
        });
    }
    make_executable(&entrypoint)?;
    Ok(Unpacked {
        dir: dir.to_path_buf(),
        entrypoint,
        manifest_path,
        manifest,
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
fn make_executable(path: &Path) -> Result<(), ArtifactError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io_err("stat", path))?;
    let mut perms = meta.permissions();
    perms.set_mode(perms.mode() | 0o755);
    std::fs::set_permissions(path, perms).map_err(io_err("chmod", path))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), ArtifactError> {
    Ok(())
}

#[cfg(test)]
mod tests;
