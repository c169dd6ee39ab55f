//! A job request's `policy` (docs/wire-formats.md, "Queue calls"): Runpod's documented fields,
//! defaults and bounds. A value outside the documented range is refused with 400 naming the
//! field, rather than clamped: a client that depends on a value Runpod would not honour should
//! find out here, not in production.

use std::time::Duration;

use flash_contract::jobs as wire;
use serde_json::Value;

/// Runpod's default execution timeout when neither the request nor the endpoint sets one.
pub(crate) const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(600);
/// Runpod's default job time-to-live: queue time plus run time.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Smallest `policy.executionTimeout` Runpod accepts.
const MIN_EXECUTION_TIMEOUT: Duration =
    Duration::from_millis(*flash_contract::jobs::EXECUTION_TIMEOUT_MS.start());
/// Smallest `policy.ttl` Runpod accepts.
const MIN_TTL: Duration = Duration::from_millis(*flash_contract::jobs::TTL_MS.start());
/// Largest `policy.executionTimeout` and `policy.ttl`: seven days.
const MAX_POLICY: Duration = Duration::from_millis(*flash_contract::jobs::TTL_MS.end());

/// The parts of a request's `policy` the emulator acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `executionTimeout`, when set.
    pub(crate) execution_timeout: Option<Duration>,
    /// `ttl`, when set.
    pub(crate) ttl: Option<Duration>,
    /// `lowPriority`.
    pub(crate) low_priority: bool,
}

impl Policy {
    /// Reads `body["policy"]`; `Err` is the message of a 400 reply.
    pub(crate) fn parse(body: &Value) -> Result<Self, String> {
        let Some(policy) = body.get(wire::POLICY) else {
            return Ok(Self::default());
        };
        let Some(p) = policy.as_object() else {
            return Err(format!("policy must be an object, got {policy}"));
        };
        Ok(Self {
            execution_timeout: millis(
                p.get(wire::POLICY_EXECUTION_TIMEOUT),
                wire::POLICY_EXECUTION_TIMEOUT,
                MIN_EXECUTION_TIMEOUT,
            )?,
            ttl: millis(p.get(wire::POLICY_TTL), wire::POLICY_TTL, MIN_TTL)?,
            low_priority: match p.get(wire::POLICY_LOW_PRIORITY) {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(format!("policy.lowPriority must be a boolean, got {other}"));
                }
            },
        })
    }

    /// The job's time-to-live.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl.unwrap_or(DEFAULT_TTL)
    }
}

/// A policy duration in milliseconds within `min..=MAX_POLICY`.
fn millis(v: Option<&Value>, field: &str, min: Duration) -> Result<Option<Duration>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let range = || {
        format!(
            "policy.{field} must be whole milliseconds from {} to {}, got {v}",
            min.as_millis(),
            MAX_POLICY.as_millis()
        )
    };
    let ms = v.as_u64().ok_or_else(range)?;
    let d = Duration::from_millis(ms);
    if d < min || d > MAX_POLICY {
        return Err(range());
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documented_fields_defaults_and_bounds() {
        assert_eq!(
            Policy::parse(&json!({"input": 1})).unwrap(),
            Policy::default()
        );
        let p = Policy::parse(
            &json!({"policy": {"executionTimeout": 5000, "ttl": 10000, "lowPriority": true}}),
        )
        .unwrap();
        assert_eq!(p.execution_timeout, Some(Duration::from_secs(5)));
        assert_eq!(p.ttl(), Duration::from_secs(10));
        assert!(p.low_priority);
        assert_eq!(Policy::default().ttl(), DEFAULT_TTL);
        for (body, field) in [
            (json!({"policy": {"ttl": 9999}}), "policy.ttl"),
            (json!({"policy": {"ttl": 604_800_001_u64}}), "policy.ttl"),
            (json!({"policy": {"ttl": "1h"}}), "policy.ttl"),
            (
                json!({"policy": {"executionTimeout": 4999}}),
                "policy.executionTimeout",
            ),
            (
                json!({"policy": {"executionTimeout": -1}}),
                "policy.executionTimeout",
            ),
            (
                json!({"policy": {"lowPriority": "yes"}}),
                "policy.lowPriority",
            ),
            (json!({"policy": 5}), "policy must be an object"),
        ] {
            let e = Policy::parse(&body).unwrap_err();
            assert!(e.contains(field), "{body}: {e}");
        }
    }
}
