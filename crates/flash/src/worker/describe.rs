//! The compiled functions as JSON: how `flash build` learns what the binary serves.

use serde_json::{Value, json};

use crate::call::functions;

/// Every compiled `#[remote]` function and its resource's full manifest entry.
pub fn describe() -> Value {
    let list: Vec<Value> = functions()
        .into_iter()
        .map(|meta| {
            json!({
                "name": meta.name,
                "module": meta.module_path,
                "file": meta.source.file,
                "line": meta.source.line,
                "params": meta.params,
                "http_method": meta.route.map(|r| r.method.as_str()),
                "http_path": meta.route.map(|r| r.path),
                "state": meta.state,
                "resource": meta.resource.name(),
                "resource_config": serde_json::to_value(meta.resource.manifest_entry()).unwrap_or(Value::Null),
                "resource_problems": meta.resource.problems(),
            })
        })
        .collect();
    json!({ "runtime": "rust", "version": env!("CARGO_PKG_VERSION"), "functions": list })
}

/// [`describe`] as pretty JSON text with a trailing newline.
pub fn describe_json() -> String {
    let mut text = serde_json::to_string_pretty(&describe()).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}
