//! How a function's errors cross the wire and come back typed.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FlashError;
use crate::error::RoutingErrorKind;

/// The JSON error a worker reports for a failed call: the `error` string of a FAILED queue job
/// (JSON in a string, as the Python SDK does) and the body of a load-balanced 4xx/5xx.
///
/// `error_type` and `error_message` are what Python's `runpod` SDK sends; `app_error` carries the
/// function's own error value when it returned `Err(e)`, so the caller gets `e` back typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// The error's type (`ValueError`, `RemoteExecutionError`, a Rust type name, ...).
    pub error_type: String,
    /// The error's message.
    pub error_message: String,
    /// The function's typed error value, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_error: Option<Value>,
    /// Host of the worker that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Id of the worker that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

impl WireError {
    /// An error without an application value.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
            app_error: None,
            hostname: None,
            worker_id: None,
        }
    }

    /// Reads a worker's error string: JSON of this shape, or (from other workers) plain text.
    pub fn parse(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| Self::new("Error", text))
    }
}

/// The error type of a `#[remote]` function: it must carry both the function's own failures and
/// the library's (routing, transport, a remote crash).
///
/// Implemented for [`FlashError`] (functions without typed application errors) and for
/// [`Error<E>`] (functions with one). Implement it for your own error enum to use that directly.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the error type of a #[remote] function",
    label = "use `runpod_flash::Error<YourError>` or `runpod_flash::FlashError`, or implement `RemoteError`",
    note = "the error type must carry both your own error and the library's remote-failure error"
)]
pub trait RemoteError: Sized + Send + 'static {
    /// Wraps a library failure.
    fn from_flash(error: FlashError) -> Self;
    /// This error as a worker reports it.
    fn to_wire(&self) -> WireError;
    /// The typed error carried by `wire`, if it carries one of this type.
    fn from_wire(wire: &WireError) -> Option<Self>;
}

impl RemoteError for FlashError {
    fn from_flash(error: FlashError) -> Self {
        error
    }

    fn to_wire(&self) -> WireError {
        WireError::new(flash_error_type(self), self.to_string())
    }

    fn from_wire(_: &WireError) -> Option<Self> {
        None
    }
}

/// The name of a library error's kind, as reported on the wire.
pub(crate) fn flash_error_type(error: &FlashError) -> &'static str {
    match error {
        FlashError::Manifest(_) => "ManifestError",
        FlashError::Routing(error) => match error.kind() {
            RoutingErrorKind::ManifestServiceUnavailable { .. } => {
                "ManifestServiceUnavailableError"
            }
            _ => "RoutingError",
        },
        FlashError::StateManager(_) => "StateManagerError",
        FlashError::RemoteExecution(_) => "RemoteExecutionError",
        FlashError::Serialization(_) => "SerializationError",
        FlashError::WorkerState(_) => "WorkerStateError",
        FlashError::Endpoint(_) => "EndpointError",
    }
}

/// A `#[remote]` function's error: its own typed error, or a library failure.
///
/// ```
/// use runpod_flash::Error;
///
/// #[derive(Debug, serde::Serialize, serde::Deserialize, thiserror::Error)]
/// enum InferError {
///     #[error("prompt is empty")]
///     EmptyPrompt,
/// }
///
/// fn check(prompt: &str) -> Result<(), Error<InferError>> {
///     if prompt.is_empty() {
///         return Err(Error::App(InferError::EmptyPrompt));
///     }
///     Ok(())
/// }
/// assert!(matches!(check(""), Err(Error::App(InferError::EmptyPrompt))));
/// ```
#[derive(Debug)]
pub enum Error<E> {
    /// The function returned this error (possibly on another endpoint).
    App(E),
    /// Routing, transport or the remote runtime failed.
    Flash(FlashError),
}

impl<E> From<FlashError> for Error<E> {
    fn from(error: FlashError) -> Self {
        Self::Flash(error)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::App(error) => error.fmt(f),
            Self::Flash(error) => error.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::App(error) => Some(error),
            Self::Flash(error) => Some(error),
        }
    }
}

impl<E> RemoteError for Error<E>
where
    E: Serialize + DeserializeOwned + fmt::Display + Send + 'static,
{
    fn from_flash(error: FlashError) -> Self {
        Self::Flash(error)
    }

    fn to_wire(&self) -> WireError {
        match self {
            Self::App(error) => WireError {
                app_error: serde_json::to_value(error).ok(),
                ..WireError::new(short_type_name::<E>(), error.to_string())
            },
            Self::Flash(error) => error.to_wire(),
        }
    }

    fn from_wire(wire: &WireError) -> Option<Self> {
        let value = wire.app_error.clone()?;
        serde_json::from_value(value).ok().map(Self::App)
    }
}

/// `my_crate::errors::InferError<T>` -> `InferError<T>`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    let start = base.rfind("::").map_or(0, |i| i + 2);
    &full[start..]
}

/// The return type of a `#[remote]` function: `Result<T, E>` with `T` JSON-serializable both
/// ways and `E` a [`RemoteError`].
#[diagnostic::on_unimplemented(
    message = "the return type of a #[remote] function must be `Result<T, E>` with `T: Serialize + DeserializeOwned` and `E: RemoteError`",
    label = "`{Self}` is not a remote result",
    note = "use `Result<T, runpod_flash::Error<YourError>>` or `Result<T, runpod_flash::FlashError>`"
)]
pub trait RemoteResult {
    /// The success type.
    type Ok: Serialize + DeserializeOwned + Send + 'static;
    /// The error type.
    type Err: RemoteError;
    /// Builds the return value.
    fn from_result(result: Result<Self::Ok, Self::Err>) -> Self;
    /// Takes the return value apart.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> RemoteResult for Result<T, E>
where
    T: Serialize + DeserializeOwned + Send + 'static,
    E: RemoteError,
{
    type Ok = T;
    type Err = E;

    fn from_result(result: Self) -> Self {
        result
    }

    fn into_result(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum MyError {
        Empty,
        TooLong(usize),
    }

    impl fmt::Display for MyError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    #[test]
    fn app_errors_round_trip_through_the_wire() {
        let wire = Error::App(MyError::TooLong(7)).to_wire();
        assert_eq!(wire.error_type, "MyError");
        assert_eq!(wire.error_message, "TooLong(7)");
        let text = serde_json::to_string(&wire).unwrap();
        let back = <Error<MyError> as RemoteError>::from_wire(&WireError::parse(&text));
        assert!(matches!(back, Some(Error::App(MyError::TooLong(7)))));
    }

    #[test]
    fn plain_text_errors_are_kept_as_messages() {
        let wire = WireError::parse("Traceback: boom");
        assert_eq!(wire.error_type, "Error");
        assert_eq!(wire.error_message, "Traceback: boom");
        assert!(<Error<MyError> as RemoteError>::from_wire(&wire).is_none());
    }
}
