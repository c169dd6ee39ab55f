//! Streaming `#[remote]` functions: a `fn` returning `impl Stream<Item = Result<T, E>>`.
//!
//! The stub returns a [`RemoteStream`] of the same items wherever the function runs:
//!
//! - here: the body's own stream, polled in place;
//! - on a queue endpoint: the job is queued with `/run` and its items read from
//!   `/stream/{id}` as the worker posts them (job-stream, as a runpod SDK generator handler's
//!   yields); the job's result is the array of all items (the SDK's `return_aggregate_stream`),
//!   so a `/runsync` caller that does not stream still gets them;
//! - on a load-balanced endpoint: the route answers `text/event-stream`, one event per item
//!   ([`flash_contract::http::sse`]).
//!
//! The rules are a unary call's: the caller's deadline (else the call timeout) bounds the whole
//! stream; dropping the stream early cancels the job (or closes the connection, which drops the
//! producer); the function's error arrives typed, as the last item. A stream ends at its first
//! error, here as on a worker, so that a local run behaves as a deployed one.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::dispatch::{encode_result, failed};
use super::errors::{RemoteError, RemoteResult, WireError};
use super::function::{BoxStream, InvokeError, RemoteFunction, StreamingFunction, ValueStream};
use super::global::registry_for;
use super::http::{Peer, peer};
use super::sse;
use super::transport::{self, CancelOnDrop, Started};
use crate::client::{EndpointError, EndpointErrorKind};
use crate::config;
use crate::error::{Direction, FlashError, RemoteExecutionError, SerializationError};
use crate::registry::{RemoteRoute, Route};
use crate::testing::{self, Intercept};

type Ok<F> = <<F as RemoteFunction>::Return as RemoteResult>::Ok;
type Err<F> = <<F as RemoteFunction>::Return as RemoteResult>::Err;

/// The items of a streaming `#[remote]` call, in order; it ends after the last item or the
/// first error.
///
/// Nothing is sent until it is first polled. Dropping it before it ends stops the call: a
/// queue job is cancelled, a load-balanced request closed, a local producer dropped.
#[must_use = "streams do nothing unless polled"]
pub struct RemoteStream<I> {
    inner: BoxStream<'static, I>,
    /// The queue job's cancel while it runs (shared with the reader, which disarms it when the
    /// job ends): what [`cancel`](Self::cancel) sends.
    cancel: CancelSlot,
}

/// Where a running queue job's armed cancel is kept.
type CancelSlot = Arc<Mutex<Option<CancelOnDrop>>>;

impl<I> RemoteStream<I> {
    /// Stops the call and waits until it is stopped: for a queue job, until Runpod has
    /// answered its `/cancel`. Dropping the stream stops it too, but sends that cancel in the
    /// background, which a program about to exit may not wait for.
    pub async fn cancel(self) {
        let armed = lock(&self.cancel).take();
        drop(self.inner);
        if let Some(armed) = armed {
            armed.send().await;
        }
    }
}

fn lock(slot: &CancelSlot) -> std::sync::MutexGuard<'_, Option<CancelOnDrop>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<I> fmt::Debug for RemoteStream<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteStream")
    }
}

impl<I> Stream for RemoteStream<I> {
    type Item = I;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<I>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

/// The stub of a streaming function: routes at the first poll (so mocks entered after the call
/// are seen), then yields the chosen stream's items.
pub fn call_stream<F: StreamingFunction>(args: F::Args) -> RemoteStream<F::Return> {
    let cancel = CancelSlot::default();
    RemoteStream {
        inner: Box::pin(
            futures_util::stream::once(routed::<F>(args, Arc::clone(&cancel))).flatten(),
        ),
        cancel,
    }
}

async fn routed<F: StreamingFunction>(
    args: F::Args,
    cancel: CancelSlot,
) -> BoxStream<'static, F::Return> {
    let (registry, args) = match testing::intercept::<F>(args) {
        Intercept::Handler(handler, args) => {
            return match handler.downcast_ref::<testing::StreamHandler<F>>() {
                Some(handler) => until_error(handler(args)),
                None => local::<F>(args),
            };
        }
        Intercept::Local(args) => return local::<F>(args),
        Intercept::Route(registry, args) => (registry, args),
        Intercept::NotMocked(args) => match registry_for(F::META.name) {
            Ok(registry) => (registry, args),
            Err(error) => return failure::<F>(error),
        },
    };
    match registry.route(F::META.name).await {
        Ok(Route::Local) => local::<F>(args),
        Ok(Route::Remote(route)) => remote::<F>(RemoteRoute::clone(&route), args, cancel).await,
        Err(error) => failure::<F>(error),
    }
}

