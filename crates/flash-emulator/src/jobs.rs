//! Jobs of one queue endpoint: the queue, each job's state and timings, and the stop requests
//! waiting for workers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// How many finished jobs an endpoint keeps for `/status` and introspection.
const KEEP_FINISHED: usize = 1000;
/// Retention of a finished job until [`JobBook::set_terms`] says otherwise (Runpod keeps `/run`
/// results 30 min).
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 60);
/// How many times a job is requeued after its worker died before it is failed.
pub(crate) const MAX_REQUEUES: u32 = 3;

/// A job's status, spelled as on Runpod's wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Waiting for a worker.
    InQueue,
    /// Taken by a worker.
    InProgress,
    /// The worker posted an output.
    Completed,
    /// The worker posted an error, or the job could not be run.
    Failed,
    /// Cancelled by a client.
    Cancelled,
    /// Exceeded its execution timeout.
    TimedOut,
}

impl JobStatus {
    /// Whether the job is finished.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::InQueue | Self::InProgress)
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InQueue => "IN_QUEUE",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::TimedOut => "TIMED_OUT",
        }
    }
}

/// One job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) input: Value,
    pub(crate) webhook: Option<String>,
    pub(crate) status: JobStatus,
    pub(crate) created: Instant,
    pub(crate) started: Option<Instant>,
    pub(crate) finished: Option<Instant>,
    pub(crate) worker_id: Option<String>,
    pub(crate) output: Option<Value>,
    pub(crate) error: Option<Value>,
    pub(crate) stream: Vec<Value>,
    pub(crate) stream_read: usize,
    pub(crate) execution_timeout: Duration,
    /// The job's time-to-live (`policy.ttl`), counted from submission (or retry).
    pub(crate) ttl: Duration,
    pub(crate) requeues: u32,
    /// Whether the worker holding it has shown that it has it (listed it in a ping, streamed
    /// for it): until then a lost job-take response would strand it.
    pub(crate) confirmed: bool,
    /// Requeued from a crash of a worker that held other jobs too: which one crashed it is
    /// unknown, so it runs alone on its next worker and is charged only if it crashes there.
    pub(crate) solo: bool,
    /// Queue time, kept across requeues (ms).
    pub(crate) delay_ms: Option<u128>,
    /// Size of the request body that carried the input, counted while the job is live.
    pub(crate) input_bytes: usize,
    /// `policy.lowPriority`: queued behind every normal job.
    pub(crate) low_priority: bool,
    /// How long the job stays readable once finished.
    pub(crate) retention: Duration,
}

impl Job {
    /// The status object of `/status` and `/runsync`.
    pub(crate) fn status_object(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("status".into(), json!(self.status.as_str()));
        if let Some(d) = self.delay_ms {
            o.insert("delayTime".into(), json!(d));
        }
        if let (Some(s), Some(f)) = (self.started, self.finished) {
            o.insert(
                "executionTime".into(),
                json!(f.duration_since(s).as_millis()),
            );
        }
        if let Some(out) = &self.output {
            o.insert("output".into(), out.clone());
        }
        if let Some(e) = &self.error {
            o.insert("error".into(), e.clone());
        }
        if let Some(w) = &self.worker_id {
            o.insert("workerId".into(), json!(w));
        }
        Value::Object(o)
    }

    /// The job object handed to a worker by job-take.
    pub(crate) fn take_object(&self) -> Value {
        let mut o = json!({"id": self.id, "input": self.input});
        if let Some(w) = &self.webhook {
            o["webhook"] = json!(w);
        }
        o
    }
}

/// Counters of `/health`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) retried: u64,
}

/// A job's time limits, from its request's policy and its endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Longest run once taken; then TIMED_OUT.
    pub(crate) execution_timeout: Duration,
    /// Longest life, queue plus run; then the job is deleted (Runpod: `/status` answers 404).
    pub(crate) ttl: Duration,
}

