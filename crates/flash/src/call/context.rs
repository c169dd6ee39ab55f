//! What travels with a call: its deadline and its trace context.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The deadline and trace of the call being served or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallContext {
    /// When the outermost caller stops waiting.
    pub deadline: Option<Instant>,
    /// The W3C trace context.
    pub trace: Option<TraceParent>,
}

tokio::task_local! {
    static CONTEXT: CallContext;
}

/// The context of the current task, if a caller set one.
pub fn current() -> Option<CallContext> {
    CONTEXT.try_with(|context| *context).ok()
}

/// Runs `future` with `deadline` from now: every `#[remote]` call inside it, including nested
/// calls on other endpoints, gets at most the time that remains. A shorter enclosing deadline
/// wins.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// let left = runpod_flash::call::with_deadline(Duration::from_secs(5), async {
///     runpod_flash::call::remaining()
/// })
/// .await;
/// assert!(left.unwrap() <= Duration::from_secs(5));
/// # });
/// ```
pub async fn with_deadline<F: Future>(timeout: Duration, future: F) -> F::Output {
    let mut context = current().unwrap_or(CallContext {
        deadline: None,
        trace: None,
    });
    let deadline = Instant::now() + timeout;
    context.deadline = Some(context.deadline.map_or(deadline, |d| d.min(deadline)));
    CONTEXT.scope(context, future).await
}

/// Runs `future` under `context` (the worker uses this for each job it serves).
pub async fn with_context<F: Future>(context: CallContext, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

/// `stream`, each poll of it under `context`: for a stream polled outside the task that made
/// it (a response body), so that the calls its producer makes still see the deadline and trace.
pub(crate) fn scoped_stream<S: futures_core::Stream + Send + 'static>(
    context: CallContext,
    stream: S,
) -> impl futures_core::Stream<Item = S::Item> + Send + 'static {
    let mut stream = Box::pin(stream);
    futures_util::stream::poll_fn(move |cx| {
        CONTEXT.sync_scope(context, || stream.as_mut().poll_next(cx))
    })
}

/// The time left before the current deadline, if there is one.
pub fn remaining() -> Option<Duration> {
    current()
        .and_then(|context| context.deadline)
        .map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

/// A W3C `traceparent`: version 00, trace id, parent span id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16-byte trace id.
    pub trace_id: u128,
    /// 8-byte span id of the caller.
    pub span_id: u64,
    /// Trace flags (01 = sampled).
    pub flags: u8,
}

impl TraceParent {
    /// A new trace with a random id.
    pub fn new_root() -> Self {
        Self {
            trace_id: rand::random::<u128>().max(1),
            span_id: rand::random::<u64>().max(1),
            flags: 1,
        }
    }

    /// A child span of this trace.
    pub fn child(&self) -> Self {
        Self {
            span_id: rand::random::<u64>().max(1),
            ..*self
        }
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" || trace.len() != 32 || span.len() != 16 {
            return None;
        }
        let parsed = Self {
            trace_id: u128::from_str_radix(trace, 16).ok()?,
            span_id: u64::from_str_radix(span, 16).ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        };
        (parsed.trace_id != 0 && parsed.span_id != 0).then_some(parsed)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(text).unwrap();
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.child().trace_id, parsed.trace_id);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-xyz-abc-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn nested_deadlines_keep_the_earlier_one() {
        let left = with_deadline(Duration::from_secs(10), async {
            with_deadline(Duration::from_secs(60), async { remaining() }).await
        })
        .await;
        assert_eq!(left, Some(Duration::from_secs(10)));
        assert_eq!(remaining(), None);
    }
}
