//! The control-plane records (apps, environments, builds, templates, endpoints), kept in memory and
//! optionally persisted as one JSON file, `state.json`, in the state dir.
//!
//! Jobs and workers are not persisted: a restarted emulator keeps its apps, builds and endpoints
//! and starts each endpoint's minimum workers again from the active build.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::EmulatorError;

/// File name of the persisted state inside the state dir.
pub(crate) const STATE_FILE: &str = "state.json";

/// A Flash app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct App {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
}

/// A Flash environment of an app.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Environment {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) name: String,
    pub(crate) state: String,
    pub(crate) active_build_id: Option<String>,
    pub(crate) created_at: String,
}

/// A finalized build: an uploaded artifact plus its manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Build {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) object_key: String,
    pub(crate) manifest: Value,
    pub(crate) created_at: String,
}

/// An upload slot handed out by `prepareFlashArtifactUpload`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Upload {
    pub(crate) object_key: String,
    pub(crate) app_id: String,
    pub(crate) token: String,
    pub(crate) uploaded: bool,
    /// Unix seconds after which the upload URL no longer accepts a PUT (0: never, for state
    /// files written before uploads expired).
    #[serde(default)]
    pub(crate) expires_at: u64,
    /// A build was made of it: the artifact is immutable from then on.
    #[serde(default)]
    pub(crate) finalized: bool,
}

impl Upload {
    /// How long an upload URL is valid (a presigned URL's lifetime).
    pub(crate) const VALID_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
}

/// A pod template: what `saveTemplate` or an inline `saveEndpoint` template saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Template {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) image_name: Option<String>,
    pub(crate) container_disk_in_gb: Option<i32>,
    pub(crate) docker_args: Option<String>,
    pub(crate) start_script: Option<String>,
    pub(crate) ports: Option<String>,
    pub(crate) readme: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) volume_in_gb: Option<i32>,
    pub(crate) volume_mount_path: Option<String>,
    pub(crate) is_serverless: Option<bool>,
    pub(crate) container_registry_auth_id: Option<String>,
    pub(crate) advanced_start: Option<bool>,
    pub(crate) config: Option<Value>,
    pub(crate) start_ssh: Option<bool>,
    pub(crate) is_public: Option<bool>,
}

impl Template {
    /// What a worker started from this template gets: a change here is version-triggering
    /// (Runpod replaces the endpoint's workers in a rolling release). The name, readme and
    /// visibility are not.
    pub(crate) fn worker_identity(&self) -> impl PartialEq + '_ {
        (
            (
                &self.image_name,
                self.container_disk_in_gb,
                &self.docker_args,
                &self.start_script,
                &self.ports,
                &self.env,
            ),
            (
                self.volume_in_gb,
                &self.volume_mount_path,
                &self.container_registry_auth_id,
                self.advanced_start,
                &self.config,
            ),
        )
    }
}

/// A global volume of `saveEndpoint`'s `volumes` (runpod 2.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Volume {
    pub(crate) volume_id: String,
    pub(crate) volume_type: String,
}

/// A serverless endpoint, as saved by `saveEndpoint`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Endpoint {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) ai_key: String,
    /// `QB` (queue) or `LB` (load-balanced).
    pub(crate) kind: String,
    pub(crate) workers_min: i32,
    pub(crate) workers_max: i32,
    pub(crate) workers_pfb_target: Option<i32>,
    /// Seconds a worker may sit idle before it is stopped.
    pub(crate) idle_timeout: i32,
    pub(crate) scaler_type: String,
    pub(crate) scaler_value: i32,
    pub(crate) execution_timeout_ms: i64,
    pub(crate) locations: Option<String>,
    pub(crate) flash_environment_id: Option<String>,
    pub(crate) flash_boot_type: Option<String>,
    pub(crate) network_volume_ids: Vec<String>,
    pub(crate) gpu_ids: Option<String>,
    pub(crate) gpu_count: Option<i32>,
    pub(crate) min_cuda_version: Option<String>,
    pub(crate) allowed_cuda_versions: Option<String>,
    pub(crate) instance_ids: Option<Vec<String>>,
    pub(crate) template_id: Option<String>,
    /// Global volumes (runpod 2.0's `volumes`); stored, not mounted.
    pub(crate) volumes: Vec<Volume>,
    /// Cached model references (runpod 2.0's `modelReferences`); stored, not fetched.
    pub(crate) model_references: Vec<String>,
    /// Bumped by a version-triggering update (a template change, or a change of what or where
    /// the workers run); workers of an older version are drained and replaced. Scaling settings
    /// and activating a build are not version-triggering.
    pub(crate) version: i32,
    pub(crate) created_at: String,
}

