//! Worker images: the default Flash-for-Rust image names, and how an image name says which kind
//! of worker it runs.
//!
//! The Flash-for-Rust images are built from `docker/` (see `docker/README.md`) and pushed by
//! the user to a registry of their choice, so the defaults are a repository name plus the
//! workspace version as tag, optionally prefixed with a registry
//! ([`default_image`]). The emulator tells kinds apart by repository name ([`ImageKind::of`]):
//! it runs Flash-for-Rust images through the boot step, Runpod's Python Flash images
//! (`runpod/flash`, `runpod/flash-cpu`, `runpod/flash-lb`, `runpod/flash-lb-cpu`) through a
//! local Python, and nothing else.

/// Repository name of the CPU image (`docker/Dockerfile.cpu`).
pub const CPU_REPOSITORY: &str = "flash-rs-worker-cpu";
/// Repository name of the GPU image (`docker/Dockerfile.gpu`).
pub const GPU_REPOSITORY: &str = "flash-rs-worker-gpu";
/// Tag of the default images: the version of this workspace, which built their boot step.
pub const DEFAULT_TAG: &str = env!("CARGO_PKG_VERSION");
/// Repositories of Runpod's Python Flash images (runpod-flash 1.21,
/// `core/resources/constants.py`).
pub const PYTHON_FLASH_REPOSITORIES: [&str; 4] = [
    "runpod/flash",
    "runpod/flash-cpu",
    "runpod/flash-lb",
    "runpod/flash-lb-cpu",
];

/// The default image of a resource: `{registry}/flash-rs-worker-{cpu|gpu}:{version}`, or
/// without the `registry/` prefix when `registry` is `None` (a name only a local emulator can
/// run; Runpod needs a registry it can pull from).
pub fn default_image(gpu: bool, registry: Option<&str>) -> String {
    let repository = if gpu { GPU_REPOSITORY } else { CPU_REPOSITORY };
    match registry.map(|r| r.trim().trim_end_matches('/')) {
        Some(registry) if !registry.is_empty() => format!("{registry}/{repository}:{DEFAULT_TAG}"),
        _ => format!("{repository}:{DEFAULT_TAG}"),
    }
}

/// What kind of worker an image runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageKind {
    /// A Flash-for-Rust image: the boot step unpacks the artifact and execs its entrypoint.
    FlashRust,
    /// A Python Flash image: the artifact holds `handler_<resource>.py` files run by Python.
    FlashPython,
    /// Anything else.
    Other,
}

impl ImageKind {
    /// The kind of `image` (`registry/repo:tag`, `repo@sha256:...`), by its repository: one
    /// ending in `flash-rs-worker-cpu` or `-gpu` (any registry, any suffix after `-cpu`/`-gpu`
    /// such as `-cuda12`) is Flash-for-Rust; one of [`PYTHON_FLASH_REPOSITORIES`] (with or
    /// without `docker.io/`) is Python Flash.
    pub fn of(image: &str) -> Self {
        let repository = repository(image);
        let last = repository.rsplit('/').next().unwrap_or(repository);
        if [CPU_REPOSITORY, GPU_REPOSITORY]
            .iter()
            .any(|r| last == *r || last.strip_prefix(r).is_some_and(|s| s.starts_with('-')))
        {
            return Self::FlashRust;
        }
        if python_repository(image).is_some() {
            return Self::FlashPython;
        }
        Self::Other
    }
}

/// Whether `image` is one of Runpod's load-balancer Python Flash images (`runpod/flash-lb`,
/// `runpod/flash-lb-cpu`): their command serves HTTP (`uvicorn lb_handler:app`), where the
/// queue images (`runpod/flash`, `runpod/flash-cpu`) run `python handler.py`, a queue worker.
pub fn is_python_flash_lb(image: &str) -> bool {
    python_repository(image).is_some_and(|r| r.starts_with("runpod/flash-lb"))
}

/// The repository of `image` when it is one of [`PYTHON_FLASH_REPOSITORIES`] (with or without
/// `docker.io/`), without the registry prefix.
fn python_repository(image: &str) -> Option<&'static str> {
    let repository = repository(image);
    let unprefixed = repository
        .strip_prefix("docker.io/")
        .or_else(|| repository.strip_prefix("index.docker.io/"))
        .unwrap_or(repository);
    PYTHON_FLASH_REPOSITORIES
        .iter()
        .find(|r| **r == unprefixed)
        .copied()
}

/// Whether `image` names a registry (`ghcr.io/me/x`, `docker.io/me/x`, `me/x` on Docker Hub),
/// so a platform can pull it; a bare `x:tag` would be Docker Hub's official-library namespace,
/// where no Flash image lives.
pub fn has_registry(image: &str) -> bool {
    repository(image).contains('/')
}

/// `image` without its `:tag` or `@digest`.
fn repository(image: &str) -> &str {
    let image = image.trim();
    let image = image.split('@').next().unwrap_or(image);
    // A ':' after the last '/' starts the tag; one before it is a registry port.
    match image.rfind(':') {
        Some(colon) if image.rfind('/').is_none_or(|slash| colon > slash) => &image[..colon],
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        for rust in [
            "flash-rs-worker-cpu:0.1.0",
            "docker.io/me/flash-rs-worker-gpu:1",
            "localhost:5000/flash-rs-worker-cpu",
            "ghcr.io/org/team/flash-rs-worker-gpu-cuda12@sha256:abc",
        ] {
            assert_eq!(ImageKind::of(rust), ImageKind::FlashRust, "{rust}");
        }
        for python in [
            "runpod/flash:py3.12-latest",
            "runpod/flash-lb-cpu:py3.12-latest",
            "docker.io/runpod/flash-cpu",
        ] {
            assert_eq!(ImageKind::of(python), ImageKind::FlashPython, "{python}");
        }
        assert!(is_python_flash_lb("runpod/flash-lb-cpu:py3.12-latest"));
        assert!(is_python_flash_lb("docker.io/runpod/flash-lb"));
        assert!(!is_python_flash_lb("runpod/flash-cpu:py3.12-latest"));
        assert!(!is_python_flash_lb("someone/flash-lb:1"));
        for other in [
            "runpod/flash-rs:latest",
            "img",
            "me/flash-rs-worker-cpux:1",
            "runpod/worker-vllm:stable",
            "someone/flash:1",
        ] {
            assert_eq!(ImageKind::of(other), ImageKind::Other, "{other}");
        }
    }

    #[test]
    fn defaults_and_registries() {
        let local = default_image(false, None);
        assert_eq!(local, format!("flash-rs-worker-cpu:{DEFAULT_TAG}"));
        assert!(!has_registry(&local));
        let pushed = default_image(true, Some("ghcr.io/me/"));
        assert_eq!(
            pushed,
            format!("ghcr.io/me/flash-rs-worker-gpu:{DEFAULT_TAG}")
        );
        assert!(has_registry(&pushed));
        assert_eq!(default_image(true, Some(" ")), default_image(true, None));
        assert!(!has_registry("localhost:5000"));
        assert!(has_registry("localhost:5000/x"));
    }
}
