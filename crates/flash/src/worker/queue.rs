//! The Runpod serverless worker protocol: job-take long polls, job-done posts, heartbeat,
//! job-stop, graceful shutdown. Wire details: docs/wire-formats.md, "Workers".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flash_contract::env;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::dispatch::FunctionTable;
use crate::call::WireError;

/// The worker side of the platform, from the environment Runpod gives a worker.
#[derive(Debug, Clone)]
pub struct JobPlane {
    /// job-take URL, worker id substituted.
    pub take_url: String,
    /// job-done URL template, worker id substituted, `$ID` left for the job id.
    pub done_url: String,
    /// job-stream URL template, if any.
    pub stream_url: Option<String>,
    /// Heartbeat URL, if heartbeats are configured.
    pub ping_url: Option<String>,
    /// The raw key sent in `Authorization`.
    pub ai_key: Option<String>,
    /// This worker's id.
    pub worker_id: String,
    /// Reported in failure payloads.
    pub hostname: String,
    /// Heartbeat period.
    pub ping_interval: Duration,
}

impl JobPlane {
    /// Reads `RUNPOD_WEBHOOK_*`, `RUNPOD_AI_API_KEY`, `RUNPOD_POD_ID`, `RUNPOD_PING_INTERVAL` and
    /// `RUNPOD_POD_HOSTNAME` through `var`. `None` when `RUNPOD_WEBHOOK_GET_JOB` is unset (local
    /// mode).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let take = var(env::RUNPOD_WEBHOOK_GET_JOB)?;
        let worker_id =
            var(env::RUNPOD_POD_ID).unwrap_or_else(|| format!("{:032x}", rand::random::<u128>()));
        // Tolerant substitution: real templates use `$ID` for the worker in GET_JOB, hand-made
        // ones `$RUNPOD_POD_ID`; the result templates keep `$ID` for the job.
        let worker = |template: String| template.replace("$RUNPOD_POD_ID", &worker_id);
        let ping_interval = var(env::RUNPOD_PING_INTERVAL)
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis)
            .max(Duration::from_millis(100));
        let ai_key = var(env::RUNPOD_AI_API_KEY).filter(|key| !key.is_empty());
        let ping_url = var(env::RUNPOD_WEBHOOK_PING)
            .filter(|_| ai_key.is_some())
            .map(worker);
        Some(Self {
            take_url: worker(take).replace("$ID", &worker_id),
            done_url: var(env::RUNPOD_WEBHOOK_POST_OUTPUT)
                .map(worker)
                .unwrap_or_default(),
            stream_url: var(env::RUNPOD_WEBHOOK_POST_STREAM)
                .or_else(|| var(env::RUNPOD_WEBHOOK_JOB_STREAM))
                .map(worker),
            ping_url,
            ai_key,
            hostname: var(env::RUNPOD_POD_HOSTNAME).unwrap_or_else(|| "unknown".into()),
            worker_id,
            ping_interval,
        })
    }

    fn stop_url(&self) -> Option<String> {
        self.take_url
            .contains("/job-take/")
            .then(|| self.take_url.replacen("/job-take/", "/job-stop/", 1))
    }

    fn batch_url(&self) -> String {
        self.take_url.replacen("/job-take/", "/job-take-batch/", 1)
    }
}

/// `url` with `name=value` appended to its query.
fn with_param(url: &str, name: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={value}")
}

/// Jobs taken and not yet finished: id to the task running it.
type InFlight = Arc<Mutex<HashMap<String, AbortHandle>>>;

struct Worker {
    plane: JobPlane,
    table: FunctionTable,
    http: reqwest::Client,
    concurrency: usize,
    in_flight: InFlight,
    slot_freed: Notify,
}

/// How long a shutting-down worker waits for its jobs before failing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// Client-side timeout of one long poll.
const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(90);

