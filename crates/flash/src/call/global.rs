//! The process's ServiceRegistry, built from the environment on first use.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use super::function::invalidate_routes;
use crate::error::{FlashError, ManifestError, RoutingError, RoutingErrorKind};
use crate::registry::ServiceRegistry;

static REGISTRY: ArcSwapOption<ServiceRegistry> = ArcSwapOption::const_empty();
/// Serializes the first initialization, and remembers why it failed so every call reports it
/// without rereading a broken manifest.
static INIT: Mutex<Option<Arc<ManifestError>>> = Mutex::new(None);

/// The registry `#[remote]` calls use: the one given to [`set_registry`], else
/// [`ServiceRegistry::from_env`] built on first use.
///
/// # Errors
/// [`RoutingErrorKind::Manifest`] with the manifest's error when the environment's manifest is
/// unreadable or invalid (reported on every call until fixed and the process restarted).
pub fn registry() -> Result<Arc<ServiceRegistry>, FlashError> {
    registry_for("*")
}

/// [`registry`], with errors naming the function being called.
pub(crate) fn registry_for(function: &str) -> Result<Arc<ServiceRegistry>, FlashError> {
    if let Some(registry) = REGISTRY.load_full() {
        return Ok(registry);
    }
    let mut failure = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(registry) = REGISTRY.load_full() {
        return Ok(registry);
    }
    let broken = |error: &Arc<ManifestError>| -> FlashError {
        RoutingError::new(function, RoutingErrorKind::Manifest(Arc::clone(error))).into()
    };
    if let Some(error) = &*failure {
        return Err(broken(error));
    }
    match ServiceRegistry::from_env() {
        Ok(registry) => {
            let registry = Arc::new(registry);
            REGISTRY.store(Some(Arc::clone(&registry)));
            Ok(registry)
        }
        Err(error) => {
            tracing::error!("cannot route #[remote] calls: {error}");
            let error = Arc::new(error);
            let result = Err(broken(&error));
            *failure = Some(error);
            result
        }
    }
}

/// Replaces the process's registry (a worker built from its own settings, a test's, ...).
/// Cached routing decisions are dropped.
pub fn set_registry(registry: ServiceRegistry) {
    REGISTRY.store(Some(Arc::new(registry)));
    invalidate_routes();
}