fn local<F: StreamingFunction>(args: F::Args) -> BoxStream<'static, F::Return> {
    until_error(F::stream_local(args))
}

/// `stream`, ending after its first error: what a worker sends, so the local run matches.
pub(crate) fn until_error<R, S>(stream: S) -> BoxStream<'static, R>
where
    R: RemoteResult + Send + 'static,
    S: Stream<Item = R> + Send + 'static,
{
    Box::pin(futures_util::stream::unfold(
        (Box::pin(stream), false),
        |(mut stream, failed)| async move {
            if failed {
                return None;
            }
            let item = stream.next().await?.into_result();
            let failed = item.is_err();
            Some((R::from_result(item), (stream, failed)))
        },
    ))
}

/// A stream of one error.
fn failure<F: StreamingFunction>(error: FlashError) -> BoxStream<'static, F::Return> {
    one::<F>(Err::<F>::from_flash(error))
}

fn one<F: StreamingFunction>(error: Err<F>) -> BoxStream<'static, F::Return> {
    Box::pin(futures_util::stream::iter([F::Return::from_result(Err(
        error,
    ))]))
}

async fn remote<F: StreamingFunction>(
    route: RemoteRoute,
    args: F::Args,
    slot: CancelSlot,
) -> BoxStream<'static, F::Return> {
    let function = F::META.name;
    let encoded = match F::encode_args(&args) {
        Ok(encoded) => encoded,
        Err(error) => {
            return failure::<F>(
                SerializationError::Serde {
                    function: function.to_owned(),
                    direction: Direction::Arguments,
                    message: error.to_string(),
                }
                .into(),
            );
        }
    };
    let peer = peer();
    // The job's stream is read with the key: without one, queue nothing.
    let key = peer.config.api_key.clone();
    if key.is_none() && matches!(route.kind, crate::registry::RemoteKind::Queue { .. }) {
        return failure::<F>(no_key(&route, function));
    }
    // Taken when the call starts, as its timeout is: the stream may be read elsewhere.
    let explicit = super::context::current().and_then(|c| c.deadline).is_some();
    match transport::start_stream(&peer, &route, function, encoded).await {
        Err(error) => failure::<F>(error),
        Ok(Started::Failed(wire)) => one::<F>(failed::<F>(&route, wire, None)),
        Ok(Started::Job {
            id,
            cancel,
            give_up_at,
        }) => match key {
            Some(key) => {
                *lock(&slot) = Some(cancel);
                job_items::<F>(&peer, key, route, id, slot, (give_up_at, explicit))
            }
            None => failure::<F>(no_key(&route, function)),
        },
        Ok(Started::Events {
            response,
            give_up_at,
        }) => event_items::<F>(route, response, (give_up_at, explicit)),
    }
}

fn no_key(route: &RemoteRoute, function: &str) -> FlashError {
    RemoteExecutionError {
        function: function.to_owned(),
        endpoint: route.endpoint_url.to_string(),
        job_id: None,
        error_type: None,
        message: format!(
            "no API key to queue the job and read its stream with (set {})",
            flash_contract::env::RUNPOD_API_KEY
        ),
    }
    .into()
}

/// When the caller gives up on a stream, and whether that is its own deadline (else the call
/// timeout).
type Patience = (Instant, bool);

