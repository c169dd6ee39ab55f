//! The queue data plane's request and status fields (runpod-wire.md §2.2), spelled once for the
//! client that sends them and the emulator that reads them.

/// Request body: the job's input.
pub const INPUT: &str = "input";
/// Request body: the URL Runpod POSTs the final status object to.
pub const WEBHOOK: &str = "webhook";
/// Request body: the per-request policy object.
pub const POLICY: &str = "policy";
/// Request body: S3 credentials passed to the worker untouched.
pub const S3_CONFIG: &str = "s3Config";
/// Policy: milliseconds the job may run.
pub const POLICY_EXECUTION_TIMEOUT: &str = "executionTimeout";
/// Policy: milliseconds the job may live (queue + run).
pub const POLICY_TTL: &str = "ttl";
/// Policy: the job waits behind normal jobs and does not trigger scaling.
pub const POLICY_LOW_PRIORITY: &str = "lowPriority";

/// Status object: the job id.
pub const ID: &str = "id";
/// Status object: the job's state, one of the `STATUS_*` values.
pub const STATUS: &str = "status";
/// Status object: the worker's output (its progress while `IN_PROGRESS`).
pub const OUTPUT: &str = "output";
/// Status object: the worker's error string.
pub const ERROR: &str = "error";
/// Status object: milliseconds in the queue.
pub const DELAY_TIME: &str = "delayTime";
/// Status object: milliseconds running.
pub const EXECUTION_TIME: &str = "executionTime";
/// Status object: the worker that ran the job.
pub const WORKER_ID: &str = "workerId";
/// `/stream` answer: the chunks produced since the previous read, each `{"output": chunk}`.
pub const STREAM: &str = "stream";

/// Waiting for a worker.
pub const STATUS_IN_QUEUE: &str = "IN_QUEUE";
/// Taken by a worker.
pub const STATUS_IN_PROGRESS: &str = "IN_PROGRESS";
/// The worker posted an output.
pub const STATUS_COMPLETED: &str = "COMPLETED";
/// The worker posted an error.
pub const STATUS_FAILED: &str = "FAILED";
/// Cancelled by a client.
pub const STATUS_CANCELLED: &str = "CANCELLED";
/// Ran past its execution timeout.
pub const STATUS_TIMED_OUT: &str = "TIMED_OUT";

/// `policy.executionTimeout` bounds Runpod documents (ms): 5 s to 7 days.
pub const EXECUTION_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 5_000..=604_800_000;
/// `policy.ttl` bounds Runpod documents (ms): 10 s to 7 days.
pub const TTL_MS: std::ops::RangeInclusive<u64> = 10_000..=604_800_000;
/// `?wait=` bounds of `/runsync` (ms).
pub const RUNSYNC_WAIT_MS: std::ops::RangeInclusive<u64> = 1_000..=300_000;
/// Largest `/run` request body (Runpod: 10 MB).
pub const MAX_RUN_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Largest `/runsync` request body (Runpod: 20 MB).
pub const MAX_RUNSYNC_BODY_BYTES: usize = 20 * 1024 * 1024;
