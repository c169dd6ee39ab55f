//! From a job's input (or a request's arguments) to a function's result, on the worker.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::call::function::StreamInvoker;
use crate::call::{
    CallContext, FunctionMeta, InvokeError, TraceParent, ValueStream, WireError, otlp, reserved,
    with_context,
};

/// The functions one worker serves.
#[derive(Debug, Clone)]
pub struct FunctionTable {
    resource: String,
    functions: Vec<&'static FunctionMeta>,
}

/// Why a job failed, as reported to the platform.
pub type JobError = WireError;

impl FunctionTable {
    /// The compiled functions of `resource`.
    pub fn for_resource(resource: &str) -> Self {
        Self {
            resource: resource.to_owned(),
            functions: crate::call::functions()
                .into_iter()
                .filter(|meta| meta.resource.name() == resource)
                .collect(),
        }
    }

    /// The resource served.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The functions served, by name.
    pub fn functions(&self) -> &[&'static FunctionMeta] {
        &self.functions
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&'static FunctionMeta> {
        self.functions
            .iter()
            .copied()
            .find(|meta| meta.name == name)
    }

    /// Builds every worker state the functions need, before the first job.
    ///
    /// # Errors
    /// The first state that fails to build.
    pub async fn warm(&self) -> Result<(), crate::FlashError> {
        for meta in &self.functions {
            if let Some(warm) = meta.warm {
                warm().await?;
            }
        }
        Ok(())
    }

    /// Runs a queue job's `input`: picks the function (`__flash_fn`, Python's `method`, or the
    /// only one), restores the caller's deadline and trace, decodes the arguments by name.
    pub async fn run_job(&self, input: Value) -> Result<Value, JobError> {
        let mut args = match input {
            Value::Object(args) => args,
            Value::Null => Map::new(),
            other => {
                return Err(WireError::new(
                    "InputError",
                    format!(
                        "the job input must be a JSON object of arguments by name, got {}",
                        type_name(&other)
                    ),
                ));
            }
        };
        let meta = self.pick(&mut args)?;
        let (context, caller_span) = take_context(&mut args);
        invoke_traced(meta, args, context, caller_span).await
    }

