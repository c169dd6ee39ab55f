//! What `#[remote]`'s generated code calls, and nothing else does. Not a public API: it changes
//! without notice, and the version module lets old and new expansions coexist.

#[doc(hidden)]
pub mod v1 {
    pub use crate::call::args::{decode_arg, encode_arg, reject_unknown};
    pub use crate::call::dispatch::invoke;
    pub use crate::call::function::{
        BoxStream, FUNCTIONS, FunctionMeta, HttpRoute, Invoker, RemoteFunction, Slot,
        SourceLocation, StreamInvoker, StreamingFunction, UnaryFunction, Warmer,
    };
    pub use crate::call::streaming::{RemoteStream, call_stream, invoke_collected, invoke_stream};
    pub use crate::call::stub::Stub;
    pub use crate::call::{ArgumentError, RemoteError, RemoteResult};
    pub use crate::registry::{BoxFuture, HttpMethod};
    pub use crate::resource::Resource;
    pub use crate::worker_state::{WorkerState, get as worker_state};
    pub use futures_core::Stream;
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
        stream: Option<StreamInvoker>,
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
            stream,
            warm,
        }
    }

    /// Builds `T` ahead of the first call.
    pub fn warm<T: WorkerState>() -> BoxFuture<'static, Result<(), crate::FlashError>> {
        Box::pin(async { crate::worker_state::get::<T>().await.map(drop) })
    }

    /// A stateful streaming function's stream: `T` is got (built on first use) when the stream
    /// is first polled, then `body` makes the items; a state that fails to build is the one
    /// error item.
    pub fn stateful_stream<T, R, S>(
        body: impl FnOnce(&'static T) -> S + Send + 'static,
    ) -> impl Stream<Item = R> + Send + 'static
    where
        T: WorkerState,
        R: RemoteResult + Send + 'static,
        S: Stream<Item = R> + Send + 'static,
    {
        use futures_util::StreamExt;
        futures_util::stream::once(async move {
            match crate::worker_state::get::<T>().await {
                Ok(state) => body(state).left_stream(),
                Err(error) => futures_util::stream::iter([fail::<R>(error)]).right_stream(),
            }
        })
        .flatten()
    }

    /// Turns a library error into the function's return value.
    pub fn fail<R: RemoteResult>(error: crate::FlashError) -> R {
        R::from_result(Err(<R::Err as RemoteError>::from_flash(error)))
    }
}
