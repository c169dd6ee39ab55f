//! What workers printed, kept after the fact: a bounded log per worker, served at
//! `GET /emulator/logs` (Bearer auth, like every other emulator route) and read by `flash logs`.
//!
//! Every line gets a sequence number, unique and increasing across the whole emulator, so a
//! reader asks for "what came after the last line I saw" (`after=SEQ`) and never sees a line
//! twice or misses one that is still held. With `wait_ms`, a request that finds nothing new is
//! held until a line arrives or the wait ends (a long poll: how `flash logs --follow` streams).
//!
//! Bounds: each worker keeps its most recent [`MAX_LINES_PER_WORKER`] lines and at most
//! [`MAX_BYTES_PER_WORKER`] bytes of them; the store keeps the [`MAX_WORKERS`] workers that
//! printed most recently and forgets older ones whole. A long poll waits at most [`MAX_WAIT`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::core::{Core, lock};
use crate::http::{bearer_ok, error, unauthorized};
use crate::{LogLine, LogStream};

/// The route, on the emulator's main listener.
pub const LOGS_PATH: &str = "/emulator/logs";
/// Lines kept per worker.
pub const MAX_LINES_PER_WORKER: usize = 2000;
/// Bytes of line text kept per worker.
pub const MAX_BYTES_PER_WORKER: usize = 1024 * 1024;
/// Workers whose lines are kept (those that printed most recently).
pub const MAX_WORKERS: usize = 64;
/// Lines one response carries at most; a reader pages on with `after`.
pub const MAX_PAGE: usize = 5000;
/// The longest a request is held waiting for a new line.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// One kept line, as `GET /emulator/logs` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// Position in the emulator's log: increasing, never reused.
    pub seq: u64,
    /// When the emulator read the line, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// The same instant, milliseconds since the Unix epoch (what `since` compares).
    pub unix_ms: u64,
    /// Endpoint id.
    pub endpoint_id: String,
    /// Endpoint name (the resource name).
    pub endpoint_name: String,
    /// Worker id (`RUNPOD_POD_ID`), or [`crate::supervisor::SUPERVISOR_LOG_ID`].
    pub worker_id: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line, without its newline.
    pub line: String,
}

/// The body of `GET /emulator/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    /// Matching lines, oldest first, at most `limit`.
    pub lines: Vec<LogEntry>,
    /// What to pass as `after` next: the last line's `seq`, or the request's `after` when no
    /// line matched (the newest `seq` held when there was no `after`).
    pub next: u64,
}

/// The query of `GET /emulator/logs`; every field optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct LogQuery {
    /// Only this endpoint: its name or its id.
    pub endpoint: Option<String>,
    /// Only this worker.
    pub worker: Option<String>,
    /// Only lines with a greater `seq`.
    pub after: Option<u64>,
    /// Only lines read at or after this instant (milliseconds since the Unix epoch).
    pub since_ms: Option<u64>,
    /// At most this many lines (default and maximum [`MAX_PAGE`]).
    pub limit: Option<usize>,
    /// With nothing to return yet, wait up to this long for a line (capped at [`MAX_WAIT`]).
    pub wait_ms: Option<u64>,
}

/// The emulator's kept worker output.
#[derive(Default)]
pub(crate) struct LogStore {
    inner: Mutex<Inner>,
    arrived: Notify,
}

/// Only counts: the lines are whatever workers printed, secrets included.
impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("LogStore")
            .field("last_seq", &inner.last_seq)
            .field("workers", &inner.workers.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    /// The seq of the newest line (0: none yet).
    last_seq: u64,
    /// By `endpoint_id/worker_id`, least recently written first.
    workers: IndexMap<String, WorkerLog>,
}

#[derive(Default)]
struct WorkerLog {
    lines: VecDeque<LogEntry>,
    bytes: usize,
}

impl LogStore {
    /// Keeps `line`, stamped now, and wakes waiting readers.
    pub(crate) fn record(&self, line: &LogLine) {
        let now = SystemTime::now();
        {
            let mut inner = lock(&self.inner);
            inner.last_seq += 1;
            let entry = LogEntry {
                seq: inner.last_seq,
                time: flash_contract::time::rfc3339_millis(now),
                unix_ms: unix_ms(now),
                endpoint_id: line.endpoint_id.clone(),
                endpoint_name: line.endpoint_name.clone(),
                worker_id: line.worker_id.clone(),
                stream: match line.stream {
                    LogStream::Stdout => "stdout",
                    LogStream::Stderr => "stderr",
                }
                .to_owned(),
                line: line.line.clone(),
            };
            let key = format!("{}/{}", line.endpoint_id, line.worker_id);
            // Most recently written last, so the front is the one to forget.
            let mut log = inner.workers.shift_remove(&key).unwrap_or_default();
            log.bytes += entry.line.len();
            log.lines.push_back(entry);
            while log.lines.len() > MAX_LINES_PER_WORKER
                || (log.bytes > MAX_BYTES_PER_WORKER && log.lines.len() > 1)
            {
                if let Some(old) = log.lines.pop_front() {
                    log.bytes -= old.line.len();
                }
            }
            inner.workers.insert(key, log);
            while inner.workers.len() > MAX_WORKERS {
                inner.workers.shift_remove_index(0);
            }
        }
        self.arrived.notify_waiters();
    }

