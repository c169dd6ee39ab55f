//! `.flash/resources.json`: the local record of what was deployed, per app and environment.
//!
//! A cache and a report only: deploy and undeploy decide from what the platform reports. The
//! file is rewritten whole (temporary file + rename) while an exclusive lock on
//! `.flash/resources.json.lock` is held, so concurrent `flash` processes do not lose updates.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DeployError;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalState {
    /// `app/env` to what is deployed there.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentState>,
}

/// One environment of one app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentState {
    /// Environment id.
    pub environment_id: String,
    /// The build deployed last.
    #[serde(default)]
    pub build_id: Option<String>,
    /// Resource name to its endpoint.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceState>,
}

/// One deployed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Endpoint id.
    pub endpoint_id: String,
    /// Canonical config hash of the resource entry it was deployed from.
    pub config_hash: String,
    /// Endpoint URL.
    pub url: String,
}

/// The key of `app`/`env` in [`LocalState::environments`].
pub fn key(app: &str, env: &str) -> String {
    format!("{app}/{env}")
}

fn io_error(path: &Path, action: &str, error: &std::io::Error) -> DeployError {
    DeployError::LocalState {
        path: path.to_owned(),
        message: format!("cannot {action}: {error}"),
    }
}

/// Reads `path` (missing = empty).
pub fn read(path: &Path) -> Result<LocalState, DeployError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|error| DeployError::LocalState {
            path: path.to_owned(),
            message: format!("not valid JSON of the expected shape: {error}"),
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(LocalState::default()),
        Err(error) => Err(io_error(path, "read it", &error)),
    }
}

/// Reads `path`, applies `change` and writes it back, under the file lock.
pub fn update(path: &Path, change: impl FnOnce(&mut LocalState)) -> Result<(), DeployError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, "create the directory", &e))?;
    }
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_error(&lock_path, "open the lock file", &e))?;
    lock.lock()
        .map_err(|e| io_error(&lock_path, "lock the lock file", &e))?;
    let mut state = read(path)?;
    change(&mut state);
    let mut text =
        serde_json::to_string_pretty(&state).map_err(|error| DeployError::LocalState {
            path: path.to_owned(),
            message: format!("cannot encode: {error}"),
        })?;
    text.push('\n');
    let temp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    let result = write().map_err(|e| io_error(path, "write it", &e));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    // Dropping the file releases the lock too; unlocking first makes the order explicit.
    let _ = lock.unlock();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_round_trips() {
        let dir = std::env::temp_dir().join(format!("flash-local-state-{}", std::process::id()));
        let path = dir.join("resources.json");
        update(&path, |s| {
            s.environments.insert(
                key("a", "e"),
                EnvironmentState {
                    environment_id: "env".to_owned(),
                    build_id: None,
                    resources: BTreeMap::from([(
                        "r".to_owned(),
                        ResourceState {
                            endpoint_id: "ep".to_owned(),
                            config_hash: "h".to_owned(),
                            url: "u".to_owned(),
                        },
                    )]),
                },
            );
        })
        .unwrap();
        let state = read(&path).unwrap();
        assert_eq!(state.environments["a/e"].resources["r"].endpoint_id, "ep");
        std::fs::write(&path, "[").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("resources.json"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
