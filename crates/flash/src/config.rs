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
/// First delay between status polls of a queue job (grows by half each poll).
pub const POLL_INITIAL: Duration = Duration::from_millis(250);
/// Largest delay between status polls.
pub const POLL_MAX: Duration = Duration::from_secs(5);
/// Consecutive network errors tolerated while polling a job's status.
pub const POLL_ERROR_BUDGET: u32 = 5;

/// HTTP header carrying the caller's remaining time budget in milliseconds.
pub const DEADLINE_HEADER: &str = "x-flash-deadline-ms";

/// Largest request payload a peer call may send (Runpod's `/run` and `/runsync` limit is 10 MB).
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The `User-Agent` this crate sends.
pub const USER_AGENT: &str = concat!("runpod-flash-rs/", env!("CARGO_PKG_VERSION"));
