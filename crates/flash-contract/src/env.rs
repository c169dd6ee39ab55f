//! Every environment variable name that the platform sets on workers, that Flash sets on them,
//! or that Flash reads. The worker runtime, the boot step, the CLI and the emulator all use these
//! constants, so a rename is one edit and a typo is a compile error.

// --- Credentials and base URLs (callers, the CLI and workers) ---

/// The Runpod API key; sent as `Authorization: Bearer` to the control and data planes.
pub const RUNPOD_API_KEY: &str = "RUNPOD_API_KEY";
/// Control-plane base URL; GraphQL is at `{base}/graphql`.
pub const RUNPOD_API_BASE_URL: &str = "RUNPOD_API_BASE_URL";
/// Runpod's REST API (network volumes).
pub const RUNPOD_REST_API_URL: &str = "RUNPOD_REST_API_URL";
/// Base URL of Runpod's web console (default `https://console.runpod.io`): where `flash login`
/// sends a person to approve a login, as Python Flash does.
pub const RUNPOD_CONSOLE_URL: &str = "RUNPOD_CONSOLE_URL";
/// Data-plane base URL for queue endpoints (`{base}/{endpoint_id}/runsync`).
pub const RUNPOD_ENDPOINT_BASE_URL: &str = "RUNPOD_ENDPOINT_BASE_URL";

// --- The worker protocol: set by Runpod on every queue worker (docs/wire-formats.md, "Workers") ---

/// Job-take URL; `$ID` is replaced by the worker id.
pub const RUNPOD_WEBHOOK_GET_JOB: &str = "RUNPOD_WEBHOOK_GET_JOB";
/// Job-done URL; `$RUNPOD_POD_ID` by the worker id, `$ID` by the job id.
pub const RUNPOD_WEBHOOK_POST_OUTPUT: &str = "RUNPOD_WEBHOOK_POST_OUTPUT";
/// Job-stream URL, same placeholders as [`RUNPOD_WEBHOOK_POST_OUTPUT`].
pub const RUNPOD_WEBHOOK_POST_STREAM: &str = "RUNPOD_WEBHOOK_POST_STREAM";
/// The older name of [`RUNPOD_WEBHOOK_POST_STREAM`], still read by the runpod SDK.
pub const RUNPOD_WEBHOOK_JOB_STREAM: &str = "RUNPOD_WEBHOOK_JOB_STREAM";
/// Heartbeat URL; `$RUNPOD_POD_ID` is replaced by the worker id.
pub const RUNPOD_WEBHOOK_PING: &str = "RUNPOD_WEBHOOK_PING";
/// The key a worker sends (raw, in `Authorization`) to the job plane.
pub const RUNPOD_AI_API_KEY: &str = "RUNPOD_AI_API_KEY";
/// The worker's id.
pub const RUNPOD_POD_ID: &str = "RUNPOD_POD_ID";
/// The worker's host name, reported with each job.
pub const RUNPOD_POD_HOSTNAME: &str = "RUNPOD_POD_HOSTNAME";
/// Heartbeat period in milliseconds.
pub const RUNPOD_PING_INTERVAL: &str = "RUNPOD_PING_INTERVAL";
/// Set by Runpod on every worker; the identity fallback when [`FLASH_RESOURCE_NAME`] is unset.
pub const RUNPOD_ENDPOINT_ID: &str = "RUNPOD_ENDPOINT_ID";
/// Tells the Python runpod SDK to skip its start-up system checks (the emulator sets it).
pub const RUNPOD_SKIP_AUTO_SYSTEM_CHECKS: &str = "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS";
/// Tells the Python runpod SDK not to look for a GPU (the emulator sets it).
pub const RUNPOD_SKIP_GPU_CHECK: &str = "RUNPOD_SKIP_GPU_CHECK";

// --- Load-balanced workers ---

/// The port a load-balanced worker serves its routes on.
pub const PORT: &str = "PORT";
/// The port a load-balanced worker answers `/ping` on.
pub const PORT_HEALTH: &str = "PORT_HEALTH";
/// The address a worker's listeners bind (load-balanced routes, `/ping`, the local test API).
/// Unset on Runpod, where a load-balanced worker listens on all interfaces (`0.0.0.0`) so the
/// platform's router reaches it; the emulator sets `127.0.0.1`, so that a worker's routes are
/// never reachable from the network without the endpoint's key.
pub const FLASH_BIND_ADDRESS: &str = "FLASH_BIND_ADDRESS";

/// The pid of the process whose end must also end this worker (the emulator sets its own).
/// The boot step asks the kernel to send the worker SIGTERM when that process dies, so a
/// platform killed with SIGKILL leaves no worker behind. Unset on Runpod, where the container
/// ends with the worker.
pub const FLASH_EXIT_WITH_PARENT: &str = "FLASH_EXIT_WITH_PARENT";

// --- Set by Flash on deployed workers ---