    fn pick(&self, args: &mut Map<String, Value>) -> Result<&'static FunctionMeta, JobError> {
        let named = match args.remove(reserved::FUNCTION) {
            Some(Value::String(name)) => Some(name),
            Some(other) => {
                return Err(WireError::new(
                    "InputError",
                    format!(
                        "`{}` must be a function name, got {other}",
                        reserved::FUNCTION
                    ),
                ));
            }
            // Python Flash's class endpoints name the method; accept it when it names one of
            // ours, so a Python caller reaches a Rust stateful endpoint.
            None => match args.get(reserved::PYTHON_METHOD) {
                Some(Value::String(name)) if self.get(name).is_some() => {
                    let name = name.clone();
                    args.remove(reserved::PYTHON_METHOD);
                    Some(name)
                }
                _ => None,
            },
        };
        match named {
            Some(name) => self.get(&name).ok_or_else(|| {
                WireError::new(
                    "UnknownFunction",
                    format!(
                        "resource `{}` has no function `{name}`; it serves: {}",
                        self.resource,
                        self.names()
                    ),
                )
            }),
            None => match self.functions.as_slice() {
                [only] => Ok(*only),
                [] => Err(WireError::new(
                    "UnknownFunction",
                    format!("resource `{}` serves no functions", self.resource),
                )),
                _ => Err(WireError::new(
                    "InputError",
                    format!(
                        "resource `{}` serves several functions ({}); name one with `{}`",
                        self.resource,
                        self.names(),
                        reserved::FUNCTION
                    ),
                )),
            },
        }
    }

    fn names(&self) -> String {
        self.functions
            .iter()
            .map(|meta| meta.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Takes the reserved keys out of a job's arguments and turns them into the call's context,
/// and the caller's span id (from its `traceparent`).
pub(crate) fn take_context(args: &mut Map<String, Value>) -> (CallContext, Option<u64>) {
    args.remove(reserved::EMPTY);
    let trace = match args.remove(reserved::TRACEPARENT) {
        Some(Value::String(text)) => TraceParent::parse(&text),
        _ => None,
    };
    let deadline = args
        .remove(reserved::DEADLINE_MS)
        .and_then(|ms| ms.as_u64())
        .map(|ms| tokio::time::Instant::now() + Duration::from_millis(ms));
    let context = CallContext {
        deadline,
        trace: Some(trace.map_or_else(TraceParent::new_root, |t| t.child())),
    };
    (context, trace.map(|t| t.span_id))
}

/// [`invoke`] as a span of the call's trace, child of `caller_span`, exported over OTLP when
/// that is configured ([`crate::call::otlp`]).
pub(crate) async fn invoke_traced(
    meta: &'static FunctionMeta,
    args: Map<String, Value>,
    context: CallContext,
    caller_span: Option<u64>,
) -> Result<Value, JobError> {
    let resource = std::env::var(flash_contract::env::FLASH_RESOURCE_NAME).unwrap_or_default();
    let exported = context.trace.and_then(|trace| {
        otlp::Span::start(
            otlp::Kind::Server,
            &trace,
            caller_span,
            meta.name,
            &resource,
        )
    });
    let result = invoke(meta, args, context).await;
    if let Some(exported) = exported {
        exported
            .end(result.as_ref().err().map(|e| e.error_message.as_str()))
            .await;
    }
    result
}

/// Runs `meta` on `args` under `context`; a passed deadline fails the call. (A streaming
/// function's invoker posts its items as they come and returns them all:
/// [`stream_and_collect`].)
pub(crate) async fn invoke(
    meta: &'static FunctionMeta,
    args: Map<String, Value>,
    context: CallContext,
) -> Result<Value, JobError> {
    let run = with_context(context, (meta.invoke)(args));
    let result = match context.deadline {
        Some(deadline) => match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result,
            Err(_) => {
                return Err(WireError::new(
                    "DeadlineExceeded",
                    format!("`{}` ran past its caller's deadline", meta.name),
                ));
            }
        },
        None => run.await,
    };
    result.map_err(job_error)
}

/// Why an invocation failed, as the worker reports it.
fn job_error(error: InvokeError) -> JobError {
    match error {
        InvokeError::BadArguments(error) => WireError::new("ArgumentError", error.to_string()),
        InvokeError::Failed(wire) => wire,
    }
}

/// Items a streaming job may produce ahead of their job-stream posts.
const POSTS_AHEAD: usize = 64;

/// A streaming function's items, each posted to job-stream (when this is a queue job) and all
/// collected as the result. The posts run in order on their own task, so the function produces
/// its next item while the last one is on its way (one post at a time in the function's own
/// loop cost 15% of the items per second); the result is returned only after every post.
pub(crate) async fn stream_and_collect(mut items: ValueStream) -> Result<Value, InvokeError> {
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort(); // the job was stopped: its queued chunks have no reader
        }
    }
    let (posts, mut queued) = tokio::sync::mpsc::channel::<Value>(POSTS_AHEAD);
    let poster = super::queue::reports::current().map(|link| {
        AbortOnDrop(tokio::spawn(async move {
            while let Some(item) = queued.recv().await {
                super::queue::reports::chunk_for(&link, item).await;
            }
        }))
    });
    let mut all = Vec::new();
    let mut failure = None;
    while let Some(item) = items.next().await {
        match item {
            Ok(item) => {
                if poster.is_some() {
                    // The poster only stops when aborted, which drops this future first.
                    let _ = posts.send(item.clone()).await;
                }
                all.push(item);
            }
            Err(wire) => {
                failure = Some(wire);
                break;
            }
        }
    }
    drop(posts);
    if let Some(mut poster) = poster {
        let _ = (&mut poster.0).await;
    }
    match failure {
        Some(wire) => Err(InvokeError::Failed(wire)),
        None => Ok(Value::Array(all)),
    }
}

/// Starts the streaming function `name` (`start`) on `args` under `context`, for a load-balanced
/// request: its items as they come, each polled within the call's context, and ended by a
/// `DeadlineExceeded` error when the caller's deadline passes first.
///
/// # Errors
/// Arguments that do not decode, as an `ArgumentError` (nothing ran).
pub(crate) fn invoke_stream(
    name: &'static str,
    start: StreamInvoker,
    args: Map<String, Value>,
    context: CallContext,
) -> Result<ValueStream, JobError> {
    let items = crate::call::scoped_stream(context, start(args).map_err(job_error)?);
    let Some(deadline) = context.deadline else {
        return Ok(Box::pin(items));
    };
    let bounded = futures_util::stream::unfold(
        (Box::pin(items), false),
        move |(mut items, ended)| async move {
            if ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, items.next()).await {
                Ok(item) => item.map(|item| (item, (items, false))),
                Err(_) => Some((
                    Err(WireError::new(
                        "DeadlineExceeded",
                        format!("`{name}` ran past its caller's deadline"),
                    )),
                    (items, true),
                )),
            }
        },
    );
    Ok(Box::pin(bounded))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