/// Serves `table` through the job plane until `shutdown` turns true; then takes no more jobs,
/// lets the running ones finish (failing those still running after a grace period) and returns.
pub async fn run(
    plane: JobPlane,
    table: FunctionTable,
    concurrency: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = Arc::new(Worker {
        http: reqwest::Client::builder()
            .user_agent(crate::config::USER_AGENT)
            .build()
            .unwrap_or_default(),
        plane,
        table,
        concurrency: concurrency.max(1),
        in_flight: Arc::default(),
        slot_freed: Notify::new(),
    });
    tracing::info!(
        worker_id = %worker.plane.worker_id,
        resource = worker.table.resource(),
        concurrency = worker.concurrency,
        "queue worker taking jobs"
    );
    let heartbeat = tokio::spawn(Arc::clone(&worker).heartbeat());
    let stops = tokio::spawn(Arc::clone(&worker).stop_channel());
    let mut jobs = JoinSet::new();
    let mut backoff = Duration::from_millis(100);
    loop {
        while jobs.try_join_next().is_some() {}
        let held = worker.held();
        let wanted = worker.concurrency.saturating_sub(held);
        if wanted == 0 {
            tokio::select! {
                () = worker.slot_freed.notified() => continue,
                _ = shutdown.changed() => break,
            }
        }
        let taken = tokio::select! {
            taken = worker.take(wanted, held > 0) => taken,
            _ = shutdown.changed() => break,
        };
        match taken {
            Ok(Taken::Jobs(list)) => {
                backoff = Duration::from_millis(100);
                for job in list {
                    worker.start(job, &mut jobs);
                }
            }
            Ok(Taken::Nothing) => backoff = Duration::from_millis(100),
            Ok(Taken::SlowDown) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = shutdown.changed() => break,
                }
            }
            Err(error) => {
                tracing::warn!("taking a job failed: {error}; retrying in {backoff:?}");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::info!(
        in_flight = worker.held(),
        "shutting down: no more jobs will be taken"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, async {
        while jobs.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        let stuck: Vec<(String, AbortHandle)> = worker
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for (id, handle) in stuck {
            handle.abort();
            let error = WireError::new(
                "WorkerShutdown",
                "the worker was stopped before the job finished",
            );
            worker.finish(&id, Err(error)).await;
        }
    }
    heartbeat.abort();
    stops.abort();
}

enum Taken {
    Jobs(Vec<Map<String, Value>>),
    Nothing,
    SlowDown,
}

impl Worker {
    fn held(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.plane.ai_key {
            Some(key) => request.header("authorization", key),
            None => request,
        }
    }

    async fn take(&self, wanted: usize, in_progress: bool) -> Result<Taken, reqwest::Error> {
        let flag = if in_progress { "1" } else { "0" };
        let url = if wanted > 1 {
            with_param(
                &with_param(&self.plane.batch_url(), "batch_size", &wanted.to_string()),
                "job_in_progress",
                flag,
            )
        } else {
            with_param(&self.plane.take_url, "job_in_progress", flag)
        };
        let response = self
            .authorized(self.http.get(url))
            .header("content-type", "application/json")
            .timeout(LONG_POLL_TIMEOUT)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            // A long poll the platform held past our timeout is an empty answer, not a failure.
            Err(error) if error.is_timeout() => return Ok(Taken::Nothing),
            Err(error) => return Err(error),
        };
        match response.status().as_u16() {
            200 => {}
            204 | 400 => return Ok(Taken::Nothing),
            429 => return Ok(Taken::SlowDown),
            status => {
                tracing::warn!(status, "job-take answered with an error status");
                return Ok(Taken::SlowDown);
            }
        }
        let body = response.bytes().await?;
        Ok(match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(job)) => Taken::Jobs(vec![job]),
            Ok(Value::Array(list)) => Taken::Jobs(
                list.into_iter()
                    .filter_map(|job| match job {
                        Value::Object(job) => Some(job),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => Taken::Nothing,
        })
    }

    fn start(self: &Arc<Self>, mut job: Map<String, Value>, jobs: &mut JoinSet<()>) {
        let Some(Value::String(id)) = job.remove("id") else {
            let job = Value::Object(job);
            tracing::error!("dropping a job without an id: {job}");
            return;
        };
        let input = job.remove("input").unwrap_or(Value::Null);
        let worker = Arc::clone(self);
        let job_id = id.clone();
        // Registered under the lock before the task can finish and deregister itself.
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let handle = jobs.spawn(async move {
            let started = std::time::Instant::now();
            let result = worker.table.run_job(input).await;
            tracing::info!(
                job_id = %job_id,
                ok = result.is_ok(),
                ms = started.elapsed().as_millis() as u64,
                "job finished"
            );
            let still_ours = worker
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&job_id);
            if still_ours {
                worker.finish(&job_id, result).await;
            }
        });
        in_flight.insert(id, handle);
    }

    /// Posts a job's result (retrying on 5xx), then frees its slot.
    async fn finish(&self, job_id: &str, result: Result<Value, WireError>) {
        let body = match result {
            Ok(output) => json!({ "output": output }),
            Err(mut error) => {
                error.hostname = Some(self.plane.hostname.clone());
                error.worker_id = Some(self.plane.worker_id.clone());
                let text =
                    serde_json::to_string(&error).unwrap_or_else(|_| error.error_message.clone());
                json!({ "error": text })
            }
        };
        let url = with_param(
            &self.plane.done_url.replace("$ID", job_id),
            "isStream",
            "false",
        );
        let body = body.to_string();
        let mut delays = [Duration::from_secs(2), Duration::from_secs(3)].into_iter();
        loop {
            let response = self
                .authorized(self.http.post(&url))
                // The official SDK's headers, verbatim: the body is JSON despite the type.
                .header("content-type", "application/x-www-form-urlencoded")
                .header("charset", "utf-8")
                .header("x-request-id", job_id)
                .timeout(Duration::from_secs(60))
                .body(body.clone())
                .send()
                .await;
            let retry = match &response {
                Ok(response) if response.status().is_success() => break,
                Ok(response) if response.status().is_server_error() => true,
                Ok(response) => {
                    tracing::error!(
                        job_id,
                        status = response.status().as_u16(),
                        "the platform refused the job's result"
                    );
                    false
                }
                Err(error) => {
                    tracing::error!(job_id, "posting the job's result failed: {error}");
                    false
                }
            };
            match delays.next() {
                Some(delay) if retry => tokio::time::sleep(delay).await,
                _ => {
                    tracing::error!(job_id, "the job's result could not be delivered");
                    break;
                }
            }
        }
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job_id);
        self.slot_freed.notify_one();
    }

    async fn heartbeat(self: Arc<Self>) {
        let Some(ping) = self.plane.ping_url.clone() else {
            return;
        };
        let mut ticks = tokio::time::interval(self.plane.ping_interval);
        loop {
            ticks.tick().await;
            let mut ids: Vec<String> = self
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .cloned()
                .collect();
            ids.sort();
            let mut url = with_param(&ping, "runpod_version", crate::config::USER_AGENT);
            if !ids.is_empty() {
                url = with_param(&url, "job_id", &ids.join("%2C"));
            }
            let sent = self
                .authorized(self.http.get(url))
                .timeout(self.plane.ping_interval * 2)
                .send()
                .await;
            if let Err(error) = sent {
                tracing::warn!("heartbeat failed: {error}");
            }
        }
    }

    async fn stop_channel(self: Arc<Self>) {
        let Some(url) = self.plane.stop_url() else {
            return;
        };
        loop {
            let started = tokio::time::Instant::now();
            let answer = self
                .authorized(self.http.get(&url))
                .timeout(LONG_POLL_TIMEOUT)
                .send()
                .await;
            let mut pause = Duration::ZERO;
            match answer {
                Ok(response) if response.status().as_u16() == 200 => {
                    let stop: Value = response.json().await.unwrap_or(Value::Null);
                    let ids = stop["jobsToStop"].as_array().cloned().unwrap_or_default();
                    let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
                    for id in ids.iter().filter_map(Value::as_str) {
                        // A stopped job gets no result post: removing it also tells its task.
                        if let Some(handle) = in_flight.remove(id) {
                            handle.abort();
                            tracing::info!(job_id = id, "job stopped by the platform");
                        }
                    }
                    drop(in_flight);
                    self.slot_freed.notify_one();
                }
                Ok(response) if response.status().as_u16() == 429 => pause = Duration::from_secs(5),
                Ok(_) => pause = Duration::from_secs(1),
                Err(error) if error.is_timeout() => {}
                Err(_) => pause = Duration::from_secs(1),
            }
            // A platform that answers at once must not make us spin.
            let floor = Duration::from_secs(1).saturating_sub(started.elapsed());
            tokio::time::sleep(pause.max(floor)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_substituted_as_the_platform_writes_them() {
        let vars = HashMap::from([
            (
                "RUNPOD_WEBHOOK_GET_JOB",
                "https://api.runpod.ai/v2/EP/job-take/$ID?gpu=X",
            ),
            (
                "RUNPOD_WEBHOOK_POST_OUTPUT",
                "https://api.runpod.ai/v2/EP/job-done/$RUNPOD_POD_ID/$ID?gpu=X",
            ),
            (
                "RUNPOD_WEBHOOK_PING",
                "https://api.runpod.ai/v2/EP/ping/$RUNPOD_POD_ID?gpu=X",
            ),
            ("RUNPOD_POD_ID", "pod1"),
            ("RUNPOD_AI_API_KEY", "k"),
            ("RUNPOD_PING_INTERVAL", "2500"),
        ]);
        let plane = JobPlane::from_vars(|name| vars.get(name).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(
            plane.take_url,
            "https://api.runpod.ai/v2/EP/job-take/pod1?gpu=X"
        );
        assert_eq!(
            plane.done_url,
            "https://api.runpod.ai/v2/EP/job-done/pod1/$ID?gpu=X"
        );
        assert_eq!(
            plane.ping_url.as_deref(),
            Some("https://api.runpod.ai/v2/EP/ping/pod1?gpu=X")
        );
        assert_eq!(
            plane.stop_url().as_deref(),
            Some("https://api.runpod.ai/v2/EP/job-stop/pod1?gpu=X")
        );
        assert_eq!(
            plane.batch_url(),
            "https://api.runpod.ai/v2/EP/job-take-batch/pod1?gpu=X"
        );
        assert_eq!(plane.ping_interval, Duration::from_millis(2500));
        assert_eq!(with_param("http://x/a", "b", "1"), "http://x/a?b=1");
        assert_eq!(with_param("http://x/a?c=2", "b", "1"), "http://x/a?c=2&b=1");
    }

    #[test]
    fn no_get_job_template_means_local_mode_and_no_key_means_no_heartbeat() {
        assert!(JobPlane::from_vars(|_| None).is_none());
        let plane = JobPlane::from_vars(|name| match name {
            "RUNPOD_WEBHOOK_GET_JOB" => Some("http://x/job-take/$RUNPOD_POD_ID".into()),
            "RUNPOD_WEBHOOK_PING" => Some("http://x/ping".into()),
            _ => None,
        })
        .unwrap();
        assert!(plane.ping_url.is_none());
        assert_eq!(plane.worker_id.len(), 32);
        assert!(plane.take_url.ends_with(&plane.worker_id));
    }
}
