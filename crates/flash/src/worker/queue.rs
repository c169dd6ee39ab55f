//! The Runpod serverless worker protocol: job-take long polls, job-done posts, heartbeat,
//! job-stop, graceful shutdown. Wire details: docs/wire-formats.md, "Workers".

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flash_contract::env;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::dispatch::FunctionTable;
use crate::backoff::{doubling, jittered, retry_after};
use crate::call::WireError;
use crate::call::transport::describe;
use crate::config;

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
    /// How long a job's result post is retried after transport errors, 5xx and 429
    /// (`FLASH_RESULT_RETRY_SECS`, default [`config::RESULT_RETRY_BUDGET`]).
    pub result_retry_budget: Duration,
}

impl JobPlane {
    /// Reads `RUNPOD_WEBHOOK_*`, `RUNPOD_AI_API_KEY`, `RUNPOD_POD_ID`, `RUNPOD_PING_INTERVAL`,
    /// `RUNPOD_POD_HOSTNAME` and `FLASH_RESULT_RETRY_SECS` through `var`. `None` when
    /// `RUNPOD_WEBHOOK_GET_JOB` is unset (local mode).
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
            result_retry_budget: config::seconds(
                env::FLASH_RESULT_RETRY_SECS,
                var(env::FLASH_RESULT_RETRY_SECS).as_deref(),
                config::RESULT_RETRY_BUDGET,
            ),
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

/// What a job reports while it runs: progress (runpod's `progress_update`) and streamed chunks
/// (a generator handler's yields).
pub(crate) mod reports {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use serde_json::{Value, json};

    use super::{Posted, Worker, with_param};
    use crate::config;

    tokio::task_local! {
        /// The job the current task runs, on a queue worker.
        pub(super) static JOB: Arc<JobLink>;
    }

    pub(crate) struct JobLink {
        pub(super) worker: Arc<Worker>,
        pub(super) job_id: String,
        /// Whether the job streamed a chunk: its result is then posted with `isStream=true`,
        /// as the SDK posts a generator's.
        pub(super) streamed: AtomicBool,
    }

    /// Posts `{"status": "IN_PROGRESS", "output": value}` to job-done, as the runpod SDK's
    /// `progress_update` does. Returns whether the current task is a queue job.
    pub(crate) async fn progress(value: Value) -> bool {
        let Ok(link) = JOB.try_with(Arc::clone) else {
            return false;
        };
        let url = link.worker.plane.done_url.replace("$ID", &link.job_id);
        let body = json!({"status": "IN_PROGRESS", "output": value});
        post(&link, &url, &body, "a progress update").await
    }

    /// The queue job the current task runs, if it is one.
    pub(crate) fn current() -> Option<Arc<JobLink>> {
        JOB.try_with(Arc::clone).ok()
    }

    /// Posts `{"output": chunk}` to job-stream, as the SDK posts each yield of a generator.
    /// Returns whether the current task is a queue job whose platform takes streams.
    pub(crate) async fn chunk(value: Value) -> bool {
        match current() {
            Some(link) => chunk_for(&link, value).await,
            None => false,
        }
    }

    /// [`chunk`] for the job of `link`, from any task.
    pub(crate) async fn chunk_for(link: &JobLink, value: Value) -> bool {
        let Some(template) = &link.worker.plane.stream_url else {
            tracing::warn!(job_id = %link.job_id, "no job-stream URL (RUNPOD_WEBHOOK_POST_STREAM); a streamed chunk is dropped");
            return false;
        };
        link.streamed.store(true, Ordering::Relaxed);
        let url = template.replace("$ID", &link.job_id);
        post(link, &url, &json!({"output": value}), "a streamed chunk").await
    }

    async fn post(link: &JobLink, url: &str, body: &Value, what: &str) -> bool {
        // The SDK's posts other than a generator's result say isStream=false.
        let url = with_param(url, "isStream", "false");
        match link
            .worker
            .post_result(
                &url,
                &link.job_id,
                &body.to_string(),
                config::PEER_REQUEST_TIMEOUT,
            )
            .await
        {
            Posted::Delivered => {}
            // Advisory, as in the SDK: nothing is retried, the job goes on.
            Posted::Transient { why, .. } => {
                tracing::warn!(job_id = %link.job_id, "{what} was not delivered: {why}");
            }
            Posted::TooLarge | Posted::Refused(_) => {
                tracing::warn!(job_id = %link.job_id, "the platform refused {what}");
            }
        }
        true
    }
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
    /// Finished jobs whose result post is being retried (see [`Redelivery`]).
    redelivering: AtomicUsize,
}

/// A finished job whose result post failed and is being retried gives its concurrency slot
/// back for the time it waits, so that one platform hiccup in a hundred posts does not idle a
/// slot for each retry delay (it halved a worker's throughput in the soak benchmark). At most
/// `concurrency` results wait this way; beyond that a retrying job keeps its slot, which bounds
/// the results held in memory. The job stays in the worker's held list (its heartbeat still
/// names it, and job-stop still cancels it) until its result is delivered or given up.
struct Redelivery<'a> {
    worker: &'a Worker,
}

