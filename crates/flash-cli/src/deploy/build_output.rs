//! What `flash build` left in `.flash/`: the manifest (typed and raw) and the artifact.

use std::path::{Path, PathBuf};

use runpod_flash::error::{ManifestError, ManifestOrigin};
use runpod_flash::manifest::{Manifest, ManifestDocument};

use super::DeployError;
use crate::project::Project;

/// The manifest and artifact `flash build` left in `.flash/`.
pub(crate) struct BuildOutput {
    pub(crate) manifest: Manifest,
    /// The manifest as written, without deploy outputs of an earlier deploy.
    pub(crate) raw: ManifestDocument,
    pub(crate) artifact: Vec<u8>,
    pub(crate) artifact_path: PathBuf,
}

pub(crate) fn read_build_output(project: &Project) -> Result<BuildOutput, DeployError> {
    let manifest_path = project.manifest_path();
    let artifact_path = project.artifact_path();
    let read = |path: &Path, what: &'static str| {
        std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DeployError::MissingBuildOutput {
                    what,
                    path: path.to_owned(),
                }
            } else {
                DeployError::Read {
                    path: path.to_owned(),
                    source,
                }
            }
        })
    };
    let bytes = read(&manifest_path, "manifest")?;
    let text = String::from_utf8_lossy(&bytes);
    let origin = ManifestOrigin::File(manifest_path);
    let manifest = Manifest::from_json_str(&text, origin.clone())?;
    manifest.validate(&origin)?;
    let raw = serde_json::from_str(&text).map_err(|e| ManifestError::Parse {
        origin,
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    // What the new build starts with: no deploy outputs of an earlier deploy.
    let mut raw = ManifestDocument::new(raw);
    raw.strip_deploy_outputs();
    let artifact = read(&artifact_path, "artifact")?;
    Ok(BuildOutput {
        manifest,
        raw,
        artifact,
        artifact_path,
    })
}

/// Resources that need `RUNPOD_API_KEY` in their workers (`makes_remote_calls`, unknown = yes).
pub(crate) fn remote_callers(manifest: &Manifest) -> Vec<String> {
    manifest
        .resources
        .iter()
        .filter(|(_, r)| r.calls_remote())
        .map(|(name, _)| name.clone())
        .collect()
}
