//! Jobs of one queue endpoint: the queue, each job's state and timings, and the stop requests
//! waiting for workers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// How many finished jobs an endpoint keeps for `/status` and introspection.
const KEEP_FINISHED: usize = 1000;
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
    pub(crate) requeues: u32,
    /// Queue time, kept across requeues (ms).
    pub(crate) delay_ms: Option<u128>,
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

/// All jobs of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct JobBook {
    pub(crate) jobs: IndexMap<String, Job>,
    pub(crate) queue: VecDeque<String>,
    /// Job ids each worker should stop (served by job-stop).
    pub(crate) stops: HashMap<String, Vec<String>>,
    pub(crate) counters: Counters,
}

impl JobBook {
    /// Adds a job to the end of the queue.
    pub(crate) fn submit(
        &mut self,
        id: String,
        input: Value,
        webhook: Option<String>,
        timeout: Duration,
    ) {
        let job = Job {
            id: id.clone(),
            input,
            webhook,
            status: JobStatus::InQueue,
            created: Instant::now(),
            started: None,
            finished: None,
            worker_id: None,
            output: None,
            error: None,
            stream: Vec::new(),
            stream_read: 0,
            execution_timeout: timeout,
            requeues: 0,
            delay_ms: None,
        };
        self.jobs.insert(id.clone(), job);
        self.queue.push_back(id);
        self.trim();
    }

    /// Takes up to `n` queued jobs for `worker`.
    pub(crate) fn take(&mut self, worker: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
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
            let now = Instant::now();
            job.status = JobStatus::InProgress;
            job.started = Some(now);
            job.delay_ms = Some(now.duration_since(job.created).as_millis());
            job.worker_id = Some(worker.to_owned());
            out.push(job.take_object());
        }
        out
    }

    /// Number of queued jobs.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Number of jobs in progress.
    pub(crate) fn in_progress(&self) -> usize {
        self.jobs
            .values()
            .filter(|j| j.status == JobStatus::InProgress)
            .count()
    }

    /// Ids of the jobs `worker` holds.
    pub(crate) fn held_by(&self, worker: &str) -> Vec<String> {
        self.jobs
            .values()
            .filter(|j| j.status == JobStatus::InProgress && j.worker_id.as_deref() == Some(worker))
            .map(|j| j.id.clone())
            .collect()
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
            job.output = body.get("output").cloned();
            return true;
        }
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
            job.output = Some(body.get("output").cloned().unwrap_or(Value::Null));
            self.counters.completed += 1;
        }
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
        job.status = JobStatus::Cancelled;
        job.finished = Some(Instant::now());
        Some(json!({"id": job.id, "status": "CANCELLED"}))
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
        self.counters.retried += 1;
        self.queue.push_back(job.id.clone());
        Some(Ok(json!({"id": job.id, "status": "IN_QUEUE"})))
    }

    /// Removes every queued job; returns how many.
    pub(crate) fn purge(&mut self) -> usize {
        let ids: Vec<String> = self.queue.drain(..).collect();
        for id in &ids {
            self.jobs.shift_remove(id);
        }
        ids.len()
    }

    /// The worker `worker` is gone: its in-progress jobs go back to the front of the queue (or
    /// fail after [`MAX_REQUEUES`]). Returns the requeued ids.
    pub(crate) fn requeue_worker(&mut self, worker: &str, reason: &str) -> Vec<String> {
        let mut requeued = Vec::new();
        for id in self.held_by(worker) {
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            job.worker_id = None;
            if job.requeues >= MAX_REQUEUES {
                job.status = JobStatus::Failed;
                job.finished = Some(Instant::now());
                job.error = Some(json!(format!(
                    "job {id}: {reason}; gave up after {MAX_REQUEUES} requeues"
                )));
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
            job.status = JobStatus::Failed;
            job.finished = Some(now);
            job.error = Some(json!(format!("job {id}: {reason}")));
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
        for job in self.jobs.values_mut() {
            let Some(started) = job.started else { continue };
            if job.status == JobStatus::InProgress
                && now.duration_since(started) > job.execution_timeout
            {
                job.status = JobStatus::TimedOut;
                job.finished = Some(now);
                job.error = Some(json!(format!(
                    "job {} exceeded its execution timeout of {} ms",
                    job.id,
                    job.execution_timeout.as_millis()
                )));
                self.counters.failed += 1;
                if let Some(w) = &job.worker_id {
                    self.stops
                        .entry(w.clone())
                        .or_default()
                        .push(job.id.clone());
                }
                expired.push(job.id.clone());
            }
        }
        expired
    }

    fn trim(&mut self) {
        while self.jobs.len() > KEEP_FINISHED {
            let Some(pos) = self.jobs.values().position(|j| j.status.is_final()) else {
                break;
            };
            self.jobs.shift_remove_index(pos);
        }
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
}