/// The error of a stream the caller stopped waiting for.
fn deadline_passed(
    route: &RemoteRoute,
    function: &str,
    job_id: Option<&str>,
    explicit: bool,
) -> FlashError {
    let message = match explicit {
        true => "the call's deadline passed before the stream ended".to_owned(),
        false => format!(
            "the stream did not end within the default call timeout of {} s (set {} or wrap \
             the call in with_deadline)",
            peer().config.call_timeout.as_secs_f64(),
            flash_contract::env::FLASH_CALL_TIMEOUT_SECS,
        ),
    };
    RemoteExecutionError {
        function: function.to_owned(),
        endpoint: route.endpoint_url.to_string(),
        job_id: job_id.map(str::to_owned),
        error_type: None,
        message: match job_id {
            Some(_) => format!("{message}; the job was cancelled"),
            None => message,
        },
    }
    .into()
}

fn decode<F: StreamingFunction>(route: &RemoteRoute, value: Value) -> F::Return {
    F::Return::from_result(serde_json::from_value::<Ok<F>>(value).map_err(|error| {
        Err::<F>::from_flash(
            SerializationError::Serde {
                function: F::META.name.to_owned(),
                direction: Direction::Result,
                message: format!("{error} (a streamed item from {})", route.endpoint_url),
            }
            .into(),
        )
    }))
}

/// The items of a queue job, read from `/stream/{id}` by the endpoint client's reader.
fn job_items<F: StreamingFunction>(
    peer: &Peer,
    key: crate::ApiKey,
    route: RemoteRoute,
    id: String,
    cancel: CancelSlot,
    (give_up_at, explicit): Patience,
) -> BoxStream<'static, F::Return> {
    let connection = crate::client::transport::Connection::for_route(&route, key, peer);
    let chunks = crate::client::Job::new(Arc::new(connection), id.clone()).stream::<Value>();
    struct State {
        chunks: crate::client::JobStream<Value>,
        cancel: CancelSlot,
        route: RemoteRoute,
        id: String,
        give_up_at: Instant,
        explicit: bool,
        ended: bool,
    }
    let state = State {
        chunks,
        cancel,
        route,
        id,
        give_up_at,
        explicit,
        ended: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        let next = tokio::time::timeout_at(s.give_up_at, s.chunks.next()).await;
        let item = match next {
            Err(_) => {
                // Sent before the error is handed over: the caller may exit on it.
                let armed = lock(&s.cancel).take();
                if let Some(armed) = armed {
                    armed.send().await;
                }
                Err(Err::<F>::from_flash(deadline_passed(
                    &s.route,
                    F::META.name,
                    Some(&s.id),
                    s.explicit,
                )))
            }
            Ok(None) => {
                disarm(&s.cancel);
                return None;
            }
            Ok(Some(Ok(value))) => {
                let item = decode::<F>(&s.route, value).into_result();
                if item.is_ok() {
                    return Some((F::Return::from_result(item), s));
                }
                item
            }
            Ok(Some(Err(error))) => {
                if job_ended(&error) {
                    disarm(&s.cancel);
                }
                Err(endpoint_failure::<F>(&s.route, error))
            }
        };
        s.ended = true;
        Some((F::Return::from_result(item), s))
    }))
}

/// The job is over: nothing is left to cancel.
fn disarm(slot: &CancelSlot) {
    if let Some(mut armed) = lock(slot).take() {
        armed.disarm();
    }
}

/// Whether the job is over (so there is nothing left to cancel).
fn job_ended(error: &EndpointError) -> bool {
    matches!(
        error.kind(),
        EndpointErrorKind::Failed(_)
            | EndpointErrorKind::Cancelled
            | EndpointErrorKind::TimedOut { .. }
    )
}

/// A failure reading a job's stream, as the function's error: the worker's own error typed as
/// a unary call's would be; the job's other ends and the platform's refusals as they are.
fn endpoint_failure<F: StreamingFunction>(route: &RemoteRoute, error: EndpointError) -> Err<F> {
    match error.kind() {
        EndpointErrorKind::Failed(wire) => {
            failed::<F>(route, wire.clone(), error.job_id().map(str::to_owned))
        }
        EndpointErrorKind::Cancelled | EndpointErrorKind::TimedOut { .. } => Err::<F>::from_flash(
            RemoteExecutionError {
                function: F::META.name.to_owned(),
                endpoint: route.endpoint_url.to_string(),
                job_id: error.job_id().map(str::to_owned),
                error_type: None,
                message: error.kind().to_string(),
            }
            .into(),
        ),
        _ => Err::<F>::from_flash(error.into()),
    }
}