/// Which resource of the manifest this process is.
pub const FLASH_RESOURCE_NAME: &str = "FLASH_RESOURCE_NAME";
/// The Flash environment whose active build's manifest holds the endpoint URLs.
pub const FLASH_ENVIRONMENT_ID: &str = "FLASH_ENVIRONMENT_ID";
/// App name.
pub const FLASH_APP: &str = "FLASH_APP";
/// Environment name.
pub const FLASH_ENV: &str = "FLASH_ENV";
/// `lb` for load-balanced workers, `qb` for queue workers.
pub const FLASH_ENDPOINT_TYPE: &str = "FLASH_ENDPOINT_TYPE";
/// Directory of the network volume mounted by this worker's endpoint. On Runpod the volume is
/// always at `/runpod-volume` and this is unset; the local emulator sets it to the shared
/// directory it stands in with.
pub const FLASH_VOLUME_PATH: &str = "FLASH_VOLUME_PATH";
/// Where the platform mounted the build artifact (default
/// [`DEFAULT_ARTIFACT_MOUNT`](crate::files::DEFAULT_ARTIFACT_MOUNT)).
pub const FLASH_BUILD_ARTIFACT_PATH: &str = "FLASH_BUILD_ARTIFACT_PATH";
/// The build's source fingerprint, set in every deployed worker's template so that a code-only
/// change changes the template and rolls the workers (Python Flash 1.21's name for it).
pub const FLASH_SOURCE_FINGERPRINT: &str = "_FLASH_SOURCE_FINGERPRINT";
/// Where the boot step unpacks the artifact (default
/// [`DEFAULT_APP_DIR`](crate::files::DEFAULT_APP_DIR)).
pub const FLASH_APP_DIR: &str = "FLASH_APP_DIR";

// --- Read by the runtime ---

/// Explicit manifest location, checked after a path given in code.
pub const FLASH_MANIFEST_PATH: &str = "FLASH_MANIFEST_PATH";
/// Endpoint cache TTL in seconds.
pub const FLASH_CACHE_TTL_SECS: &str = "FLASH_CACHE_TTL_SECS";
/// `1`/`true`: a function missing from the manifest is an error instead of a local call.
pub const FLASH_STRICT_ROUTING: &str = "FLASH_STRICT_ROUTING";
/// When true (`1`, `true`, `yes`), `#[remote]` calls reach peers by name through Runpod's Flash
/// dispatcher (`FLASH_APP`, `FLASH_ENV`, the resource) instead of at URLs from the State Manager.
pub const FLASH_DISPATCH_BY_NAME: &str = "FLASH_DISPATCH_BY_NAME";
/// Port of a queue worker's local test API (default 8000).
pub const FLASH_WORKER_PORT: &str = "FLASH_WORKER_PORT";
/// URL template of load-balanced endpoints, `{endpoint_id}` replaced by the endpoint id.
pub const FLASH_LB_URL_TEMPLATE: &str = "FLASH_LB_URL_TEMPLATE";
/// `1`: print the compiled functions as JSON and exit (used by `flash build`).
pub const FLASH_DESCRIBE: &str = "FLASH_DESCRIBE";
/// Seconds (decimals allowed) a queue worker keeps retrying a job's result post after
/// transport errors, 5xx and 429 before it gives the result up (default 120).
pub const FLASH_RESULT_RETRY_SECS: &str = "FLASH_RESULT_RETRY_SECS";
/// Seconds (decimals allowed) a queue call made without a deadline waits for its job before it
/// cancels the job and fails with a timeout (default 900).
pub const FLASH_CALL_TIMEOUT_SECS: &str = "FLASH_CALL_TIMEOUT_SECS";

// --- Traces: OpenTelemetry's standard variables (callers and workers export over OTLP/HTTP) ---

/// OTLP base URL: spans go to `{base}/v1/traces`. Unset: no export.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// OTLP traces URL, used as is (wins over [`OTEL_EXPORTER_OTLP_ENDPOINT`]).
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// OTLP protocol; only `http/json` is spoken (`grpc` disables the export, with a warning).
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// The exporting process's `service.name` (default: its resource name, else its program name).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

// --- Build ---

/// Seconds since the epoch that reproducible builds stamp instead of the clock.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// Registry of the default worker images (`docker.io/me`, `ghcr.io/org`), read by `flash build`
/// over `image-registry` in `[package.metadata.flash]`: images become
/// `{registry}/flash-rs-worker-{cpu,gpu}:{version}` ([`crate::images::default_image`]).
pub const FLASH_IMAGE_REGISTRY: &str = "FLASH_IMAGE_REGISTRY";
/// Full image name for CPU resources that name none, read by `flash build` over `cpu-image`
/// (Python Flash reads the same variable for the same purpose).
pub const FLASH_CPU_IMAGE: &str = "FLASH_CPU_IMAGE";
/// Full image name for GPU resources that name none, read by `flash build` over `gpu-image`
/// (Python Flash reads the same variable for the same purpose).
pub const FLASH_GPU_IMAGE: &str = "FLASH_GPU_IMAGE";

/// Prefixes of the variables that belong to the platform and Flash: `flash build` runs the app
/// without them, so a describe run cannot pick up a deployed worker's identity.
pub const RESERVED_PREFIXES: [&str; 2] = ["FLASH_", "RUNPOD_"];
