//! Where endpoint URLs come from.

use std::future::Future;
use std::pin::Pin;

use indexmap::IndexMap;

use crate::error::StateManagerError;

/// A boxed, sendable future, so [`EndpointSource`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Gives the URL of every deployed resource of a Flash environment.
///
/// In production this is the State Manager (the `resources_endpoints` of the environment's active
/// build); tests give the registry their own.
pub trait EndpointSource: Send + Sync + 'static {
    /// Resource name to endpoint URL, for the environment `environment_id`.
    fn resources_endpoints<'a>(
        &'a self,
        environment_id: &'a str,
    ) -> BoxFuture<'a, Result<IndexMap<String, String>, StateManagerError>>;
}

impl EndpointSource for crate::state_manager::StateManagerClient {
    fn resources_endpoints<'a>(
        &'a self,
        environment_id: &'a str,
    ) -> BoxFuture<'a, Result<IndexMap<String, String>, StateManagerError>> {
        Box::pin(
            crate::state_manager::StateManagerClient::resources_endpoints(self, environment_id),
        )
    }
}