impl Endpoint {
    /// Whether this is a load-balanced endpoint.
    pub(crate) fn load_balanced(&self) -> bool {
        self.kind.eq_ignore_ascii_case("LB")
    }
}

/// Every control-plane record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Store {
    pub(crate) apps: IndexMap<String, App>,
    pub(crate) environments: IndexMap<String, Environment>,
    pub(crate) builds: IndexMap<String, Build>,
    pub(crate) uploads: IndexMap<String, Upload>,
    pub(crate) templates: IndexMap<String, Template>,
    pub(crate) endpoints: IndexMap<String, Endpoint>,
    /// The emulator's own base URL and key when this state was saved: a restart on another
    /// port rewrites the URLs the records hold, and keeps the key the records' env holds.
    #[serde(default)]
    pub(crate) emulator: Option<Identity>,
}

/// Where the emulator that saved a state listened, and its key.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) base_url: String,
    pub(crate) api_key: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Reads `state.json` from `dir`, or an empty store when the file does not exist. A file
    /// that is not a valid state (torn by a crash of an older version, edited by hand) is kept
    /// as `state.json.corrupt-{unix seconds}` and the emulator starts empty, saying so: it must
    /// start, and nothing is deleted.
    pub(crate) fn load(dir: &Path) -> Result<Self, EmulatorError> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(store) => Ok(store),
                Err(error) => {
                    let stamp = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let aside = dir.join(format!("{STATE_FILE}.corrupt-{stamp}"));
                    std::fs::rename(&path, &aside)
                        .map_err(|e| EmulatorError::io("move aside", &path, e))?;
                    tracing::warn!(
                        file = %path.display(),
                        kept_as = %aside.display(),
                        %error,
                        "the emulator's state file is invalid; starting empty"
                    );
                    Ok(Self::default())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(EmulatorError::io("read", path, e)),
        }
    }

    /// Writes `state.json` into `dir` atomically and durably: a temporary file of this process
    /// (owner-only: it holds endpoint keys and template env), fsync'd, renamed over the old one,
    /// and the directory fsync'd. Callers serialize saves (see `Core::persist`).
    pub(crate) fn save(&self, dir: &Path) -> Result<(), EmulatorError> {
        use std::io::Write as _;
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| EmulatorError::StateFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .map_err(|e| EmulatorError::io("create", &tmp, e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| EmulatorError::io("write", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(|e| EmulatorError::io("rename", &path, e))?;
        // The rename itself must survive a crash too.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Replaces the emulator base URL `old` with `new` in every URL the records hold (build
    /// manifests' `resources_endpoints`, template env such as `RUNPOD_API_BASE_URL`). Returns
    /// how many strings changed.
    pub(crate) fn rebase_urls(&mut self, old: &str, new: &str) -> usize {
        fn rebase(value: &mut Value, old: &str, new: &str) -> usize {
            match value {
                Value::String(s) if s.starts_with(old) => {
                    *s = format!("{new}{}", &s[old.len()..]);
                    1
                }
                Value::Array(items) => items.iter_mut().map(|v| rebase(v, old, new)).sum(),
                Value::Object(map) => map.values_mut().map(|v| rebase(v, old, new)).sum(),
                _ => 0,
            }
        }
        let mut changed = 0;
        for build in self.builds.values_mut() {
            changed += rebase(&mut build.manifest, old, new);
        }
        for template in self.templates.values_mut() {
            for (_, value) in &mut template.env {
                if value.starts_with(old) {
                    *value = format!("{new}{}", &value[old.len()..]);
                    changed += 1;
                }
            }
        }
        changed
    }

    /// Endpoint ids saved in environment `env_id`.
    pub(crate) fn endpoints_of_env(&self, env_id: &str) -> Vec<&Endpoint> {
        self.endpoints
            .values()
            .filter(|e| e.flash_environment_id.as_deref() == Some(env_id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_state_file_is_kept_aside_and_the_emulator_starts_empty() {
        let dir = tempfile_dir("corrupt");
        std::fs::write(dir.join(STATE_FILE), b"{\"apps\": {\"a\": ").unwrap();
        let store = Store::load(&dir).unwrap();
        assert!(store.apps.is_empty());
        let kept: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("state.json.corrupt-"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(!dir.join(STATE_FILE).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_state_file_is_owner_only_and_round_trips() {
        let dir = tempfile_dir("perm");
        let mut store = Store::default();
        store.apps.insert(
            "a1".into(),
            serde_json::from_value(serde_json::json!({"id": "a1", "name": "demo", "created_at": "2026-12-01T00:00:00Z"})).unwrap(),
        );
        store.save(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(STATE_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(Store::load(&dir).unwrap().apps.len(), 1);
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(what: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("flash-emu-state-{what}-{}", crate::ids::short(8)));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