impl<'a> Redelivery<'a> {
    fn start(worker: &'a Worker) -> Option<Self> {
        let limit = worker.concurrency;
        worker
            .redelivering
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        worker.slot_freed.notify_one();
        Some(Self { worker })
    }
}

impl Drop for Redelivery<'_> {
    fn drop(&mut self) {
        self.worker.redelivering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a shutting-down worker waits for its jobs before failing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
/// How long a shutting-down worker retries the failure posts of the jobs it gave up on.
const SHUTDOWN_RESULT_BUDGET: Duration = Duration::from_secs(5);
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
            .user_agent(config::USER_AGENT)
            .pool_idle_timeout(config::POOL_IDLE_TIMEOUT)
            .build()
            .unwrap_or_default(),
        plane,
        table,
        concurrency: concurrency.max(1),
        in_flight: Arc::default(),
        slot_freed: Notify::new(),
        redelivering: AtomicUsize::new(0),
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
    let mut failed_takes = 0u32;
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
        let started = tokio::time::Instant::now();
        let taken = tokio::select! {
            taken = worker.take(wanted, held > 0) => taken,
            _ = shutdown.changed() => break,
        };
        let pause = match taken {
            Ok(Taken::Jobs(list)) if !list.is_empty() => {
                failed_takes = 0;
                for job in list {
                    worker.start(job, &mut jobs);
                }
                Duration::ZERO
            }
            Ok(Taken::Jobs(_) | Taken::Nothing) => {
                failed_takes = 0;
                empty_take_pause(started.elapsed())
            }
            Ok(Taken::SlowDown) => jittered(config::TAKE_SLOW_DOWN, config::WORKER_JITTER),
            Err(error) => {
                let pause = take_backoff(failed_takes);
                failed_takes = failed_takes.saturating_add(1);
                tracing::warn!("taking a job failed: {error}; retrying in {pause:?}");
                pause
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
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
        let mut failures = JoinSet::new();
        for (id, handle) in stuck {
            handle.abort();
            let error = WireError::new(
                "WorkerShutdown",
                "the worker was stopped before the job finished",
            );
            let worker = Arc::clone(&worker);
            failures.spawn(async move {
                worker
                    .finish(&id, Err(error), SHUTDOWN_RESULT_BUDGET, false)
                    .await;
            });
        }
        while failures.join_next().await.is_some() {}
    }
    heartbeat.abort();
    stops.abort();
}

enum Taken {
    Jobs(Vec<Map<String, Value>>),
    Nothing,
    SlowDown,
}

/// The pause after a job-take that came back empty after `took`: what is left of
/// [`config::EMPTY_TAKE_MIN_INTERVAL`], so a platform that answers at once is not polled in a
/// hot loop and a held long poll is not delayed.
fn empty_take_pause(took: Duration) -> Duration {
    config::EMPTY_TAKE_MIN_INTERVAL.saturating_sub(took)
}

/// The pause after the `failed`-th job-take in a row (0 for the first) that failed to connect or
/// was cut off: doubling from [`config::TAKE_BACKOFF_INITIAL`] to [`config::TAKE_BACKOFF_MAX`],
/// jittered.
fn take_backoff(failed: u32) -> Duration {
    jittered(
        doubling(
            config::TAKE_BACKOFF_INITIAL,
            failed,
            config::TAKE_BACKOFF_MAX,
        ),
        config::WORKER_JITTER,
    )
}

/// What one job-done post came to.
enum Posted {
    Delivered,
    /// Worth retrying: a transport error, a 5xx or a 429 (with its `Retry-After`, if any).
    Transient {
        why: String,
        retry_after: Option<Duration>,
    },
    /// 413: the body is larger than the platform accepts.
    TooLarge,
    /// Any other status: retrying would get the same answer.
    Refused(u16),
}

/// The job-done body of a result.
fn result_body(result: Result<Value, WireError>, plane: &JobPlane) -> String {
    let body = match result {
        Ok(output) => json!({ "output": output }),
        Err(mut error) => {
            error.hostname = Some(plane.hostname.clone());
            error.worker_id = Some(plane.worker_id.clone());
            let text =
                serde_json::to_string(&error).unwrap_or_else(|_| error.error_message.clone());
            json!({ "error": text })
        }
    };
    body.to_string()
}

/// The failure posted instead of a result of `size` bytes that is over the limit, or that the
/// platform refused with 413 (`refused`): `{"error": ...}`, as the SDK posts a handler error.
fn too_large_body(size: usize, refused: bool, plane: &JobPlane) -> String {
    let limit = config::MAX_RESULT_BYTES;
    let message = if refused {
        format!(
            "the job's result is {size} bytes of JSON and the platform refused it as too large \
             (HTTP 413; Flash's own limit is {limit} bytes); return large data through a network \
             volume and return its path"
        )
    } else {
        format!(
            "the job's result is {size} bytes of JSON, over the {limit}-byte limit of a job \
             result, so it was not sent; return large data through a network volume and return \
             its path"
        )
    };
    result_body(Err(WireError::new("OutputTooLarge", message)), plane)
}

impl Worker {
    /// Jobs occupying a concurrency slot: those taken and not finished, less the finished ones
    /// whose result waits to be redelivered (they hold no slot, see [`Redelivery`]).
    fn held(&self) -> usize {
        let in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        in_flight.saturating_sub(self.redelivering.load(Ordering::Relaxed))
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
        let link = Arc::new(reports::JobLink {
            worker: Arc::clone(&worker),
            job_id: job_id.clone(),
            streamed: AtomicBool::new(false),
        });
        let handle = jobs.spawn(async move {
            let started = std::time::Instant::now();
            let result = reports::JOB
                .scope(Arc::clone(&link), worker.table.run_job(input))
                .await;
            let streamed = link.streamed.load(Ordering::Relaxed);
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
                let budget = worker.plane.result_retry_budget;
                worker.finish(&job_id, result, budget, streamed).await;
            }
        });
        in_flight.insert(id, handle);
    }

    /// Posts a job's result, then frees its slot. Transport errors, 5xx and 429 are retried with
    /// jittered exponential back-off for at most `budget`; a result over
    /// [`config::MAX_RESULT_BYTES`], or refused with 413, is replaced by an `OutputTooLarge`
    /// error; any other refusal is final. A result given up is logged once, with the job id.
    async fn finish(
        &self,
        job_id: &str,
        result: Result<Value, WireError>,
        budget: Duration,
        streamed: bool,
    ) {
        let mut body = result_body(result, &self.plane);
        let mut replaced = false;
        if body.len() > config::MAX_RESULT_BYTES {
            tracing::error!(
                job_id,
                bytes = body.len(),
                limit = config::MAX_RESULT_BYTES,
                "the job's result is too large to post; failing the job instead"
            );
            body = too_large_body(body.len(), false, &self.plane);
            replaced = true;
        }
        let url = with_param(
            &self.plane.done_url.replace("$ID", job_id),
            "isStream",
            if streamed { "true" } else { "false" },
        );
        let started = tokio::time::Instant::now();
        let mut attempts = 0u32;
        let mut redelivery = None;
        loop {
            let left = budget.saturating_sub(started.elapsed());
            attempts += 1;
            let posted = self
                .post_result(&url, job_id, &body, config::RESULT_POST_TIMEOUT.min(left))
                .await;
            let (why, retry_after) = match posted {
                Posted::Delivered => break,
                Posted::TooLarge if !replaced => {
                    tracing::error!(
                        job_id,
                        bytes = body.len(),
                        "the platform refused the job's result as too large (HTTP 413); failing \
                         the job instead"
                    );
                    body = too_large_body(body.len(), true, &self.plane);
                    replaced = true;
                    continue;
                }
                Posted::TooLarge => {
                    tracing::error!(
                        job_id,
                        status = 413,
                        "the platform refused the job's result; it is lost and the job will end \
                         TIMED_OUT"
                    );
                    break;
                }
                Posted::Refused(status) => {
                    tracing::error!(
                        job_id,
                        status,
                        "the platform refused the job's result; it is lost and the job will end \
                         TIMED_OUT"
                    );
                    break;
                }
                Posted::Transient { why, retry_after } => (why, retry_after),
            };
            let delay = jittered(
                doubling(
                    config::RESULT_RETRY_INITIAL,
                    attempts - 1,
                    config::RESULT_RETRY_MAX,
                ),
                config::WORKER_JITTER,
            )
            .max(retry_after.unwrap_or_default());
            let elapsed = started.elapsed();
            // Give up when the next attempt could not start (with a second to run) in budget.
            if elapsed + delay + Duration::from_secs(1) > budget {
                tracing::error!(
                    job_id,
                    attempts,
                    secs = elapsed.as_secs(),
                    "the job's result could not be delivered ({why}); giving it up, the job will \
                     end TIMED_OUT"
                );
                break;
            }
            if redelivery.is_none() {
                redelivery = Redelivery::start(self);
            }
            if attempts == 1 {
                tracing::warn!(
                    job_id,
                    "posting the job's result failed ({why}); retrying for up to {budget:?}"
                );
            } else {
                tracing::debug!(job_id, attempts, "posting the job's result failed ({why})");
            }
            tokio::time::sleep(delay).await;
        }
        // Counted back first: in between, the job counts as holding a slot (one take may wait
        // for the notification below), never the other way round (one job too many taken).
        drop(redelivery);
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job_id);
        self.slot_freed.notify_one();
    }

    /// One job-done post.
    async fn post_result(&self, url: &str, job_id: &str, body: &str, timeout: Duration) -> Posted {
        let response = self
            .authorized(self.http.post(url))
            // The official SDK's headers, verbatim: the body is JSON despite the type.
            .header("content-type", "application/x-www-form-urlencoded")
            .header("charset", "utf-8")
            .header("x-request-id", job_id)
            .timeout(timeout)
            .body(body.to_owned())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                return Posted::Transient {
                    why: describe(&error),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        match status.as_u16() {
            _ if status.is_success() => Posted::Delivered,
            413 => Posted::TooLarge,
            429 => Posted::Transient {
                why: "HTTP 429".to_owned(),
                retry_after: retry_after(&response),
            },
            code if status.is_server_error() => Posted::Transient {
                why: format!("HTTP {code}"),
                retry_after: retry_after(&response),
            },
            code => Posted::Refused(code),
        }
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
            let mut url = with_param(&ping, "runpod_version", config::USER_AGENT);
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
        assert_eq!(plane.result_retry_budget, config::RESULT_RETRY_BUDGET);
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

    #[test]
    fn the_result_retry_budget_comes_from_flash_result_retry_secs() {
        let plane = |budget: &'static str| {
            JobPlane::from_vars(|name| match name {
                "RUNPOD_WEBHOOK_GET_JOB" => Some("http://x/job-take/$ID".into()),
                "FLASH_RESULT_RETRY_SECS" => Some(budget.into()),
                _ => None,
            })
            .unwrap()
            .result_retry_budget
        };
        assert_eq!(plane("30"), Duration::from_secs(30));
        assert_eq!(plane("1.5"), Duration::from_millis(1500));
        assert_eq!(plane("soon"), config::RESULT_RETRY_BUDGET);
        assert_eq!(plane("-3"), config::RESULT_RETRY_BUDGET);
    }

    #[test]
    fn take_backoff_doubles_to_five_seconds_with_jitter() {
        for (failed, nominal_ms) in [
            (0, 100.0),
            (1, 200.0),
            (3, 800.0),
            (6, 5000.0),
            (40, 5000.0),
        ] {
            let pauses: Vec<f64> = (0..50)
                .map(|_| take_backoff(failed).as_secs_f64() * 1000.0)
                .collect();
            assert!(
                pauses
                    .iter()
                    .all(|ms| (nominal_ms * 0.8 - 1e-6..=nominal_ms * 1.2 + 1e-6).contains(ms)),
                "failure {failed}: {pauses:?}"
            );
            assert!(
                pauses.iter().any(|ms| (ms - nominal_ms).abs() > 1e-6),
                "failure {failed}: 50 pauses of exactly {nominal_ms} ms, no jitter"
            );
        }
    }

    #[test]
    fn an_empty_take_waits_out_the_minimum_interval() {
        assert_eq!(
            empty_take_pause(Duration::from_millis(10)),
            Duration::from_millis(990)
        );
        assert_eq!(empty_take_pause(Duration::from_secs(30)), Duration::ZERO);
    }

    #[test]
    fn results_too_large_become_errors_naming_size_and_limit() {
        let plane = JobPlane::from_vars(|name| match name {
            "RUNPOD_WEBHOOK_GET_JOB" => Some("http://x/job-take/$ID".into()),
            "RUNPOD_POD_ID" => Some("pod-1".into()),
            _ => None,
        })
        .unwrap();
        for refused in [false, true] {
            let body: Value =
                serde_json::from_str(&too_large_body(25_000_000, refused, &plane)).unwrap();
            assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
            let error = WireError::parse(body["error"].as_str().unwrap());
            assert_eq!(error.error_type, "OutputTooLarge");
            assert!(error.error_message.contains("25000000 bytes"), "{error:?}");
            assert!(error.error_message.contains("20000000"), "{error:?}");
            assert_eq!(error.worker_id.as_deref(), Some("pod-1"));
        }
    }
}
