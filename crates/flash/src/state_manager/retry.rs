//! When and how long State Manager queries wait before trying again.

use std::time::Duration;

use crate::config;

/// GraphQL error texts (matched case-insensitively) that Runpod uses for transient failures.
/// The same list as Python Flash, so both SDKs give up on the same errors.
const TRANSIENT_MESSAGES: [&str; 5] = [
    "try again later",
    "internal server error",
    "service unavailable",
    "too many requests",
    "temporarily unavailable",
];

/// Whether a GraphQL error message describes a failure worth retrying.
pub(super) fn is_transient_message(message: &str) -> bool {
    let message = message.to_lowercase();
    TRANSIENT_MESSAGES
        .iter()
        .any(|pattern| message.contains(pattern))
}

/// Exponential backoff between query retries: `base · factor^n`, capped at `max`, then scaled by
/// a random factor in `[1 − jitter, 1 + jitter]` so that many workers failing together do not
/// retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBackoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Multiplier applied on each further retry.
    pub factor: u32,
    /// Upper bound of a delay before jitter.
    pub max: Duration,
    /// Relative jitter, `0.2` for ±20 %. Clamped to `[0, 1]`.
    pub jitter: f64,
}

impl Default for RetryBackoff {
    fn default() -> Self {
        Self {
            base: config::RETRY_BACKOFF_BASE,
            factor: config::RETRY_BACKOFF_FACTOR,
            max: config::RETRY_BACKOFF_MAX,
            jitter: config::RETRY_JITTER,
        }
    }
}

impl RetryBackoff {
    /// The delay before retry number `retry` (0 for the first retry), without jitter.
    pub fn nominal_delay(&self, retry: u32) -> Duration {
        let multiplier = self.factor.checked_pow(retry).unwrap_or(u32::MAX);
        self.base.saturating_mul(multiplier).min(self.max)
    }

    /// The delay before retry number `retry`, with jitter applied.
    pub fn delay(&self, retry: u32) -> Duration {
        crate::backoff::jittered(self.nominal_delay(retry), self.jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_cap() {
        let backoff = RetryBackoff::default();
        let secs: Vec<u64> = (0..6).map(|n| backoff.nominal_delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 15, 15]);
        assert_eq!(backoff.nominal_delay(100), Duration::from_secs(15));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let backoff = RetryBackoff::default();
        for retry in 0..5 {
            let nominal = backoff.nominal_delay(retry).as_secs_f64();
            for _ in 0..50 {
                let delay = backoff.delay(retry).as_secs_f64();
                assert!(
                    (nominal * 0.8 - 1e-9..=nominal * 1.2 + 1e-9).contains(&delay),
                    "retry {retry}: {delay}s vs nominal {nominal}s"
                );
            }
        }
    }

    #[test]
    fn zero_jitter_is_exact() {
        let backoff = RetryBackoff {
            jitter: 0.0,
            ..RetryBackoff::default()
        };
        assert_eq!(backoff.delay(2), Duration::from_secs(4));
    }

    #[test]
    fn transient_messages_match_case_insensitively() {
        assert!(is_transient_message("Please Try Again Later."));
        assert!(is_transient_message("503: Service Unavailable"));
        assert!(is_transient_message("TOO MANY REQUESTS"));
        assert!(!is_transient_message("Flash environment not found"));
        assert!(!is_transient_message("Unauthorized"));
    }
}
