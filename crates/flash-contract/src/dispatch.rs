//! Runpod's Flash dispatcher ("sentinel"): an endpoint addressed by app, environment and
//! resource name instead of by id, resolved server-side (runpod-wire.md §5; runpod 2.0.0rc2
//! `runpod/apps/targets.py`). The emulator serves it and the client sends it from these names.

/// The pseudo endpoint id of the queue routes: `{RUNPOD_ENDPOINT_BASE_URL}/flash/run`,
/// `/flash/runsync`, `/flash/status/{id}`, `/flash/stream/{id}`, `/flash/cancel/{id}`,
/// `/flash/retry/{id}`. No real endpoint id can be it.
pub const SENTINEL_ID: &str = "flash";

/// The host of load-balanced endpoints by name on a loopback Runpod (the emulator). Runpod's is
/// `flash.{endpoint domain}` (runpod 2.0: `https://{SENTINEL_ID}.{domain}{path}`); a loopback
/// IP has no subdomains (`flash.127.0.0.1` is no host name: URL parsers read a dotted-number
/// tail as an IPv4 address and refuse it), `localhost` does, all loopback (RFC 6761 §6.3).
pub const LOOPBACK_LB_HOST: &str = "flash.localhost";

/// The queue routes the dispatcher serves, relative to `{base}/flash` (the runpod SDK sends no
/// others by name: no `/health`, no `/purge-queue`).
pub const QUEUE_ROUTES: [&str; 6] = ["run", "runsync", "status", "stream", "cancel", "retry"];

/// The app's name.
pub const HEADER_APP: &str = "X-Flash-App";

/// The environment's name.
pub const HEADER_ENVIRONMENT: &str = "X-Flash-Environment";

/// The resource's name (the deployed endpoint's name), or an endpoint id (runpod 2.0's
/// id-based stubs send the id here).
pub const HEADER_ENDPOINT: &str = "X-Flash-Endpoint";

/// The three headers, in the order above.
pub const HEADERS: [&str; 3] = [HEADER_APP, HEADER_ENVIRONMENT, HEADER_ENDPOINT];

/// The environment a caller names when none is given (runpod 2.0 `stubs.py` `DEFAULT_ENV`;
/// `FLASH_ENVIRONMENT` overrides it there).
pub const DEFAULT_ENVIRONMENT: &str = "default";
