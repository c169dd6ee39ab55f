//! The canonical config hash of a manifest resource entry.
//!
//! Every field of the entry counts, in a canonical JSON form: object keys sorted, `null` members
//! dropped (absent and null mean the same), floats with an integral value written as integers.
//! Only deploy outputs are left out: `endpoint_id`, `aiKey` and `env._FLASH_SOURCE_FINGERPRINT`
//! (code changes reach workers through the new build, not through the endpoint config).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Keys of a resource entry written by deploy, not by the user.
const DEPLOY_OUTPUTS: [&str; 2] = ["endpoint_id", "aiKey"];
/// The env var Python Flash adds to force rolling releases; not configuration.
pub(crate) const SOURCE_FINGERPRINT_ENV: &str = "_FLASH_SOURCE_FINGERPRINT";
/// Fields of a resource entry that end up in its template rather than its endpoint.
const TEMPLATE_FIELDS: [&str; 3] = ["env", "imageName", "template"];

/// SHA-256 hex of the canonical form of `entry` without its deploy outputs.
pub(crate) fn config_hash(entry: &Value) -> String {
    digest(&canonical(&strip_outputs(entry)))
}

/// SHA-256 hex of the canonical form of the template part of `entry` (env, image, template).
pub(crate) fn template_hash(entry: &Value) -> String {
    let stripped = strip_outputs(entry);
    let mut part = Map::new();
    if let Value::Object(map) = &stripped {
        for key in TEMPLATE_FIELDS {
            if let Some(value) = map.get(key) {
                part.insert(key.to_owned(), value.clone());
            }
        }
    }
    digest(&canonical(&Value::Object(part)))
}

fn digest(value: &Value) -> String {
    let text = value.to_string();
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn strip_outputs(entry: &Value) -> Value {
    let mut entry = entry.clone();
    if let Value::Object(map) = &mut entry {
        for key in DEPLOY_OUTPUTS {
            map.shift_remove(key);
        }
        if let Some(Value::Object(env)) = map.get_mut("env") {
            env.shift_remove(SOURCE_FINGERPRINT_ENV);
            if env.is_empty() {
                map.shift_remove("env");
            }
        }
    }
    entry
}

/// Sorted keys, no null members, integral floats as integers.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                let member = &map[key];
                if !member.is_null() {
                    out.insert(key.clone(), canonical(member));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                // Exact: |f| < 2^53.
                #[allow(clippy::cast_possible_truncation)]
                Value::from(f as i64)
            }
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_nulls_and_outputs_do_not_matter() {
        let a = json!({"workersMax": 3, "env": {"A": "1"}, "gpuIds": null});
        let b = json!({"env": {"A": "1", "_FLASH_SOURCE_FINGERPRINT": "x"},
                       "workersMax": 3.0, "endpoint_id": "ep", "aiKey": "k"});
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_eq!(template_hash(&a), template_hash(&b));
    }

    #[test]
    fn every_field_counts() {
        let a = json!({"workersMax": 3, "functions": [{"name": "f"}]});
        let b = json!({"workersMax": 3, "functions": [{"name": "g"}]});
        assert_ne!(config_hash(&a), config_hash(&b));
        assert_eq!(template_hash(&a), template_hash(&b));
        let c = json!({"workersMax": 3, "functions": [{"name": "f"}], "env": {"A": "2"}});
        assert_ne!(template_hash(&a), template_hash(&c));
    }
}
