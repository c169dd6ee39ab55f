//! Where the manifest is found.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Once;

use super::Manifest;
use crate::error::{ManifestError, ManifestOrigin};

/// A manifest and the file it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedManifest {
    /// The file, as found (an explicit relative path is joined to the working directory).
    pub path: PathBuf,
    /// Its validated contents.
    pub manifest: Manifest,
}

/// Finds, reads and validates the manifest of this process.
///
/// Looks, in order, at `explicit`, then the path in
/// [`FLASH_MANIFEST_PATH`](flash_contract::env::FLASH_MANIFEST_PATH) (an empty value counts as unset),
/// then [`MANIFEST_FILE_NAME`](flash_contract::files::MANIFEST_FILE) in the working directory, then the same
/// name next to the current executable. See [`discover_in`] for the rules.
///
/// When no manifest is found this returns `Ok(None)` and logs one warning per process: every
/// function then runs locally.
///
/// # Errors
///
/// As [`discover_in`]; also [`ManifestError::Read`] when the working directory cannot be
/// determined.
pub fn discover(explicit: Option<&Path>) -> Result<Option<LoadedManifest>, ManifestError> {
    let env_value = std::env::var_os(flash_contract::env::FLASH_MANIFEST_PATH);
    let cwd = std::env::current_dir().map_err(|source| ManifestError::Read {
        origin: ManifestOrigin::File(PathBuf::from(flash_contract::files::MANIFEST_FILE)),
        source,
    })?;
    // Without a known executable location that candidate is simply skipped.
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let found = discover_in(explicit, env_value.as_deref(), &cwd, exe_dir.as_deref())?;
    if found.is_none() {
        static WARNED: Once = Once::new();
        WARNED.call_once(|| {
            tracing::warn!(
                cwd = %cwd.display(),
                "no {} found (no explicit path, {} unset, none in the working directory or next \
                 to the executable): every function will run locally",
                flash_contract::files::MANIFEST_FILE,
                flash_contract::env::FLASH_MANIFEST_PATH,
            );
        });
    }
    Ok(found)
}

/// The lookup of [`discover`], with every input given: no environment, working directory or
/// logging involved.
///
/// The first candidate that applies wins:
///
/// 1. `explicit`, joined to `cwd` when relative;
/// 2. `env_value` (the value of `FLASH_MANIFEST_PATH`), joined to `cwd` when relative, unless
///    empty;
/// 3. `cwd/flash_manifest.json`, if it exists;
/// 4. `exe_dir/flash_manifest.json`, if it exists.
///
/// A path asked for by name (1 or 2) that does not exist is an error rather than a fallthrough:
/// someone meant that file, and quietly running everything locally instead would hide the
/// mistake. A candidate that exists is never skipped because it is broken.
///
/// # Errors
///
/// [`ManifestError::Read`] naming the file, [`ManifestError::Parse`] or
/// [`ManifestError::Invalid`] for the chosen candidate.
pub fn discover_in(
    explicit: Option<&Path>,
    env_value: Option<&OsStr>,
    cwd: &Path,
    exe_dir: Option<&Path>,
) -> Result<Option<LoadedManifest>, ManifestError> {
    let named = explicit.or_else(|| env_value.filter(|v| !v.is_empty()).map(Path::new));
    if let Some(path) = named {
        return load(cwd.join(path)).map(Some);
    }
    let defaults = std::iter::once(cwd).chain(exe_dir);
    for dir in defaults {
        let path = dir.join(flash_contract::files::MANIFEST_FILE);
        // `exists` rather than `is_file`: a directory by that name is reported, not skipped.
        if path.exists() {
            return load(path).map(Some);
        }
    }
    Ok(None)
}

fn load(path: PathBuf) -> Result<LoadedManifest, ManifestError> {
    let manifest = Manifest::from_path(&path)?;
    Ok(LoadedManifest { path, manifest })
}
