//! What `#[remote]`'s generated code calls. Not a public API: it changes without notice, and the
//! version module lets old and new expansions coexist.

#[doc(hidden)]
pub mod v1 {
    pub use crate::call::{
        ArgumentError, FUNCTIONS, FunctionMeta, HttpRoute, RemoteError, RemoteFunction,
        RemoteResult, Slot, SourceLocation, call, decode_arg, encode_arg, invoke, reject_unknown,
    };
    pub use crate::registry::{BoxFuture, HttpMethod};
    pub use crate::resource::Resource;
    pub use crate::worker_state::{WorkerState, get as worker_state};
    pub use linkme;
    pub use serde_json::{Map, Value};

    /// Builds `T` ahead of the first call.
    pub fn warm<T: WorkerState>() -> BoxFuture<'static, Result<(), crate::FlashError>> {
        Box::pin(async { crate::worker_state::get::<T>().await.map(drop) })
    }

    /// Turns a library error into the function's return value.
    pub fn fail<R: RemoteResult>(error: crate::FlashError) -> R {
        R::from_result(Err(<R::Err as RemoteError>::from_flash(error)))
    }
}
