//! `flash logs`: what an app's workers printed, read from the local Runpod emulator
//! (`GET /emulator/logs`, [`flash_emulator::worker_logs`]), once or following new lines.
//!
//! Runpod itself has no documented API for worker logs. The official clients read them from its
//! host API, `https://hapi.runpod.net/v1/pod/{worker_id}/logs` (runpod 2.0's `runpod logs`,
//! Python Flash's request-log fetcher), an undocumented service keyed by worker id rather than
//! by endpoint; so against Runpod this command says so ([`LogsError::NotTheEmulator`]) instead
//! of guessing at it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flash_emulator::worker_logs::{LOGS_PATH, LogEntry, LogPage, LogQuery};
use runpod_flash::ApiKey;

/// How long one follow request is held by the emulator before it answers empty.
const FOLLOW_WAIT: Duration = Duration::from_secs(25);

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// `RUNPOD_API_BASE_URL`: the emulator's base URL.
    pub api_base_url: String,
    /// The key (the emulator's).
    pub api_key: Option<ApiKey>,
    /// Only this resource (endpoint name) or endpoint id.
    pub resource: Option<String>,
    /// Only lines from this long ago or later.
    pub since: Option<Duration>,
}

/// Why `flash logs` could not read logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogsError {
    /// No key to send.
    #[error(
        "no API key: set RUNPOD_API_KEY to the emulator's key (`flash run` and `flash emulator` print it)"
    )]
    NoKey,
    /// The target is not an emulator (Runpod, or a server without the logs route).
    #[error(
        "{url} serves no worker logs: `flash logs` reads them from the local Runpod emulator \
         (`flash run`, `flash emulator`; point RUNPOD_API_BASE_URL at it). Runpod has no public \
         API for worker logs: its console shows them, and runpod 2.0's `runpod logs WORKER_ID` \
         reads its undocumented host API"
    )]
    NotTheEmulator {
        /// The base URL asked.
        url: String,
    },
    /// The key was refused.
    #[error("{url} refused the API key (HTTP 401): use the key the emulator printed")]
    Unauthorized {
        /// The base URL asked.
        url: String,
    },
    /// The request failed or the answer was not a log page.
    #[error("reading logs from {url}: {message}")]
    Http {
        /// The base URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A `--since` that is not a duration.
    #[error("--since {value:?}: expected a duration such as 30s, 10m, 2h or 1d")]
    Since {
        /// The value given.
        value: String,
    },
}

