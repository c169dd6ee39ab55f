//! A job's status object, typed.

use std::time::Duration;

use flash_contract::jobs as wire;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::call::WireError;

/// Where a job is in its life, as Runpod reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for a worker.
    InQueue,
    /// A worker is running it.
    InProgress,
    /// It finished with an output.
    Completed,
    /// The worker reported an error.
    Failed,
    /// A client cancelled it.
    Cancelled,
    /// It ran past its execution timeout.
    TimedOut,
    /// A state this client does not know (kept verbatim).
    Other(String),
}

impl JobState {
    /// Reads a wire spelling (`IN_QUEUE`, ...).
    pub fn parse(text: &str) -> Self {
        match text {
            wire::STATUS_IN_QUEUE => Self::InQueue,
            // The docs list RUNNING too; users report never seeing it.
            wire::STATUS_IN_PROGRESS | "RUNNING" => Self::InProgress,
            wire::STATUS_COMPLETED => Self::Completed,
            wire::STATUS_FAILED => Self::Failed,
            wire::STATUS_CANCELLED => Self::Cancelled,
            wire::STATUS_TIMED_OUT => Self::TimedOut,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InQueue => wire::STATUS_IN_QUEUE,
            Self::InProgress => wire::STATUS_IN_PROGRESS,
            Self::Completed => wire::STATUS_COMPLETED,
            Self::Failed => wire::STATUS_FAILED,
            Self::Cancelled => wire::STATUS_CANCELLED,
            Self::TimedOut => wire::STATUS_TIMED_OUT,
            Self::Other(text) => text,
        }
    }

    /// Whether the job has ended (it will not change again, unless retried).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

impl<'de> Deserialize<'de> for JobState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self::parse(&text))
    }
}

/// A job's status object (`/status`, `/runsync`).
#[derive(Debug, Clone, Deserialize)]
pub struct JobStatus {
    /// The job's id.
    pub id: String,
    /// Its state.
    pub status: JobState,
    /// Time spent in the queue.
    #[serde(rename = "delayTime", default, deserialize_with = "millis")]
    pub delay_time: Option<Duration>,
    /// Time spent running.
    #[serde(rename = "executionTime", default, deserialize_with = "millis")]
    pub execution_time: Option<Duration>,
    /// The worker that ran it.
    #[serde(rename = "workerId", default)]
    pub worker_id: Option<String>,
    /// The output, or the latest progress while `IN_PROGRESS` ([`JobStatus::progress`]).
    #[serde(default)]
    pub output: Option<Value>,
    /// The worker's error of a `FAILED` job, verbatim (see [`JobStatus::failure`]).
    #[serde(default)]
    pub error: Option<Value>,
}

fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    // Runpod sends integers; a float or null is tolerated rather than failing the whole status.
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(Value::as_f64)
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0)))
}

impl JobStatus {
    /// The progress the worker last reported (runpod's `progress_update`, this crate's
    /// [`worker::progress`](crate::worker::progress)), while the job is `IN_PROGRESS`.
    pub fn progress<P: DeserializeOwned>(&self) -> Option<Result<P, serde_json::Error>> {
        if self.status != JobState::InProgress {
            return None;
        }
        self.output.clone().map(serde_json::from_value)
    }

    /// The worker's error, read as the runpod SDK and Flash workers write it (JSON in a string;
    /// plain text from other workers).
    pub fn failure(&self) -> Option<WireError> {
        match self.error.as_ref()? {
            Value::String(text) => Some(WireError::parse(text)),
            Value::Null => None,
            other => Some(
                serde_json::from_value(other.clone())
                    .unwrap_or_else(|_| WireError::new("Error", other.to_string())),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_objects_read_as_runpod_writes_them() {
        let status: JobStatus = serde_json::from_value(json!({
            "delayTime": 824, "executionTime": 3391, "id": "sync-1",
            "output": [1, 2], "status": "COMPLETED", "workerId": "w1"
        }))
        .unwrap();
        assert_eq!(status.status, JobState::Completed);
        assert_eq!(status.delay_time, Some(Duration::from_millis(824)));
        assert_eq!(status.execution_time, Some(Duration::from_millis(3391)));
        assert!(status.progress::<Value>().is_none());
        let running: JobStatus = serde_json::from_value(
            json!({"id": "j", "status": "IN_PROGRESS", "output": {"percent": 40}}),
        )
        .unwrap();
        assert_eq!(running.progress::<Value>().unwrap().unwrap()["percent"], 40);
        let odd: JobStatus =
            serde_json::from_value(json!({"id": "j", "status": "PAUSED", "delayTime": null}))
                .unwrap();
        assert_eq!(odd.status, JobState::Other("PAUSED".into()));
        assert!(!odd.status.is_final());
    }

    #[test]
    fn failures_parse_the_workers_json_string() {
        let failed: JobStatus = serde_json::from_value(json!({
            "id": "j", "status": "FAILED",
            "error": "{\"error_type\": \"ValueError\", \"error_message\": \"bad\"}"
        }))
        .unwrap();
        let wire = failed.failure().unwrap();
        assert_eq!(
            (wire.error_type.as_str(), wire.error_message.as_str()),
            ("ValueError", "bad")
        );
    }
}
