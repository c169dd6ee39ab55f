//! The future a `#[remote]` stub returns.
//!
//! Where the call runs is decided at its first poll, not when the stub is called, so a future
//! made outside a [`Mocks`](crate::testing::Mocks) scope and awaited inside it is mocked. A
//! function known to run here polls its body in place; anything else polls the boxed dispatcher.
//! The poll is small and `#[inline(always)]`, so the local path costs the body plus one cached
//! routing check: an `async fn` stub's state machine, which also carries the remote path, is too
//! big for the optimizer to inline.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::dispatch::call;
use super::function::UnaryFunction;
use crate::registry::BoxFuture;

pin_project_lite::pin_project! {
    /// A `#[remote]` call in flight.
    #[project = StubProj]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Stub<F: UnaryFunction, C, L> {
        #[pin]
        state: State<F, C, L>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F: UnaryFunction, C, L> {
        Start { args: Option<(F::Args, C)> },
        Local { #[pin] body: L },
        Remote { call: BoxFuture<'static, F::Return> },
    }
}

impl<F: UnaryFunction, C, L> Stub<F, C, L>
where
    C: FnOnce(F::Args) -> L,
    L: Future<Output = F::Return>,
{
    /// A call of `F` with `args`; `local` runs the body in this process.
    #[inline(always)]
    pub fn new(args: F::Args, local: C) -> Self {
        Self {
            state: State::Start {
                args: Some((args, local)),
            },
        }
    }
}

impl<F: UnaryFunction, C, L> Future for Stub<F, C, L>
where
    C: FnOnce(F::Args) -> L,
    L: Future<Output = F::Return>,
{
    type Output = F::Return;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Return> {
        let mut state = self.project().state;
        if let StateProj::Start { args } = state.as_mut().project() {
            // A `Start` always holds its arguments: they are taken only here, and the state
            // moves on in the same step.
            let Some((args, local)) = args.take() else {
                return Poll::Pending;
            };
            if F::slot().is_local() {
                state.set(State::Local { body: local(args) });
            } else {
                state.set(State::Remote {
                    call: call::<F>(args),
                });
            }
        }
        match state.project() {
            StateProj::Local { body } => body.poll(cx),
            StateProj::Remote { call } => call.as_mut().poll(cx),
            StateProj::Start { .. } => Poll::Pending,
        }
    }
}
