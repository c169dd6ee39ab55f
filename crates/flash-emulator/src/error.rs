//! The emulator's error type.

use std::path::PathBuf;

/// Everything that can go wrong starting, running or stopping the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file or directory of the state dir could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("create", "read", ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The persisted state file is not valid.
    #[error("state file {path} is invalid: {message}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A build artifact breaks the artifact contract (see [`crate::artifacts`]).
    #[error("artifact {object_key}: {message}")]
    Artifact {
        /// The artifact's object key.
        object_key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A builder setting is invalid.
    #[error("invalid emulator setting {field}: {message}")]
    Config {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl EmulatorError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
