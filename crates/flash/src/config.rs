//! The runtime's tunables: default URLs, timeouts, retry and cache policy, limits.
//!
//! Names shared with the other crates (environment variables, file names, HTTP methods and
//! reserved paths) live in [`flash_contract`], re-exported as [`crate::contract`].

use std::time::Duration;

/// Default control-plane base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.runpod.io";
/// Default REST API base URL.
pub const DEFAULT_REST_API_URL: &str = "https://rest.runpod.io/v1";
/// Default data-plane base URL for queue endpoints.
pub const DEFAULT_ENDPOINT_BASE_URL: &str = "https://api.runpod.ai/v2";
/// Default URL template of load-balanced endpoints.
pub const DEFAULT_LB_URL_TEMPLATE: &str = "https://{endpoint_id}.api.runpod.ai";

/// How long resolved endpoint URLs are trusted before a refresh is started.
pub const ENDPOINT_CACHE_TTL: Duration = Duration::from_secs(300);
/// After a failed refresh, how long to wait before the first new attempt.
pub const REFRESH_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Upper bound of the refresh backoff after repeated failures.
pub const REFRESH_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Timeout of one State Manager GraphQL request.
pub const STATE_MANAGER_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of a State Manager query after the first attempt (mutations are never retried).
pub const STATE_MANAGER_QUERY_RETRIES: u32 = 3;
/// First retry delay; doubled on each retry.
pub const RETRY_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Multiplier applied to the retry delay on each retry.
pub const RETRY_BACKOFF_FACTOR: u32 = 2;
/// Upper bound of one retry delay.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(15);
/// Relative jitter applied to each retry delay (0.2 = ±20 %).
pub const RETRY_JITTER: f64 = 0.2;

/// How long one `runsync` request asks Runpod to hold the job before answering "in progress".
pub const RUNSYNC_WAIT: Duration = Duration::from_secs(90);
/// Timeout of one status, cancel or load-balanced peer request.
pub const PEER_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Timeout of connecting to a peer.
pub const PEER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept: under the 30 s after which Flash listeners
/// ([`crate::http_server::Limits::header_read`]) close an idle connection, so a request is not
/// written to a connection the server is closing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// First delay between status polls of a queue job (grows by half each poll).
pub const POLL_INITIAL: Duration = Duration::from_millis(250);
/// Largest delay between status polls.
pub const POLL_MAX: Duration = Duration::from_secs(5);
/// Consecutive network errors tolerated while polling a job's status.
pub const POLL_ERROR_BUDGET: u32 = 5;
/// Tries of a job request by name (`/flash/status|stream|cancel|retry/{id}`) while Runpod's
/// Flash dispatcher answers 404: a name just deployed, or a job just submitted, may not have
/// reached the dispatcher yet. runpod 2.0's `JOB_PROPAGATION_ATTEMPTS`
/// (`runpod/apps/targets.py`).
pub const DISPATCH_NOT_FOUND_ATTEMPTS: u32 = 7;
/// First pause between those tries, doubling after each (0.5, 1, 2, 4, 8, 16 s: 31.5 s in all,
/// unjittered); runpod 2.0's `RETRY_BASE_DELAY`.
pub const DISPATCH_NOT_FOUND_PAUSE: Duration = Duration::from_millis(500);
/// Relative jitter of each pause between status polls (±20 %, as Python Flash's
/// `get_backoff_delay` polls `/status`).
pub const POLL_JITTER: f64 = 0.2;
/// Overall deadline of a queue call made without one (no [`with_deadline`] around it): the
/// platform's default execution timeout (600 s) plus 300 s of queueing and cold start. When it
/// passes, the caller stops polling, posts `/cancel/{id}` and fails with the call's timeout error.
/// `FLASH_CALL_TIMEOUT_SECS` overrides it.
///
/// [`with_deadline`]: crate::call::with_deadline
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(900);

/// How often a load-balanced streaming answer sends a comment while its function produces
/// nothing, so that proxies and load balancers do not close an idle but live stream.
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// HTTP header carrying the caller's remaining time budget in milliseconds.
pub const DEADLINE_HEADER: &str = "x-flash-deadline-ms";

/// Largest request payload a peer call may send (Runpod's `/run` and `/runsync` limit is 10 MB).
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Largest job-done body a queue worker posts: 20 MB, the return-body limit that Runpod's worker
/// SDK warns about (`runpod/serverless/modules/rp_tips.py`, `check_return_size`: "exceeds the 20
/// MB limit", MB = 1,000,000 bytes). A bigger result is replaced by an `OutputTooLarge` error, so
/// the job ends FAILED saying why instead of being refused (the emulator answers 413 over 20 MiB).
pub const MAX_RESULT_BYTES: usize = 20_000_000;
/// How long a queue worker keeps retrying a job's result post (transport errors, 5xx, 429)
/// before it gives the result up and logs the loss; `FLASH_RESULT_RETRY_SECS` overrides it.
/// No attempt runs past it.
pub const RESULT_RETRY_BUDGET: Duration = Duration::from_secs(120);
/// Delay before the first retry of a result post; doubles on each retry.
pub const RESULT_RETRY_INITIAL: Duration = Duration::from_millis(500);
/// Upper bound of one delay between result-post retries.
pub const RESULT_RETRY_MAX: Duration = Duration::from_secs(15);
/// Timeout of one result post.
pub const RESULT_POST_TIMEOUT: Duration = Duration::from_secs(60);
/// Shortest time from the start of one job-take to the next when the platform answered it with
/// no job (204, 400): 1 s, the floor Runpod's worker SDK puts on its empty job-stop polls "so the
/// loop can't busy-spin when the server returns immediately instead of holding the poll open"
/// (`rp_scale.py`, `monitor_stop_signals`). A long poll the platform held longer is not delayed.
pub const EMPTY_TAKE_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// First pause after a job-take that failed to connect or was cut off; doubles per failure.
pub const TAKE_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Upper bound of the pause after failed job-takes.
pub const TAKE_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Pause after a job-take answered 429 or another error status (the SDK's 5 s debounce on 429).
pub const TAKE_SLOW_DOWN: Duration = Duration::from_secs(5);
/// Relative jitter of a worker's pauses and retry delays (±20 %).
pub const WORKER_JITTER: f64 = 0.2;

/// Reads a duration in seconds (decimals allowed, more than 0) from `value`, the text of the
/// environment variable `name`; a malformed value is reported as a warning and `default` used.
pub(crate) fn seconds(name: &str, value: Option<&str>, default: Duration) -> Duration {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return default;
    };
    match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => Duration::from_secs_f64(secs),
        _ => {
            tracing::warn!(
                value,
                "{name} is not a positive number of seconds; using {} s",
                default.as_secs_f64()
            );
            default
        }
    }
}

/// The `User-Agent` this crate sends.
pub const USER_AGENT: &str = concat!("runpod-flash-rs/", env!("CARGO_PKG_VERSION"));