/// The items of a load-balanced route's event stream.
fn event_items<F: StreamingFunction>(
    route: RemoteRoute,
    response: reqwest::Response,
    (give_up_at, explicit): Patience,
) -> BoxStream<'static, F::Return> {
    use flash_contract::http::sse::{END_EVENT, ERROR_EVENT};
    struct State {
        response: reqwest::Response,
        parser: sse::Parser,
        events: VecDeque<sse::Event>,
        route: RemoteRoute,
        give_up_at: Instant,
        explicit: bool,
        ended: bool,
    }
    let state = State {
        response,
        parser: sse::Parser::new(config::MAX_PAYLOAD_BYTES),
        events: VecDeque::new(),
        route,
        give_up_at,
        explicit,
        ended: false,
    };
    let cut = |s: &State, why: String| -> FlashError {
        RemoteExecutionError {
            function: F::META.name.to_owned(),
            endpoint: s.route.endpoint_url.to_string(),
            job_id: None,
            error_type: None,
            message: why,
        }
        .into()
    };
    Box::pin(futures_util::stream::unfold(
        state,
        move |mut s| async move {
            if s.ended {
                return None;
            }
            let item = loop {
                if let Some(event) = s.events.pop_front() {
                    match event.name.as_deref() {
                        None | Some("message") => {
                            let item = serde_json::from_str::<Value>(&event.data)
                                .map_err(|error| {
                                    Err::<F>::from_flash(cut(
                                        &s,
                                        format!("a streamed item is not JSON: {error}"),
                                    ))
                                })
                                .and_then(|value| decode::<F>(&s.route, value).into_result());
                            if item.is_ok() {
                                return Some((F::Return::from_result(item), s));
                            }
                            break item;
                        }
                        Some(END_EVENT) => return None,
                        Some(ERROR_EVENT) => {
                            break Err(failed::<F>(&s.route, WireError::parse(&event.data), None));
                        }
                        Some(_) => continue, // an event a newer worker sends; not ours to read
                    }
                }
                match tokio::time::timeout_at(s.give_up_at, s.response.chunk()).await {
                    Err(_) => {
                        break Err(Err::<F>::from_flash(deadline_passed(
                            &s.route,
                            F::META.name,
                            None,
                            s.explicit,
                        )));
                    }
                    Ok(Ok(Some(bytes))) => match s.parser.push(&bytes) {
                        Ok(events) => s.events.extend(events),
                        Err(why) => break Err(Err::<F>::from_flash(cut(&s, why))),
                    },
                    Ok(Err(error)) => {
                        let why = format!("the stream broke off: {}", transport::describe(&error));
                        break Err(Err::<F>::from_flash(cut(&s, why)));
                    }
                    Ok(Ok(None)) => {
                        let why = "the stream was cut off before its end event".to_owned();
                        break Err(Err::<F>::from_flash(cut(&s, why)));
                    }
                }
            };
            s.ended = true;
            Some((F::Return::from_result(item), s))
        },
    ))
}

/// Starts `F` in this process from JSON arguments, its items as JSON: what a worker streams.
pub fn invoke_stream<F: StreamingFunction>(
    args: Map<String, Value>,
) -> Result<ValueStream, InvokeError> {
    let args = F::decode_args(args).map_err(InvokeError::BadArguments)?;
    Ok(Box::pin(
        until_error(F::stream_local(args)).map(encode_result::<F>),
    ))
}

/// Runs `F` in this process and collects its items into a JSON array (the runpod SDK's
/// `return_aggregate_stream`), posting each to job-stream as it comes when this is a queue
/// job: a streaming function's [`FunctionMeta::invoke`](super::FunctionMeta::invoke).
pub fn invoke_collected<F: StreamingFunction>(
    args: Map<String, Value>,
) -> crate::registry::BoxFuture<'static, Result<Value, InvokeError>> {
    Box::pin(async move { crate::worker::stream_and_collect(invoke_stream::<F>(args)?).await })
}
