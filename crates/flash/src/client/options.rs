//! The per-request options Runpod accepts next to a job's input (runpod-wire.md §2.2).

use std::time::Duration;

use flash_contract::jobs as wire;
use serde_json::{Map, Value};

/// Options of one `/run` or `/runsync` request.
///
/// ```
/// use std::time::Duration;
/// use runpod_flash::client::{Policy, RunOptions};
///
/// let options = RunOptions::new()
///     .webhook("https://example.com/done")
///     .policy(Policy::new().execution_timeout(Duration::from_secs(60)).low_priority(true));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    webhook: Option<String>,
    policy: Policy,
    s3_config: Option<Value>,
}

/// A job's `policy`: how long it may run and live, and whether it waits behind normal jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    execution_timeout: Option<Duration>,
    ttl: Option<Duration>,
    low_priority: Option<bool>,
}

impl Policy {
    /// The platform's defaults (600 s execution timeout, 24 h ttl, normal priority).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the job may run before it ends `TIMED_OUT` (Runpod: 5 s to 7 days).
    #[must_use]
    pub fn execution_timeout(mut self, timeout: Duration) -> Self {
        self.execution_timeout = Some(timeout);
        self
    }

    /// How long the job may exist, queued and running, before Runpod deletes it (10 s to 7 days).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A low-priority job waits behind normal ones and does not make the endpoint scale up.
    #[must_use]
    pub fn low_priority(mut self, low: bool) -> Self {
        self.low_priority = Some(low);
        self
    }

    fn to_json(&self) -> Result<Option<Value>, String> {
        let mut policy = Map::new();
        for (field, value, range) in [
            (
                wire::POLICY_EXECUTION_TIMEOUT,
                self.execution_timeout,
                wire::EXECUTION_TIMEOUT_MS,
            ),
            (wire::POLICY_TTL, self.ttl, wire::TTL_MS),
        ] {
            let Some(value) = value else { continue };
            let ms = u64::try_from(value.as_millis()).unwrap_or(u64::MAX);
            if !range.contains(&ms) {
                return Err(format!(
                    "policy.{field} is {ms} ms; Runpod accepts {} to {} ms",
                    range.start(),
                    range.end()
                ));
            }
            policy.insert(field.to_owned(), Value::from(ms));
        }
        if let Some(low) = self.low_priority {
            policy.insert(wire::POLICY_LOW_PRIORITY.to_owned(), Value::Bool(low));
        }
        Ok((!policy.is_empty()).then_some(Value::Object(policy)))
    }
}

impl RunOptions {
    /// No options: the endpoint's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The URL Runpod POSTs the job's final status object to when it ends (it retries a
    /// non-200 answer twice, 10 s apart).
    #[must_use]
    pub fn webhook(mut self, url: impl Into<String>) -> Self {
        self.webhook = Some(url.into());
        self
    }

    /// The job's policy.
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// S3 credentials for the worker (`{"accessId", "accessSecret", "bucketName",
    /// "endpointUrl"}`), passed through untouched.
    #[must_use]
    pub fn s3_config(mut self, config: Value) -> Self {
        self.s3_config = Some(config);
        self
    }

    /// The request body: `{"input": input}` plus these options, checked.
    pub(crate) fn body(&self, input: Value) -> Result<Value, String> {
        let mut body = Map::with_capacity(4);
        body.insert(wire::INPUT.to_owned(), input);
        if let Some(url) = &self.webhook {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => return Err(format!("webhook {url:?} is not an http(s) URL")),
            }
            body.insert(wire::WEBHOOK.to_owned(), Value::from(url.as_str()));
        }
        if let Some(policy) = self.policy.to_json()? {
            body.insert(wire::POLICY.to_owned(), policy);
        }
        if let Some(s3) = &self.s3_config {
            if !s3.is_object() {
                return Err("s3Config must be a JSON object".to_owned());
            }
            body.insert(wire::S3_CONFIG.to_owned(), s3.clone());
        }
        Ok(Value::Object(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_are_spelled_as_runpod_reads_them() {
        let body = RunOptions::new()
            .webhook("http://127.0.0.1:9/hook")
            .policy(
                Policy::new()
                    .execution_timeout(Duration::from_secs(30))
                    .ttl(Duration::from_secs(60))
                    .low_priority(true),
            )
            .s3_config(json!({"bucketName": "b"}))
            .body(json!({"x": 1}))
            .unwrap();
        assert_eq!(
            body,
            json!({
                "input": {"x": 1},
                "webhook": "http://127.0.0.1:9/hook",
                "policy": {"executionTimeout": 30000, "ttl": 60000, "lowPriority": true},
                "s3Config": {"bucketName": "b"},
            })
        );
        assert_eq!(
            RunOptions::new().body(json!(null)).unwrap(),
            json!({"input": null})
        );
    }

    #[test]
    fn out_of_range_policies_and_bad_webhooks_name_the_field() {
        let short = Policy::new().execution_timeout(Duration::from_secs(1));
        let error = RunOptions::new().policy(short).body(json!(1)).unwrap_err();
        assert!(
            error.contains("policy.executionTimeout is 1000 ms"),
            "{error}"
        );
        let error = RunOptions::new()
            .policy(Policy::new().ttl(Duration::from_secs(8 * 86_400)))
            .body(json!(1))
            .unwrap_err();
        assert!(error.contains("policy.ttl"), "{error}");
        let error = RunOptions::new()
            .webhook("ftp://x")
            .body(json!(1))
            .unwrap_err();
        assert!(error.contains("webhook"), "{error}");
        let error = RunOptions::new()
            .s3_config(json!("k"))
            .body(json!(1))
            .unwrap_err();
        assert!(error.contains("s3Config"), "{error}");
    }
}
