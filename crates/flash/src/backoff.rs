//! Jitter for the waits that many processes share (retries, back-off, polling), so that workers
//! or callers failing together do not retry in lockstep.

use std::time::Duration;

use rand::Rng;

/// `delay` scaled by a random factor in `[1 − jitter, 1 + jitter]` (`jitter` clamped to `[0, 1]`;
/// not finite counts as 0).
pub(crate) fn jittered(delay: Duration, jitter: f64) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if jitter == 0.0 || delay.is_zero() {
        return delay;
    }
    delay.mul_f64(rand::rng().random_range(1.0 - jitter..=1.0 + jitter))
}

/// `initial · 2^step`, capped at `max`: the nominal delay of exponential back-off.
pub(crate) fn doubling(initial: Duration, step: u32, max: Duration) -> Duration {
    let multiplier = 2u32.checked_pow(step).unwrap_or(u32::MAX);
    initial.saturating_mul(multiplier).min(max)
}

/// The seconds of a `Retry-After` header, if it has that form: the server's own back-off.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs = value.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let nominal = Duration::from_secs(10);
        let delays: Vec<Duration> = (0..100).map(|_| jittered(nominal, 0.2)).collect();
        assert!(
            delays
                .iter()
                .all(|d| (Duration::from_secs(8)..=Duration::from_secs(12)).contains(d)),
            "{delays:?}"
        );
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "100 jittered delays were all equal: {delays:?}"
        );
    }

    #[test]
    fn no_jitter_is_exact() {
        assert_eq!(
            jittered(Duration::from_secs(3), 0.0),
            Duration::from_secs(3)
        );
        assert_eq!(
            jittered(Duration::from_secs(3), f64::NAN),
            Duration::from_secs(3)
        );
        assert_eq!(jittered(Duration::ZERO, 0.5), Duration::ZERO);
    }

    #[test]
    fn doubling_caps() {
        let ms = |step| doubling(Duration::from_millis(500), step, Duration::from_secs(15));
        assert_eq!(ms(0), Duration::from_millis(500));
        assert_eq!(ms(3), Duration::from_secs(4));
        assert_eq!(ms(5), Duration::from_secs(15));
        assert_eq!(ms(100), Duration::from_secs(15));
    }
}