/// All jobs of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct JobBook {
    pub(crate) jobs: IndexMap<String, Job>,
    pub(crate) queue: VecDeque<String>,
    /// Job ids each worker should stop (served by job-stop).
    pub(crate) stops: HashMap<String, Vec<String>>,
    pub(crate) counters: Counters,
    /// The in-progress jobs of each worker: every per-worker and per-tick question is answered
    /// from here, never by a scan of all jobs under the endpoint lock.
    held: HashMap<String, indexmap::IndexSet<String>>,
    in_progress: usize,
    /// Input bytes of the jobs queued or in progress (bounded by [`MAX_LIVE_INPUT_BYTES`]).
    live_bytes: usize,
    /// When each live job's time-to-live ends, soonest first: a tick pops what is due instead
    /// of scanning a queue that may hold 100 000 jobs. Entries of jobs that finished, were
    /// retried (a new entry) or forgotten are skipped when popped.
    deadlines: BinaryHeap<Reverse<(Instant, String)>>,
    /// Webhook deliveries due: (URL, final status object), drained by the supervisor.
    pub(crate) webhooks: Vec<(String, Value)>,
    /// When each finished job's retention ends, soonest first (stale entries, of jobs retried
    /// or forgotten since, are skipped when popped).
    retained: BinaryHeap<Reverse<(Instant, String)>>,
}

/// A job just ended: its result is kept for its retention from now, and, when it ended on its
/// worker or by the platform (`notify`; a client's cancel is answered to that client), its
/// webhook is due.
fn ended(
    webhooks: &mut Vec<(String, Value)>,
    retained: &mut BinaryHeap<Reverse<(Instant, String)>>,
    job: &Job,
    notify: bool,
) {
    if let Some(finished) = job.finished {
        retained.push(Reverse((finished + job.retention, job.id.clone())));
    }
    if notify && let Some(url) = &job.webhook {
        webhooks.push((url.clone(), job.status_object()));
    }
}

/// Most input bytes an endpoint holds for jobs not yet finished: a submit past it is refused
/// (HTTP 429) instead of growing the emulator without bound (N x 20 MB inputs).
pub(crate) const MAX_LIVE_INPUT_BYTES: usize = 1 << 30;

impl JobBook {
    /// Adds a job to the end of the queue.
    #[cfg(test)]
    pub(crate) fn submit(
        &mut self,
        id: String,
        input: Value,
        webhook: Option<String>,
        timeout: Duration,
    ) {
        let ttl = crate::policy::DEFAULT_TTL;
        let limits = Limits {
            execution_timeout: timeout,
            ttl,
        };
        self.submit_sized(id, input, 0, webhook, limits);
    }

