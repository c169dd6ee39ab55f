//! Webhook deliveries: when a job submitted with `webhook` ends, the final status object is
//! POSTed to that URL; anything but 200 is tried twice more, 10 s apart (runpod-wire.md §2.2).
//! The emulator posts only to loopback URLs, which it checks when the job is submitted.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::core::Core;

/// Runpod's pause between attempts.
pub(crate) const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// The first attempt and Runpod's two retries.
const ATTEMPTS: u32 = 3;
/// Timeout of one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `url` cannot be a webhook here, if it cannot: it must be http(s) on a loopback host,
/// since the emulator never reaches outside the machine.
pub(crate) fn refusal(url: &str) -> Option<String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Some(format!("webhook {url:?} is not a URL"));
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some(format!("webhook {url:?} is not an http(s) URL"));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    (!loopback)
        .then(|| format!("webhook {url:?}: the emulator posts webhooks to loopback addresses only"))
}

/// Starts the delivery of each `(url, status object)`.
pub(crate) fn deliver(core: &Arc<Core>, endpoint: &str, due: Vec<(String, Value)>) {
    for (url, status) in due {
        let http = core.http.clone();
        let pause = core.settings.webhook_retry;
        let endpoint = endpoint.to_owned();
        core.track(tokio::spawn(async move {
            for attempt in 1..=ATTEMPTS {
                let answer = http
                    .post(&url)
                    .json(&status)
                    .timeout(ATTEMPT_TIMEOUT)
                    .send()
                    .await;
                let why = match answer {
                    Ok(response) if response.status().as_u16() == 200 => return,
                    Ok(response) => format!("HTTP {}", response.status().as_u16()),
                    Err(error) => error.to_string(),
                };
                tracing::warn!(%endpoint, job = %status["id"], attempt, "webhook {url} failed: {why}");
                if attempt < ATTEMPTS {
                    tokio::time::sleep(pause).await;
                }
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_webhooks() {
        assert_eq!(refusal("http://127.0.0.1:8080/hook"), None);
        assert_eq!(refusal("http://localhost/hook"), None);
        assert_eq!(refusal("http://[::1]:9/h"), None);
        assert!(
            refusal("https://example.com/hook")
                .unwrap()
                .contains("loopback")
        );
        assert!(refusal("ftp://127.0.0.1/x").unwrap().contains("http(s)"));
        assert!(refusal("nope").unwrap().contains("not a URL"));
    }
}
