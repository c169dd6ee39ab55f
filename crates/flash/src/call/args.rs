//! Arguments by parameter name: the wire shape both Python Flash and this crate use.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Reserved input keys. Parameter names never start with `__`, so these cannot collide.
pub mod reserved {
    /// Marks a call without arguments: Runpod drops an empty `input`.
    pub const EMPTY: &str = "__empty";
    /// Names the function when a queue resource serves several.
    pub const FUNCTION: &str = "__flash_fn";
    /// Python Flash's class-method discriminator, accepted as an alias of [`FUNCTION`].
    pub const PYTHON_METHOD: &str = "method";
    /// W3C `traceparent` of the caller's span.
    pub const TRACEPARENT: &str = "__flash_traceparent";
    /// The caller's remaining time budget in milliseconds.
    pub const DEADLINE_MS: &str = "__flash_deadline_ms";
}

/// An argument that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArgumentError {
    /// The function.
    pub function: &'static str,
    /// The parameter, when one is to blame.
    pub parameter: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for ArgumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.parameter {
            Some(parameter) => write!(
                f,
                "argument `{parameter}` of `{}`: {}",
                self.function, self.message
            ),
            None => write!(f, "arguments of `{}`: {}", self.function, self.message),
        }
    }
}

impl std::error::Error for ArgumentError {}

/// Encodes one argument into `args`.
///
/// # Errors
/// The serde error, naming the parameter.
pub fn encode_arg<T: Serialize>(
    args: &mut Map<String, Value>,
    function: &'static str,
    parameter: &'static str,
    value: &T,
) -> Result<(), ArgumentError> {
    let value = serde_json::to_value(value).map_err(|error| ArgumentError {
        function,
        parameter: Some(parameter.to_owned()),
        message: error.to_string(),
    })?;
    args.insert(parameter.to_owned(), value);
    Ok(())
}

/// Takes one argument out of `args`. A missing argument decodes from `null`, so `Option`
/// parameters may be left out, as in Python.
///
/// # Errors
/// Names the parameter, and says whether it was missing or of the wrong type.
pub fn decode_arg<T: DeserializeOwned>(
    args: &mut Map<String, Value>,
    function: &'static str,
    parameter: &'static str,
) -> Result<T, ArgumentError> {
    let (value, missing) = match args.remove(parameter) {
        Some(value) => (value, false),
        None => (Value::Null, true),
    };
    // Values from a URL (path segments, query strings) arrive as text: "7" must also decode as
    // a number, while a `String` parameter keeps "007" as written.
    let retry = match &value {
        Value::String(text) => serde_json::from_str::<Value>(text).ok(),
        _ => None,
    };
    serde_json::from_value(value)
        .or_else(|error| match retry {
            Some(parsed) => serde_json::from_value(parsed).map_err(|_| error),
            None => Err(error),
        })
        .map_err(|error| ArgumentError {
            function,
            parameter: Some(parameter.to_owned()),
            message: if missing {
                "missing".to_owned()
            } else {
                format!("wrong type: {error}")
            },
        })
}

/// Rejects arguments no parameter takes, after the parameters were taken out.
///
/// # Errors
/// Names the unexpected keys.
pub fn reject_unknown(
    args: &Map<String, Value>,
    function: &'static str,
) -> Result<(), ArgumentError> {
    let unknown: Vec<&str> = args
        .keys()
        .map(String::as_str)
        .filter(|key| !key.starts_with("__"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ArgumentError {
        function,
        parameter: None,
        message: format!("unexpected argument(s): {}", unknown.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn missing_and_mistyped_arguments_are_named() {
        let mut args = map(json!({"n": "three"}));
        let error = decode_arg::<u32>(&mut args, "infer", "n").unwrap_err();
        assert_eq!(error.parameter.as_deref(), Some("n"));
        assert!(
            error
                .to_string()
                .starts_with("argument `n` of `infer`: wrong type")
        );
        let error = decode_arg::<String>(&mut args, "infer", "prompt").unwrap_err();
        assert_eq!(error.to_string(), "argument `prompt` of `infer`: missing");
        assert_eq!(
            decode_arg::<Option<u32>>(&mut args, "infer", "opt").unwrap(),
            None
        );
    }

    #[test]
    fn unknown_arguments_are_rejected_but_reserved_keys_pass() {
        let args = map(json!({"__empty": true, "extra": 1}));
        let error = reject_unknown(&args, "f").unwrap_err();
        assert_eq!(
            error.to_string(),
            "arguments of `f`: unexpected argument(s): extra"
        );
        assert!(reject_unknown(&map(json!({"__flash_fn": "f"})), "f").is_ok());
    }
}
