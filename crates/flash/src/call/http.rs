//! The HTTP client peer calls share, and its settings.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::ApiKey;
use crate::config;

/// Settings of peer calls.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Sent as `Authorization: Bearer` to peer endpoints.
    pub api_key: Option<ApiKey>,
    /// How long one `runsync` request waits for the job before answering "still running".
    pub runsync_wait: Duration,
    /// Timeout of one status, cancel or load-balanced request.
    pub request_timeout: Duration,
    /// First delay between status polls; grows by half each poll. Each pause is jittered by
    /// ±20 % ([`config::POLL_JITTER`]).
    pub poll_initial: Duration,
    /// Largest delay between status polls (before jitter).
    pub poll_max: Duration,
    /// Network errors in a row tolerated while polling.
    pub poll_error_budget: u32,
    /// How long a queue call made without a deadline ([`with_deadline`](super::with_deadline))
    /// waits for its job: then it stops polling, posts `/cancel/{id}` and fails with the call's
    /// timeout error. An explicit deadline replaces it, longer or shorter; it does not travel to
    /// the worker. Default [`config::DEFAULT_CALL_TIMEOUT`]; `FLASH_CALL_TIMEOUT_SECS` in
    /// [`PeerConfig::from_env`].
    pub call_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            runsync_wait: config::RUNSYNC_WAIT,
            request_timeout: config::PEER_REQUEST_TIMEOUT,
            poll_initial: config::POLL_INITIAL,
            poll_max: config::POLL_MAX,
            poll_error_budget: config::POLL_ERROR_BUDGET,
            call_timeout: config::DEFAULT_CALL_TIMEOUT,
        }
    }
}

impl PeerConfig {
    /// Defaults, with the key from `RUNPOD_API_KEY` and the call timeout from
    /// `FLASH_CALL_TIMEOUT_SECS` (seconds, decimals allowed; a malformed value is a warning and
    /// the default).
    pub fn from_env() -> Self {
        let call_timeout = std::env::var(flash_contract::env::FLASH_CALL_TIMEOUT_SECS).ok();
        Self {
            api_key: ApiKey::from_env(),
            call_timeout: config::seconds(
                flash_contract::env::FLASH_CALL_TIMEOUT_SECS,
                call_timeout.as_deref(),
                config::DEFAULT_CALL_TIMEOUT,
            ),
            ..Self::default()
        }
    }
}

/// One pooled client and its settings.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) http: reqwest::Client,
    pub(crate) config: PeerConfig,
}

static PEER: ArcSwapOption<Peer> = ArcSwapOption::const_empty();

/// The process's peer client, built from the environment on first use.
pub(crate) fn peer() -> Arc<Peer> {
    if let Some(peer) = PEER.load_full() {
        return peer;
    }
    let peer = Arc::new(build(PeerConfig::from_env()));
    // Two first callers may race; either client works and the loser's is dropped.
    PEER.compare_and_swap(&None::<Arc<Peer>>, Some(Arc::clone(&peer)));
    PEER.load_full().unwrap_or(peer)
}

/// Replaces the settings of peer calls (a test's key and timeouts, say).
pub fn configure(config: PeerConfig) {
    PEER.store(Some(Arc::new(build(config))));
}

fn build(config: PeerConfig) -> Peer {
    let http = reqwest::Client::builder()
        .user_agent(config::USER_AGENT)
        .connect_timeout(config::PEER_CONNECT_TIMEOUT)
        .pool_idle_timeout(config::POOL_IDLE_TIMEOUT)
        // Loopback by RFC 6761, but glibc without nss-myhostname cannot resolve it; the port
        // is the URL's.
        .resolve(
            flash_contract::dispatch::LOOPBACK_LB_HOST,
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        )
        .build()
        .unwrap_or_else(|error| {
            tracing::warn!("cannot build the configured HTTP client ({error}); using defaults");
            reqwest::Client::new()
        });
    Peer { http, config }
}