    /// Whether a job of `bytes` input fits under [`MAX_LIVE_INPUT_BYTES`].
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        self.live_bytes.saturating_add(bytes) <= MAX_LIVE_INPUT_BYTES
    }

    /// Bytes of input held for live jobs.
    pub(crate) fn live_bytes(&self) -> usize {
        self.live_bytes
    }

    /// Adds a job whose request body was `input_bytes` long to the end of the queue.
    pub(crate) fn submit_sized(
        &mut self,
        id: String,
        input: Value,
        input_bytes: usize,
        webhook: Option<String>,
        limits: Limits,
    ) {
        self.live_bytes += input_bytes;
        let created = Instant::now();
        self.deadlines
            .push(Reverse((created + limits.ttl, id.clone())));
        let job = Job {
            id: id.clone(),
            input,
            webhook,
            status: JobStatus::InQueue,
            created,
            started: None,
            finished: None,
            worker_id: None,
            output: None,
            error: None,
            stream: Vec::new(),
            stream_read: 0,
            execution_timeout: limits.execution_timeout,
            ttl: limits.ttl,
            requeues: 0,
            confirmed: false,
            solo: false,
            delay_ms: None,
            input_bytes,
            low_priority: false,
            retention: DEFAULT_RETENTION,
        };
        self.jobs.insert(id.clone(), job);
        // Ahead of the low-priority jobs at the tail (usually none: O(1)).
        let at = self
            .queue
            .iter()
            .rposition(|q| self.jobs.get(q).is_none_or(|j| !j.low_priority))
            .map_or(0, |p| p + 1);
        self.queue.insert(at, id);
        self.trim();
    }

    /// Sets the terms of the job just submitted: low priority (it moves to the tail, behind the
    /// low-priority jobs before it) and how long it is kept once finished.
    pub(crate) fn set_terms(&mut self, id: &str, low_priority: bool, retention: Duration) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        job.retention = retention;
        if low_priority && !job.low_priority {
            job.low_priority = true;
            // Submitted as normal, it sits just before the trailing low-priority jobs.
            if let Some(at) = self.queue.iter().rposition(|q| q == id)
                && let Some(moved) = self.queue.remove(at)
            {
                self.queue.push_back(moved);
            }
        }
    }

    /// Forgets the finished jobs whose retention has passed (then `/status` answers 404, as
    /// Runpod's does). Returns how many.
    pub(crate) fn forget_expired(&mut self, now: Instant) -> usize {
        let mut gone = HashSet::new();
        while let Some(Reverse((at, _))) = self.retained.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, id))) = self.retained.pop() else {
                break;
            };
            // Stale when the job was retried (and maybe finished again later) or forgotten.
            let due = self.jobs.get(&id).is_some_and(|job| {
                job.status.is_final() && job.finished.map(|f| f + job.retention) == Some(at)
            });
            if due {
                gone.insert(id);
            }
        }
        if !gone.is_empty() {
            // One pass, whatever the number forgotten.
            self.jobs.retain(|id, _| !gone.contains(id));
        }
        gone.len()
    }

    /// Takes up to `n` queued jobs for `worker`. A job to run alone ([`Job::solo`]) is handed
    /// only to a worker that holds nothing else and gets nothing with it; a worker holding one
    /// gets nothing more until it finishes.
    pub(crate) fn take(&mut self, worker: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        if self.held_by_solo(worker) {
            return out;
        }
        while out.len() < n {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.status != JobStatus::InQueue {
                continue;
            }
            if job.solo && (!out.is_empty() || self.held.contains_key(worker)) {
                self.queue.push_front(id);
                break;
            }
            let alone = job.solo;
            let now = Instant::now();
            job.status = JobStatus::InProgress;
            job.started = Some(now);
            job.delay_ms = Some(now.duration_since(job.created).as_millis());
            job.worker_id = Some(worker.to_owned());
            job.confirmed = false;
            out.push(job.take_object());
            self.held.entry(worker.to_owned()).or_default().insert(id);
            self.in_progress += 1;
            if alone {
                break;
            }
        }
        out
    }

    /// Whether `worker` is running a job that must run alone.
    fn held_by_solo(&self, worker: &str) -> bool {
        self.held.get(worker).is_some_and(|set| {
            set.iter()
                .any(|id| self.jobs.get(id).is_some_and(|j| j.solo))
        })
    }

    /// `job_id` is no longer in progress on `worker`.
    fn release(&mut self, worker: &str, job_id: &str) {
        if let Some(set) = self.held.get_mut(worker)
            && set.shift_remove(job_id)
        {
            self.in_progress = self.in_progress.saturating_sub(1);
            if set.is_empty() {
                self.held.remove(worker);
            }
        }
    }

    /// How many jobs `worker` holds.
    pub(crate) fn holds(&self, worker: &str) -> usize {
        self.held.get(worker).map_or(0, indexmap::IndexSet::len)
    }

    /// Number of queued jobs.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Number of jobs in progress.
    pub(crate) fn in_progress(&self) -> usize {
        self.in_progress
    }

    /// Ids of the jobs `worker` holds.
    pub(crate) fn held_by(&self, worker: &str) -> Vec<String> {
        self.held
            .get(worker)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Records a job-done body. Returns whether the job changed (a result for a job that is no
    /// longer in progress, or held by another worker, is accepted and discarded).
    pub(crate) fn done(&mut self, worker: &str, job_id: &str, body: &Value) -> bool {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return false;
        };
        if job.status != JobStatus::InProgress || job.worker_id.as_deref() != Some(worker) {
            return false;
        }
        if body.get("status").and_then(Value::as_str) == Some("IN_PROGRESS") {
            job.confirmed = true;
            job.output = body.get("output").cloned();
            return true;
        }
        let id = job.id.clone();
        self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
        let error = body
            .get("error")
            .filter(|e| !e.is_null() && *e != &json!(false) && *e != &json!(""));
        job.finished = Some(Instant::now());
        if let Some(e) = error {
            job.status = JobStatus::Failed;
            job.error = Some(e.clone());
            job.output = body.get("output").cloned();
            self.counters.failed += 1;
        } else {
            job.status = JobStatus::Completed;
            // A completed job cannot be retried: its input is no longer needed.
            job.input = Value::Null;
            job.output = Some(body.get("output").cloned().unwrap_or(Value::Null));
            self.counters.completed += 1;
        }
        ended(&mut self.webhooks, &mut self.retained, job, true);
        self.release(worker, &id);
        true
    }

    /// Records a streamed chunk (job-stream).
    pub(crate) fn stream(&mut self, worker: &str, job_id: &str, body: &Value) -> bool {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return false;
        };
        if job.status != JobStatus::InProgress || job.worker_id.as_deref() != Some(worker) {
            return false;
        }
        job.confirmed = true;
        job.stream
            .push(body.get("output").cloned().unwrap_or(Value::Null));
        true
    }

    /// Chunks streamed since the last call, and the job's status.
    pub(crate) fn read_stream(&mut self, job_id: &str) -> Option<Value> {
        let job = self.jobs.get_mut(job_id)?;
        let chunks: Vec<Value> = job.stream[job.stream_read..]
            .iter()
            .map(|c| json!({"output": c}))
            .collect();
        job.stream_read = job.stream.len();
        Some(json!({"id": job.id, "status": job.status.as_str(), "stream": chunks}))
    }

    /// Cancels a job; an in-progress one is also sent to its worker's job-stop.
    pub(crate) fn cancel(&mut self, job_id: &str) -> Option<Value> {
        let job = self.jobs.get_mut(job_id)?;
        match job.status {
            JobStatus::InQueue => {
                self.queue.retain(|q| q != job_id);
            }
            JobStatus::InProgress => {
                if let Some(w) = &job.worker_id {
                    self.stops
                        .entry(w.clone())
                        .or_default()
                        .push(job.id.clone());
                }
            }
            _ => return Some(json!({"id": job.id, "status": job.status.as_str()})),
        }
        let was_in_progress = job.status == JobStatus::InProgress;
        self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
        job.input = Value::Null;
        job.status = JobStatus::Cancelled;
        job.finished = Some(Instant::now());
        ended(&mut self.webhooks, &mut self.retained, job, false);
        let (id, worker) = (job.id.clone(), job.worker_id.clone());
        if was_in_progress && let Some(worker) = worker {
            self.release(&worker, &id);
        }
        Some(json!({"id": id, "status": "CANCELLED"}))
    }

    /// Puts a FAILED or TIMED_OUT job back in the queue. `Err` carries the current status.
    pub(crate) fn retry(&mut self, job_id: &str) -> Option<Result<Value, JobStatus>> {
        let job = self.jobs.get_mut(job_id)?;
        if !matches!(job.status, JobStatus::Failed | JobStatus::TimedOut) {
            return Some(Err(job.status));
        }
        job.status = JobStatus::InQueue;
        job.created = Instant::now();
        job.started = None;
        job.finished = None;
        job.output = None;
        job.error = None;
        job.worker_id = None;
        job.delay_ms = None;
        job.stream.clear();
        job.stream_read = 0;
        // A retried job starts over: the crashes of its earlier run are not held against it.
        job.requeues = 0;
        job.solo = false;
        self.deadlines
            .push(Reverse((job.created + job.ttl, job.id.clone())));
        self.live_bytes += job.input_bytes;
        self.counters.retried += 1;
        self.queue.push_back(job.id.clone());
        Some(Ok(json!({"id": job.id, "status": "IN_QUEUE"})))
    }

    /// Removes every queued job; returns how many.
    pub(crate) fn purge(&mut self) -> usize {
        let ids: Vec<String> = self.queue.drain(..).collect();
        for id in &ids {
            if let Some(job) = self.jobs.shift_remove(id) {
                self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
            }
        }
        ids.len()
    }

    /// The worker `worker` is gone: its in-progress jobs go back to the front of the queue (or
    /// fail after [`MAX_REQUEUES`]). Only a job the worker ran alone is charged a requeue: when
    /// it held several, the one that brought it down is unknown, so each is requeued uncharged
    /// to run alone next ([`Job::solo`]), and a poison job is charged once it crashes by itself.
    /// Returns the requeued ids.
    pub(crate) fn requeue_worker(&mut self, worker: &str, reason: &str) -> Vec<String> {
        let mut requeued = Vec::new();
        let held = self.held.remove(worker).unwrap_or_default();
        self.in_progress = self.in_progress.saturating_sub(held.len());
        let shared = held.len() > 1;
        for id in held {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            job.worker_id = None;
            if shared {
                job.solo = true;
                job.status = JobStatus::InQueue;
                job.started = None;
                self.counters.retried += 1;
                requeued.push(id.clone());
                continue;
            }
            if job.requeues >= MAX_REQUEUES {
                self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
                job.status = JobStatus::Failed;
                job.finished = Some(Instant::now());
                job.error = Some(json!(format!(
                    "job {id}: {reason}; gave up after {MAX_REQUEUES} requeues"
                )));
                ended(&mut self.webhooks, &mut self.retained, job, true);
                self.counters.failed += 1;
                continue;
            }
            job.requeues += 1;
            job.status = JobStatus::InQueue;
            job.started = None;
            self.counters.retried += 1;
            requeued.push(id.clone());
        }
        for id in requeued.iter().rev() {
            self.queue.push_front(id.clone());
        }
        self.stops.remove(worker);
        requeued
    }

    /// A heartbeat from `worker` listing the jobs it holds. A job it was handed more than
    /// `lease` ago and has never listed (nor streamed for) never reached it: the job-take
    /// response was lost. Such jobs go back to the front of the queue without being charged a
    /// requeue (the job did nothing wrong). Returns their ids.
    pub(crate) fn heartbeat(
        &mut self,
        worker: &str,
        listed: &HashSet<&str>,
        now: Instant,
        lease: Duration,
    ) -> Vec<String> {
        let Some(held) = self.held.get(worker) else {
            return Vec::new();
        };
        let mut lost = Vec::new();
        for id in held {
            let Some(job) = self.jobs.get_mut(id) else {
                continue;
            };
            if listed.contains(id.as_str()) {
                job.confirmed = true;
            } else if !job.confirmed
                && job
                    .started
                    .is_some_and(|s| now.saturating_duration_since(s) > lease)
            {
                lost.push(id.clone());
            }
        }
        for id in &lost {
            self.release(worker, id);
            if let Some(job) = self.jobs.get_mut(id) {
                job.status = JobStatus::InQueue;
                job.worker_id = None;
                job.started = None;
            }
        }
        for id in lost.iter().rev() {
            self.queue.push_front(id.clone());
        }
        lost
    }

    /// Ends every queued job as FAILED with `reason` (no worker can start to run them).
    /// Returns the ids.
    pub(crate) fn fail_queued(&mut self, reason: &str) -> Vec<String> {
        let now = Instant::now();
        let ids: Vec<String> = self.queue.drain(..).collect();
        let mut failed = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            if job.status != JobStatus::InQueue {
                continue;
            }
            self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
            job.status = JobStatus::Failed;
            job.finished = Some(now);
            job.error = Some(json!(format!("job {id}: {reason}")));
            ended(&mut self.webhooks, &mut self.retained, job, true);
            self.counters.failed += 1;
            failed.push(id);
        }
        failed
    }

    /// Ends every in-progress job past its execution timeout as TIMED_OUT and asks its worker to
    /// stop it. Returns the ids.
    pub(crate) fn expire(&mut self) -> Vec<String> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let held: Vec<String> = self.held.values().flatten().cloned().collect();
        for id in held {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            let Some(started) = job.started else { continue };
            if job.status == JobStatus::InProgress
                && now.duration_since(started) > job.execution_timeout
            {
                self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
                job.status = JobStatus::TimedOut;
                job.finished = Some(now);
                job.error = Some(json!(format!(
                    "job {} exceeded its execution timeout of {} ms",
                    job.id,
                    job.execution_timeout.as_millis()
                )));
                ended(&mut self.webhooks, &mut self.retained, job, true);
                self.counters.failed += 1;
                if let Some(w) = job.worker_id.clone() {
                    self.stops.entry(w.clone()).or_default().push(id.clone());
                    self.release(&w, &id);
                }
                expired.push(id);
            }
        }
        expired
    }

    /// Deletes every unfinished job whose time-to-live has ended (queued or running: Runpod's
    /// ttl covers both). A running one is also sent to its worker's job-stop. Returns the ids.
    pub(crate) fn expire_ttl(&mut self, now: Instant) -> Vec<String> {
        let mut gone = HashSet::new();
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, id))) = self.deadlines.pop() else {
                break;
            };
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            // A stale entry: the job finished, or was retried and has a later deadline.
            if job.status.is_final() || job.created + job.ttl != at {
                continue;
            }
            self.live_bytes = self.live_bytes.saturating_sub(job.input_bytes);
            if job.status == JobStatus::InProgress
                && let Some(w) = job.worker_id.clone()
            {
                self.stops.entry(w.clone()).or_default().push(id.clone());
                self.release(&w, &id);
            }
            gone.insert(id);
        }
        if gone.is_empty() {
            return Vec::new();
        }
        // One pass over each collection, whatever the number of expired jobs.
        self.queue.retain(|id| !gone.contains(id));
        self.jobs.retain(|id, _| !gone.contains(id));
        gone.into_iter().collect()
    }

    /// Forgets the oldest finished jobs beyond [`KEEP_FINISHED`] jobs, in batches (a quarter
    /// of the limit at a time), so that a submit costs O(1) amortized instead of shifting the
    /// whole book.
    fn trim(&mut self) {
        if self.jobs.len() <= KEEP_FINISHED + KEEP_FINISHED / 4 {
            return;
        }
        let mut excess = self.jobs.len() - KEEP_FINISHED;
        self.jobs.retain(|_, j| {
            if excess > 0 && j.status.is_final() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_requeue() {
        let mut b = JobBook::default();
        b.submit("j1".into(), json!(1), None, Duration::from_secs(5));
        b.submit("j2".into(), json!(2), None, Duration::from_secs(5));
        let taken = b.take("w1", 1);
        assert_eq!(taken[0]["id"], "j1");
        assert_eq!(b.requeue_worker("w1", "crashed"), vec!["j1".to_owned()]);
        assert_eq!(b.queue.front().unwrap(), "j1");
        let taken = b.take("w2", 5);
        assert_eq!(taken.len(), 2);
        assert!(b.done("w2", "j1", &json!({"output": 7})));
        assert!(
            !b.done("w1", "j2", &json!({"output": 7})),
            "other worker's result is discarded"
        );
        assert!(b.done("w2", "j2", &json!({"error": "bad"})));
        assert_eq!(b.jobs["j1"].status, JobStatus::Completed);
        assert_eq!(b.jobs["j2"].status, JobStatus::Failed);
        assert!(b.retry("j2").unwrap().is_ok());
        assert!(b.retry("j1").unwrap().is_err());
    }

    /// The per-worker index agrees with a scan of every job after every kind of transition.
    #[test]
    fn the_in_progress_index_matches_the_jobs() {
        let check = |b: &JobBook| {
            let scan = |w: &str| {
                b.jobs
                    .values()
                    .filter(|j| {
                        j.status == JobStatus::InProgress && j.worker_id.as_deref() == Some(w)
                    })
                    .count()
            };
            let total = b
                .jobs
                .values()
                .filter(|j| j.status == JobStatus::InProgress)
                .count();
            assert_eq!(b.in_progress(), total);
            for w in ["w1", "w2"] {
                assert_eq!(b.holds(w), scan(w), "{w}");
            }
        };
        let mut b = JobBook::default();
        for i in 0..10 {
            b.submit(
                format!("j{i}"),
                json!(i),
                None,
                Duration::from_millis(if i == 9 { 0 } else { 60_000 }),
            );
        }
        b.take("w1", 4);
        b.take("w2", 6);
        check(&b);
        assert!(b.done("w1", "j0", &json!({"output": 1})));
        assert!(b.done("w1", "j1", &json!({"error": "x"})));
        assert!(b.done("w1", "j2", &json!({"status": "IN_PROGRESS", "output": 1})));
        check(&b);
        b.cancel("j4");
        check(&b);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(b.expire(), vec!["j9".to_owned()]);
        check(&b);
        b.requeue_worker("w1", "gone");
        check(&b);
        assert_eq!(b.holds("w1"), 0);
        assert_eq!(b.queued(), 2, "j2 and j3 back in the queue");
    }

    #[test]
    fn live_input_bytes_are_counted_until_each_job_ends() {
        let mut b = JobBook::default();
        let t = Limits {
            execution_timeout: Duration::from_secs(60),
            ttl: Duration::from_secs(60),
        };
        for (i, n) in [100, 200, 300, 400].into_iter().enumerate() {
            b.submit_sized(format!("j{i}"), json!(i), n, None, t);
        }
        assert_eq!(b.live_bytes(), 1000);
        assert!(b.has_room(MAX_LIVE_INPUT_BYTES - 1000));
        assert!(!b.has_room(MAX_LIVE_INPUT_BYTES - 999));
        b.take("w", 2);
        assert!(b.done("w", "j0", &json!({"output": 1})));
        assert_eq!(
            b.jobs["j0"].input,
            Value::Null,
            "a completed job's input is dropped"
        );
        assert!(b.done("w", "j1", &json!({"error": "x"})));
        b.cancel("j2");
        assert_eq!(b.live_bytes(), 400);
        assert!(b.retry("j1").unwrap().is_ok());
        assert_eq!(
            b.live_bytes(),
            600,
            "a retried job is live again, with its input"
        );
        assert_eq!(b.jobs["j1"].input, json!(1));
        b.purge();
        assert_eq!(b.live_bytes(), 0);
    }

    #[test]
    fn low_priority_jobs_wait_behind_normal_ones() {
        let mut b = JobBook::default();
        let t = Duration::from_secs(60);
        b.submit("low1".into(), json!(1), None, t);
        b.set_terms("low1", true, t);
        b.submit("n1".into(), json!(2), None, t);
        b.submit("low2".into(), json!(3), None, t);
        b.set_terms("low2", true, t);
        b.submit("n2".into(), json!(4), None, t);
        let order: Vec<Value> = b
            .take("w", 4)
            .into_iter()
            .map(|j| j["id"].clone())
            .collect();
        assert_eq!(
            order,
            [json!("n1"), json!("n2"), json!("low1"), json!("low2")]
        );
    }

    #[test]
    fn finished_jobs_are_forgotten_after_their_retention_and_post_their_webhook() {
        let mut b = JobBook::default();
        let t = Duration::from_secs(60);
        b.submit(
            "short".into(),
            json!(1),
            Some("http://127.0.0.1:1/h".into()),
            t,
        );
        b.set_terms("short", false, Duration::from_millis(1));
        b.submit("long".into(), json!(2), None, t);
        b.submit("queued".into(), json!(3), None, t);
        b.set_terms("queued", false, Duration::ZERO);
        b.take("w", 2);
        assert!(b.done("w", "short", &json!({"status": "IN_PROGRESS", "output": 1})));
        assert!(b.webhooks.is_empty(), "progress is not an end");
        assert!(b.done("w", "short", &json!({"output": 1})));
        assert!(b.done("w", "long", &json!({"output": 2})));
        assert_eq!(b.webhooks.len(), 1);
        assert_eq!(b.webhooks[0].0, "http://127.0.0.1:1/h");
        assert_eq!(b.webhooks[0].1["status"], "COMPLETED");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(b.forget_expired(Instant::now()), 1);
        assert!(!b.jobs.contains_key("short"));
        assert!(b.jobs.contains_key("long") && b.jobs.contains_key("queued"));
    }

    #[test]
    fn a_retried_job_gets_its_full_requeue_allowance_again() {
        let mut b = JobBook::default();
        b.submit("j".into(), json!(1), None, Duration::from_secs(5));
        for _ in 0..=MAX_REQUEUES {
            assert_eq!(b.take("w", 1).len(), 1);
            b.requeue_worker("w", "crashed");
        }
        assert_eq!(b.jobs["j"].status, JobStatus::Failed);
        assert!(b.retry("j").unwrap().is_ok());
        assert_eq!(b.take("w", 1).len(), 1);
        assert_eq!(
            b.requeue_worker("w", "crashed"),
            vec!["j".to_owned()],
            "requeued, not failed"
        );
    }

    #[test]
    fn a_job_past_its_ttl_is_deleted_queued_or_running() {
        let mut b = JobBook::default();
        let short = Limits {
            execution_timeout: Duration::from_secs(60),
            ttl: Duration::from_millis(1),
        };
        let long = Limits {
            ttl: Duration::from_secs(3600),
            ..short
        };
        b.submit_sized("queued".into(), json!(1), 10, None, short);
        b.submit_sized("running".into(), json!(2), 20, None, short);
        b.submit_sized("kept".into(), json!(3), 30, None, long);
        b.submit_sized("done".into(), json!(4), 40, None, short);
        // Move "running" and "done" to the front so one worker takes exactly those two.
        b.queue.retain(|id| id == "running" || id == "done");
        b.take("w", 2);
        b.queue.extend(["queued".to_owned(), "kept".to_owned()]);
        assert!(b.done("w", "done", &json!({"output": 1})));
        let later = Instant::now() + Duration::from_millis(5);
        let mut gone = b.expire_ttl(later);
        gone.sort();
        assert_eq!(gone, ["queued", "running"]);
        assert!(!b.jobs.contains_key("queued") && !b.jobs.contains_key("running"));
        assert_eq!(
            b.jobs["done"].status,
            JobStatus::Completed,
            "finished jobs stay"
        );
        assert_eq!(b.queue, ["kept"]);
        assert_eq!(b.holds("w"), 0);
        assert_eq!(b.stops["w"], ["running"], "its worker is told to stop it");
        assert_eq!(b.live_bytes(), 30);
        assert!(b.expire_ttl(later).is_empty());
    }

    #[test]
    fn a_retried_job_gets_a_new_ttl() {
        let mut b = JobBook::default();
        let limits = Limits {
            execution_timeout: Duration::from_secs(60),
            ttl: Duration::from_millis(50),
        };
        b.submit_sized("j".into(), json!(1), 0, None, limits);
        b.take("w", 1);
        assert!(b.done("w", "j", &json!({"error": "x"})));
        std::thread::sleep(Duration::from_millis(30));
        assert!(b.retry("j").unwrap().is_ok());
        // The first deadline has passed; the retry's has not.
        let t = Instant::now() + Duration::from_millis(30);
        assert!(b.expire_ttl(t).is_empty());
        assert_eq!(b.expire_ttl(t + Duration::from_millis(50)), ["j"]);
    }

    #[test]
    fn a_job_its_worker_never_lists_goes_back_to_the_queue_uncharged() {
        let mut b = JobBook::default();
        for id in ["lost", "listed", "streamed"] {
            b.submit(id.into(), json!(1), None, Duration::from_secs(60));
        }
        b.take("w", 3);
        assert!(b.stream("w", "streamed", &json!({"output": 1})));
        let lease = Duration::from_secs(2);
        let listed: HashSet<&str> = ["listed"].into();
        let soon = Instant::now();
        assert!(
            b.heartbeat("w", &listed, soon, lease).is_empty(),
            "within the lease a ping may not list a job yet"
        );
        let later = soon + Duration::from_secs(3);
        assert_eq!(b.heartbeat("w", &HashSet::new(), later, lease), ["lost"]);
        assert_eq!(b.jobs["lost"].status, JobStatus::InQueue);
        assert_eq!(b.jobs["lost"].requeues, 0);
        assert_eq!(b.queue.front().map(String::as_str), Some("lost"));
        assert_eq!(b.holds("w"), 2, "listed once, or streamed: kept");
        assert_eq!(b.take("w2", 1)[0]["id"], "lost");
    }

    /// A worker running four jobs crashes because of one of them: none is charged; each runs
    /// alone next, the three innocent ones complete, and the poison one is charged only for the
    /// crashes it causes alone, failing after [`MAX_REQUEUES`] of those.
    #[test]
    fn a_poison_job_is_charged_only_for_crashes_it_causes_alone() {
        let mut b = JobBook::default();
        for i in 0..4 {
            b.submit(format!("j{i}"), json!(i), None, Duration::from_secs(60));
        }
        assert_eq!(b.take("w1", 4).len(), 4);
        assert_eq!(b.requeue_worker("w1", "crashed").len(), 4);
        assert!(b.jobs.values().all(|j| j.requeues == 0 && j.solo));
        let mut worker = 1;
        let mut crashes_alone = 0;
        loop {
            worker += 1;
            let w = format!("w{worker}");
            let taken = b.take(&w, 4);
            if taken.is_empty() {
                break;
            }
            assert_eq!(taken.len(), 1, "a job to run alone comes alone");
            assert!(b.take(&w, 4).is_empty(), "and nothing joins it");
            let id = taken[0]["id"].as_str().unwrap().to_owned();
            if id == "j2" {
                crashes_alone += 1;
                b.requeue_worker(&w, "crashed");
            } else {
                assert!(b.done(&w, &id, &json!({"output": 1})));
            }
        }
        assert_eq!(crashes_alone, MAX_REQUEUES + 1);
        assert_eq!(b.jobs["j2"].status, JobStatus::Failed);
        for id in ["j0", "j1", "j3"] {
            assert_eq!(b.jobs[id].status, JobStatus::Completed, "{id}");
        }
        // A worker running a solo job blocks only itself; plain jobs still go to others.
        b.submit("p".into(), json!(0), None, Duration::from_secs(60));
        assert_eq!(b.take("busy", 1).len(), 1);
    }
}