/// `30s`, `10m`, `2h`, `1d` (a bare number is seconds).
///
/// # Errors
/// [`LogsError::Since`] for anything else.
pub fn parse_since(value: &str) -> Result<Duration, LogsError> {
    let bad = || LogsError::Since {
        value: value.to_owned(),
    };
    let text = value.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// A reader of one emulator's logs.
#[derive(Debug)]
pub struct LogReader {
    http: reqwest::Client,
    url: String,
    base: String,
    key: ApiKey,
    query: LogQuery,
}

impl LogReader {
    /// Checks the options; sends nothing yet.
    ///
    /// # Errors
    /// [`LogsError::NoKey`] without a key; [`LogsError::NotTheEmulator`] for Runpod's own URL.
    pub fn new(options: &LogsOptions) -> Result<Self, LogsError> {
        let base = options.api_base_url.trim_end_matches('/').to_owned();
        if base == runpod_flash::config::DEFAULT_API_BASE_URL.trim_end_matches('/') {
            return Err(LogsError::NotTheEmulator { url: base });
        }
        let key = options.api_key.clone().ok_or(LogsError::NoKey)?;
        let http = reqwest::Client::builder()
            .user_agent(runpod_flash::config::USER_AGENT)
            .build()
            .map_err(|e| LogsError::Http {
                url: base.clone(),
                message: e.to_string(),
            })?;
        let since_ms = options.since.map(|ago| {
            let at = SystemTime::now()
                .checked_sub(ago)
                .unwrap_or(UNIX_EPOCH)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            u64::try_from(at.as_millis()).unwrap_or(0)
        });
        Ok(Self {
            http,
            url: format!("{base}{LOGS_PATH}"),
            base,
            key,
            query: LogQuery {
                endpoint: options.resource.clone(),
                since_ms,
                ..LogQuery::default()
            },
        })
    }

    /// Every kept line that matches, oldest first; afterwards [`follow`](Self::follow) goes on
    /// from the last one.
    ///
    /// # Errors
    /// [`LogsError`] when the emulator cannot be read.
    pub async fn backlog(&mut self) -> Result<Vec<LogEntry>, LogsError> {
        let mut all = Vec::new();
        self.query.after = Some(0);
        loop {
            let page = self.fetch(Duration::ZERO).await?;
            let full = page.lines.len() >= flash_emulator::worker_logs::MAX_PAGE;
            self.query.after = Some(page.next);
            all.extend(page.lines);
            if !full {
                return Ok(all);
            }
        }
    }

    /// The next lines after those already returned, waiting for them (a long poll; an empty
    /// result means none came within the wait).
    ///
    /// # Errors
    /// [`LogsError`] when the emulator cannot be read (stopped, say).
    pub async fn follow(&mut self) -> Result<Vec<LogEntry>, LogsError> {
        let page = self.fetch(FOLLOW_WAIT).await?;
        self.query.after = Some(page.next);
        Ok(page.lines)
    }

    async fn fetch(&self, wait: Duration) -> Result<LogPage, LogsError> {
        let http_error = |message: String| LogsError::Http {
            url: self.base.clone(),
            message,
        };
        let mut url =
            reqwest::Url::parse(&self.url).map_err(|e| http_error(format!("not a URL: {e}")))?;
        {
            let q = &self.query;
            let mut pairs = url.query_pairs_mut();
            for (name, value) in [
                ("endpoint", q.endpoint.clone()),
                ("after", q.after.map(|n| n.to_string())),
                ("since_ms", q.since_ms.map(|n| n.to_string())),
                ("wait_ms", Some(wait.as_millis().to_string())),
            ] {
                if let Some(value) = value {
                    pairs.append_pair(name, &value);
                }
            }
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(self.key.expose())
            .timeout(wait + Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| http_error(e.without_url().to_string()))?;
        match response.status() {
            s if s.is_success() => response
                .json::<LogPage>()
                .await
                .map_err(|e| http_error(format!("not a log page: {}", e.without_url()))),
            reqwest::StatusCode::NOT_FOUND => Err(LogsError::NotTheEmulator {
                url: self.base.clone(),
            }),
            reqwest::StatusCode::UNAUTHORIZED => Err(LogsError::Unauthorized {
                url: self.base.clone(),
            }),
            status => {
                let body = response.text().await.unwrap_or_default();
                Err(http_error(format!(
                    "HTTP {status}: {}",
                    body.chars().take(300).collect::<String>()
                )))
            }
        }
    }
}

/// One line for people: `TIME [endpoint/worker] line`, with `stderr` marked.
pub fn render(entry: &LogEntry) -> String {
    let marker = if entry.stream == "stderr" {
        " stderr"
    } else {
        ""
    };
    format!(
        "{} [{}/{}{marker}] {}",
        entry.time, entry.endpoint_name, entry.worker_id, entry.line
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_only() {
        assert_eq!(parse_since("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86_400));
        for bad in ["", "m", "5x", "-3s", "1.5h", "99999999999999999999d"] {
            let error = parse_since(bad).unwrap_err().to_string();
            assert!(error.contains("--since"), "{bad}: {error}");
        }
    }

    #[test]
    fn runpod_itself_is_refused_before_any_request() {
        let error = LogReader::new(&LogsOptions {
            api_base_url: "https://api.runpod.io/".into(),
            api_key: ApiKey::new("rpa_SECRET"),
            ..LogsOptions::default()
        })
        .unwrap_err();
        assert!(matches!(error, LogsError::NotTheEmulator { .. }));
        assert!(error.to_string().contains("no public"));
        let error = LogReader::new(&LogsOptions {
            api_base_url: "http://127.0.0.1:9".into(),
            ..LogsOptions::default()
        })
        .unwrap_err();
        assert!(matches!(error, LogsError::NoKey));
    }
}
