//! The process's ServiceRegistry, built from the environment on first use.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use super::function::invalidate_routes;
use crate::error::{FlashError, RoutingError};
use crate::registry::ServiceRegistry;

static REGISTRY: ArcSwapOption<ServiceRegistry> = ArcSwapOption::const_empty();
/// Serializes the first initialization, and remembers why it failed so every call reports it
/// without rereading a broken manifest.
static INIT: Mutex<Option<String>> = Mutex::new(None);

/// The registry `#[remote]` calls use: the one given to [`set_registry`], else
/// [`ServiceRegistry::from_env`] built on first use.
///
/// # Errors
/// [`RoutingError::Unavailable`] naming the manifest problem when the environment's manifest is
/// unreadable or invalid (reported on every call until fixed and the process restarted).
pub fn registry() -> Result<Arc<ServiceRegistry>, FlashError> {
    if let Some(registry) = REGISTRY.load_full() {
        return Ok(registry);
    }
    let mut failure = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(registry) = REGISTRY.load_full() {
        return Ok(registry);
    }
    if let Some(reason) = &*failure {
        return Err(RoutingError::Unavailable {
            reason: reason.clone(),
        }
        .into());
    }
    match ServiceRegistry::from_env() {
        Ok(registry) => {
            let registry = Arc::new(registry);
            REGISTRY.store(Some(Arc::clone(&registry)));
            Ok(registry)
        }
        Err(error) => {
            let reason = error.to_string();
            tracing::error!("cannot route #[remote] calls: {reason}");
            *failure = Some(reason.clone());
            Err(RoutingError::Unavailable { reason }.into())
        }
    }
}

/// Replaces the process's registry (a worker built from its own settings, a test's, ...).
/// Cached routing decisions are dropped.
pub fn set_registry(registry: ServiceRegistry) {
    REGISTRY.store(Some(Arc::new(registry)));
    invalidate_routes();
}
