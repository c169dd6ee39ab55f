//! Where a Flash app's files are: its Cargo package and the `.flash/` directory beside it.

use flash_contract::files;
use std::path::{Path, PathBuf};

/// A Flash app: a Cargo package whose binary calls `runpod_flash::worker::serve_if_worker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The directory holding the app's `Cargo.toml`.
    pub root: PathBuf,
}

/// No Cargo package was found.
#[derive(Debug, thiserror::Error)]
#[error(
    "no Cargo.toml in {start} or any directory above it: run this inside a Flash app (create one with `flash init NAME`)"
)]
pub struct NoProject {
    /// Where the search started.
    pub start: String,
}

impl Project {
    /// The app rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The nearest directory at or above `start` holding a `Cargo.toml` with a `[package]`.
    ///
    /// # Errors
    /// [`NoProject`] when there is none.
    pub fn find(start: &Path) -> Result<Self, NoProject> {
        // Absolute, so that paths derived from the root stay valid in child processes that run
        // in another directory.
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
        let mut dir = Some(start.as_path());
        while let Some(candidate) = dir {
            let manifest = candidate.join("Cargo.toml");
            if std::fs::read_to_string(&manifest).is_ok_and(|text| text.contains("[package]")) {
                return Ok(Self::at(candidate));
            }
            dir = candidate.parent();
        }
        Err(NoProject {
            start: start.display().to_string(),
        })
    }

    /// `.flash/`: build output and local deploy state.
    pub fn flash_dir(&self) -> PathBuf {
        self.root.join(files::FLASH_DIR)
    }

    /// `.flash/flash_manifest.json`: the manifest `flash build` writes and `flash deploy` uploads.
    pub fn manifest_path(&self) -> PathBuf {
        self.flash_dir().join(files::MANIFEST_FILE)
    }

    /// `.flash/artifact.tar.gz`: what `flash deploy` uploads.
    pub fn artifact_path(&self) -> PathBuf {
        self.flash_dir().join(files::ARTIFACT_FILE)
    }

    /// `.flash/resources.json`: the local record of deployed endpoints.
    pub fn state_path(&self) -> PathBuf {
        self.flash_dir().join("resources.json")
    }
}