    /// The lines `query` asks for, oldest first (without waiting).
    pub(crate) fn page(&self, query: &LogQuery) -> LogPage {
        let inner = lock(&self.inner);
        let after = query.after.unwrap_or(0);
        let limit = query.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        // Each worker's lines are in seq order: skip the seen ones without looking at them
        // (a console polls every second).
        let mut lines: Vec<LogEntry> = inner
            .workers
            .values()
            .flat_map(|w| w.lines.range(w.lines.partition_point(|e| e.seq <= after)..))
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        lines.sort_by_key(|e| e.seq);
        lines.truncate(limit);
        let next = lines.last().map_or_else(
            || query.after.unwrap_or(inner.last_seq).min(inner.last_seq),
            |e| e.seq,
        );
        LogPage { lines, next }
    }

    /// [`page`](Self::page), waiting up to `wait` (capped) for a first matching line, or until
    /// `stop` resolves.
    pub(crate) async fn wait_page(
        &self,
        query: &LogQuery,
        wait: Duration,
        stop: impl Future<Output = ()>,
    ) -> LogPage {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        tokio::pin!(stop);
        loop {
            // Registered before looking, so a line recorded in between still wakes us.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let page = self.page(query);
            if !page.lines.is_empty() {
                return page;
            }
            tokio::select! {
                () = arrived => {}
                () = tokio::time::sleep_until(deadline) => return page,
                () = &mut stop => return page,
            }
        }
    }
}

impl LogQuery {
    fn matches(&self, e: &LogEntry) -> bool {
        self.endpoint
            .as_deref()
            .is_none_or(|want| e.endpoint_name == want || e.endpoint_id == want)
            && self
                .worker
                .as_deref()
                .is_none_or(|want| e.worker_id == want)
            && self.since_ms.is_none_or(|since| e.unix_ms >= since)
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `GET /emulator/logs`: see the [module docs](self).
pub(crate) async fn route(
    State(core): State<Arc<Core>>,
    headers: HeaderMap,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if !bearer_ok(&headers, &core.settings.api_key) {
        return unauthorized();
    }
    let Query(query) = match query {
        Ok(q) => q,
        Err(rejection) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{LOGS_PATH}: {}", rejection.body_text()),
            );
        }
    };
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0));
    let mut stop = core.shutdown.subscribe();
    let page = core
        .worker_logs
        .wait_page(&query, wait, async move {
            let () = crate::core::stopped(&mut stop).await;
        })
        .await;
    axum::Json(page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(worker: &str, text: &str) -> LogLine {
        LogLine {
            endpoint_id: "ep1".into(),
            endpoint_name: "gpu".into(),
            worker_id: worker.into(),
            stream: LogStream::Stdout,
            line: text.into(),
        }
    }

    #[test]
    fn pages_in_order_and_filters() {
        let store = LogStore::default();
        store.record(&line("w1", "a"));
        store.record(&line("w2", "b"));
        store.record(&line("w1", "c"));
        let all = store.page(&LogQuery::default());
        let texts: Vec<&str> = all.lines.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(texts, ["a", "b", "c"]);
        assert_eq!(all.next, 3);
        let w1 = store.page(&LogQuery {
            worker: Some("w1".into()),
            after: Some(1),
            ..LogQuery::default()
        });
        assert_eq!(w1.lines.len(), 1);
        assert_eq!(w1.lines[0].line, "c");
        let other = store.page(&LogQuery {
            endpoint: Some("cpu".into()),
            ..LogQuery::default()
        });
        assert!(other.lines.is_empty());
        assert_eq!(
            other.next, 3,
            "a reader without `after` starts at the newest line"
        );
        let one = store.page(&LogQuery {
            limit: Some(1),
            ..LogQuery::default()
        });
        assert_eq!((one.lines.len(), one.next), (1, 1));
    }

    #[test]
    fn bounded_per_worker_and_in_workers() {
        let store = LogStore::default();
        for i in 0..MAX_LINES_PER_WORKER + 5 {
            store.record(&line("w", &i.to_string()));
        }
        let page = store.page(&LogQuery::default());
        assert_eq!(page.lines.len(), MAX_LINES_PER_WORKER);
        assert_eq!(page.lines[0].line, "5", "the oldest lines go first");
        for i in 0..MAX_WORKERS + 1 {
            store.record(&line(&format!("x{i}"), "hi"));
        }
        let page = store.page(&LogQuery {
            worker: Some("w".into()),
            ..LogQuery::default()
        });
        assert!(
            page.lines.is_empty(),
            "the least recent worker is forgotten"
        );
        let big = "x".repeat(MAX_BYTES_PER_WORKER / 2 + 1);
        for _ in 0..3 {
            store.record(&line("big", &big));
        }
        let page = store.page(&LogQuery {
            worker: Some("big".into()),
            ..LogQuery::default()
        });
        assert_eq!(page.lines.len(), 1, "bytes are bounded too");
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_on_a_new_line() {
        let store = Arc::new(LogStore::default());
        store.record(&line("w", "old"));
        let reader = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let query = LogQuery {
                    after: Some(1),
                    ..LogQuery::default()
                };
                store
                    .wait_page(&query, Duration::from_secs(10), std::future::pending())
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.record(&line("w", "new"));
        let page = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("woken before the wait ends")
            .expect("reader task");
        assert_eq!(page.lines.len(), 1);
        assert_eq!(page.lines[0].line, "new");
        let empty = store
            .wait_page(
                &LogQuery {
                    after: Some(2),
                    ..LogQuery::default()
                },
                Duration::from_millis(20),
                std::future::pending(),
            )
            .await;
        assert!(empty.lines.is_empty());
        assert_eq!(empty.next, 2);
    }
}
