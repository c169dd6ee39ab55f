//! Every constant and environment variable name the runtime uses, in one place.

use std::time::Duration;

/// Environment variable names.
pub mod env {
    /// The Runpod API key; sent as `Authorization: Bearer` to the control and data planes.
    pub const RUNPOD_API_KEY: &str = "RUNPOD_API_KEY";
    /// Control-plane base URL; GraphQL is at `{base}/graphql`.
    pub const RUNPOD_API_BASE_URL: &str = "RUNPOD_API_BASE_URL";
    /// Runpod's REST API (network volumes).
    pub const RUNPOD_REST_API_URL: &str = "RUNPOD_REST_API_URL";
    /// Data-plane base URL for queue endpoints (`{base}/{endpoint_id}/runsync`).
    pub const RUNPOD_ENDPOINT_BASE_URL: &str = "RUNPOD_ENDPOINT_BASE_URL";
    /// Which resource of the manifest this process is. Set on deployed workers.
    pub const FLASH_RESOURCE_NAME: &str = "FLASH_RESOURCE_NAME";
    /// Set by Runpod on every worker; the identity fallback when `FLASH_RESOURCE_NAME` is unset.
    pub const RUNPOD_ENDPOINT_ID: &str = "RUNPOD_ENDPOINT_ID";
    /// Set by Runpod on every worker.
    pub const RUNPOD_POD_ID: &str = "RUNPOD_POD_ID";
    /// The Flash environment whose active build's manifest holds the endpoint URLs.
    pub const FLASH_ENVIRONMENT_ID: &str = "FLASH_ENVIRONMENT_ID";
    /// Explicit manifest location, checked after a path given in code.
    pub const FLASH_MANIFEST_PATH: &str = "FLASH_MANIFEST_PATH";
    /// Endpoint cache TTL in seconds (default [`ENDPOINT_CACHE_TTL`](super::ENDPOINT_CACHE_TTL)).
    pub const FLASH_CACHE_TTL_SECS: &str = "FLASH_CACHE_TTL_SECS";
    /// `1`/`true`: a function missing from the manifest is an error instead of a local call.
    pub const FLASH_STRICT_ROUTING: &str = "FLASH_STRICT_ROUTING";
    /// App name, injected into deployed workers.
    pub const FLASH_APP: &str = "FLASH_APP";
    /// Environment name, injected into deployed workers.
    pub const FLASH_ENV: &str = "FLASH_ENV";
    /// Directory of the network volume mounted by this worker's endpoint. On Runpod the volume is
    /// always at `/runpod-volume` and this is unset; the local emulator sets it to the shared
    /// directory it stands in with.
    pub const FLASH_VOLUME_PATH: &str = "FLASH_VOLUME_PATH";
    /// `lb` for load-balanced workers, `qb` for queue workers.
    pub const FLASH_ENDPOINT_TYPE: &str = "FLASH_ENDPOINT_TYPE";
    /// Port of a queue worker's local test API (default 8000).
    pub const FLASH_WORKER_PORT: &str = "FLASH_WORKER_PORT";
    /// URL template of load-balanced endpoints, `{endpoint_id}` replaced by the endpoint id
    /// (default [`DEFAULT_LB_URL_TEMPLATE`](super::DEFAULT_LB_URL_TEMPLATE)).
    pub const FLASH_LB_URL_TEMPLATE: &str = "FLASH_LB_URL_TEMPLATE";
    /// `1`: print the compiled functions as JSON and exit (used by `flash build`).
    pub const FLASH_DESCRIBE: &str = "FLASH_DESCRIBE";
}

/// Default control-plane base URL.
pub const DEFAULT_API_BASE_URL: &str = "https://api.runpod.io";
/// Default REST API base URL.
pub const DEFAULT_REST_API_URL: &str = "https://rest.runpod.io/v1";
/// Default data-plane base URL for queue endpoints.
pub const DEFAULT_ENDPOINT_BASE_URL: &str = "https://api.runpod.ai/v2";
/// Default URL template of load-balanced endpoints.
pub const DEFAULT_LB_URL_TEMPLATE: &str = "https://{endpoint_id}.api.runpod.ai";
/// File name of the manifest, in the working directory or next to the executable.
pub const MANIFEST_FILE_NAME: &str = "flash_manifest.json";

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

/// HTTP paths a load-balanced function may never claim: `/ping` is the health check and
/// `/execute` is Python Flash's arbitrary-code route, which this port never exposes.
pub const RESERVED_PATHS: [&str; 2] = ["/execute", "/ping"];
/// HTTP methods a load-balanced function may use.
pub const HTTP_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The `User-Agent` this crate sends.
pub const USER_AGENT: &str = concat!("runpod-flash-rs/", env!("CARGO_PKG_VERSION"));
