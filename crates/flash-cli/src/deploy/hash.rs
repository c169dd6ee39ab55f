//! The canonical config hash of a manifest resource entry.
//!
//! Every field of the entry counts, in a canonical JSON form: object keys sorted, `null` members
//! dropped (absent and null mean the same), floats with an integral value written as integers.
//! Deploy outputs are left out (`endpoint_id`, `aiKey`, `deploy_hash`, and the source
//! fingerprint a Python manifest may carry in `env`). [`deploy_hash`] adds what the endpoint is
//! really given beyond the entry: the rendered template, with the source fingerprint and
//! whether (and which) API key it carries, so a code-only change, a key rotation or a
//! `makes_remote_calls` flip each changes it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use flash_contract::env::FLASH_SOURCE_FINGERPRINT as SOURCE_FINGERPRINT_ENV;

use runpod_flash::manifest::DEPLOY_OUTPUT_KEYS as DEPLOY_OUTPUTS;

/// SHA-256 hex of the canonical form of `entry` without its deploy outputs.
pub(crate) fn config_hash(entry: &Value) -> String {
    digest(&canonical(&strip_outputs(entry)))
}

/// SHA-256 hex over the entry's config hash and `rendered`, the template the endpoint is given
/// (see [`crate::deploy::spec::template_identity`]).
pub(crate) fn deploy_hash(entry: &Value, rendered: &Value) -> String {
    digest(&Value::Array(vec![
        Value::from(config_hash(entry)),
        canonical(rendered),
    ]))
}

/// SHA-256 hex of `text`.
pub(crate) fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn digest(value: &Value) -> String {
    sha256_hex(&value.to_string())
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
        let b = json!({"workersMax": 3, "env": {"A": "1"}, "deploy_hash": "old"});
        assert_eq!(config_hash(&a), config_hash(&b));
    }

    #[test]
    fn every_field_counts() {
        let a = json!({"workersMax": 3, "functions": [{"name": "f"}]});
        let b = json!({"workersMax": 3, "functions": [{"name": "g"}]});
        assert_ne!(config_hash(&a), config_hash(&b));
    }

    #[test]
    fn the_rendered_template_counts() {
        let entry = json!({"workersMax": 3});
        let one = json!({"env": [["_FLASH_SOURCE_FINGERPRINT", "a"]]});
        let two = json!({"env": [["_FLASH_SOURCE_FINGERPRINT", "b"]]});
        assert_eq!(deploy_hash(&entry, &one), deploy_hash(&entry, &one));
        assert_ne!(deploy_hash(&entry, &one), deploy_hash(&entry, &two));
    }
}
