//! Where a `#[remote]` call goes, and how a worker runs one from JSON.

use serde_json::{Map, Value};

use super::errors::{RemoteError, RemoteResult, WireError};
use super::function::{InvokeError, RemoteFunction, UnaryFunction, generation};
use super::global::registry_for;
use super::http::peer;
use super::transport::{self, Outcome};
use crate::error::{Direction, FlashError, RemoteExecutionError, SerializationError};
use crate::registry::{RemoteRoute, Route};
use crate::testing::{self, Intercept};

type Ok<F> = <<F as RemoteFunction>::Return as RemoteResult>::Ok;
type Err<F> = <<F as RemoteFunction>::Return as RemoteResult>::Err;

/// The stub's slow path: mocks, then the registry's decision, then a local or peer call.
///
/// Boxed so that the stub's own future stays as small as the body's: the fast local path must
/// not pay for moving the transport's state around.
#[cold]
#[inline(never)]
pub(crate) fn call<F: UnaryFunction>(
    args: F::Args,
) -> crate::registry::BoxFuture<'static, F::Return> {
    Box::pin(call_unboxed::<F>(args))
}

async fn call_unboxed<F: UnaryFunction>(args: F::Args) -> F::Return {
    let generation = generation();
    let registry = match testing::intercept::<F>(args) {
        Intercept::Handler(handler, args) => {
            return match handler.downcast_ref::<testing::Handler<F>>() {
                Some(handler) => handler(args).await,
                None => F::call_local(args).await,
            };
        }
        Intercept::Local(args) => return F::call_local(args).await,
        Intercept::Route(registry, args) => (registry, args),
        Intercept::NotMocked(args) => match registry_for(F::META.name) {
            Ok(registry) => (registry, args),
            Err(error) => return F::Return::from_result(Err(Err::<F>::from_flash(error))),
        },
    };
    let (registry, args) = registry;
    match registry.route(F::META.name).await {
        Ok(Route::Local) => {
            if !testing::active() {
                F::slot().set_local(generation);
            }
            F::call_local(args).await
        }
        Ok(Route::Remote(route)) => F::Return::from_result(call_remote::<F>(&route, args).await),
        Err(error) => F::Return::from_result(Err(Err::<F>::from_flash(error))),
    }
}

/// Calls `F` on the peer of `route` and decodes its answer.
pub(crate) async fn call_remote<F: UnaryFunction>(
    route: &RemoteRoute,
    args: F::Args,
) -> Result<Ok<F>, Err<F>> {
    let function = F::META.name;
    let encoded = F::encode_args(&args).map_err(|error| {
        Err::<F>::from_flash(
            SerializationError::Serde {
                function: function.to_owned(),
                direction: Direction::Arguments,
                message: error.to_string(),
            }
            .into(),
        )
    })?;
    let peer = peer();
    match transport::call(&peer, route, function, encoded).await {
        Ok(Outcome::Output(value)) => serde_json::from_value(value).map_err(|error| {
            Err::<F>::from_flash(
                SerializationError::Serde {
                    function: function.to_owned(),
                    direction: Direction::Result,
                    message: format!("{error} (from {})", route.endpoint_url),
                }
                .into(),
            )
        }),
        Ok(Outcome::Failed { wire, job_id }) => Err(failed::<F>(route, wire, job_id)),
        Err(error) => Err(Err::<F>::from_flash(error)),
    }
}

/// A peer's report that `F` failed, as `F`'s error: its own typed error when the report carries
/// one, else a [`RemoteExecutionError`] naming function, endpoint, job and error type.
pub(crate) fn failed<F: RemoteFunction>(
    route: &RemoteRoute,
    wire: WireError,
    job_id: Option<String>,
) -> Err<F> {
    Err::<F>::from_wire(&wire).unwrap_or_else(|| {
        Err::<F>::from_flash(
            RemoteExecutionError {
                function: F::META.name.to_owned(),
                endpoint: route.endpoint_url.to_string(),
                job_id,
                error_type: Some(wire.error_type),
                message: wire.error_message,
            }
            .into(),
        )
    })
}

/// Runs `F` in this process from JSON arguments keyed by parameter name: what a worker does for
/// each job or request. Never routes: the worker serves its own functions.
pub fn invoke<F: UnaryFunction>(
    args: Map<String, Value>,
) -> crate::registry::BoxFuture<'static, Result<Value, InvokeError>> {
    Box::pin(async move {
        let args = F::decode_args(args).map_err(InvokeError::BadArguments)?;
        encode_result::<F>(F::call_local(args).await).map_err(InvokeError::Failed)
    })
}

/// A value `F` returned (or one item it streamed) as a worker reports it: the JSON of `Ok`, or
/// the error, as JSON or as the failure to encode it.
pub(crate) fn encode_result<F: RemoteFunction>(result: F::Return) -> Result<Value, WireError> {
    match result.into_result() {
        Ok(value) => serde_json::to_value(value).map_err(|error| {
            let error: FlashError = SerializationError::Serde {
                function: F::META.name.to_owned(),
                direction: Direction::Result,
                message: error.to_string(),
            }
            .into();
            WireError::new(super::errors::flash_error_type(&error), error.to_string())
        }),
        Err(error) => Err(error.to_wire()),
    }
}
