//! What `#[remote]`'s generated code calls, and nothing else does. Not a public API: it changes
//! without notice, and the version module lets old and new expansions coexist.

#[doc(hidden)]
pub mod v1 {
    pub use crate::call::args::{decode_arg, encode_arg, reject_unknown};
    pub use crate::call::dispatch::invoke;
    pub use crate::call::function::{
        FUNCTIONS, FunctionMeta, HttpRoute, Invoker, RemoteFunction, Slot, SourceLocation, Warmer,
    };
    pub use crate::call::stub::Stub;
    pub use crate::call::{ArgumentError, RemoteError, RemoteResult};
    pub use crate::registry::{BoxFuture, HttpMethod};
    pub use crate::resource::Resource;
    pub use crate::worker_state::{WorkerState, get as worker_state};
    pub use linkme;
    pub use serde_json::{Map, Value};

    /// A function's registration record.
    #[allow(clippy::too_many_arguments)]
    pub const fn meta(
        name: &'static str,
        resource: &'static Resource,
        module_path: &'static str,
        source: SourceLocation,
        params: &'static [&'static str],
        route: Option<HttpRoute>,
        state: Option<&'static str>,
        invoke: Invoker,
        warm: Option<Warmer>,
    ) -> FunctionMeta {
        FunctionMeta {
            name,
            resource,
            module_path,
            source,
            params,
            route,
            state,
            invoke,
            warm,
        }
    }

    /// Builds `T` ahead of the first call.
    pub fn warm<T: WorkerState>() -> BoxFuture<'static, Result<(), crate::FlashError>> {
        Box::pin(async { crate::worker_state::get::<T>().await.map(drop) })
    }

    /// Turns a library error into the function's return value.
    pub fn fail<R: RemoteResult>(error: crate::FlashError) -> R {
        R::from_result(Err(<R::Err as RemoteError>::from_flash(error)))
    }
}
