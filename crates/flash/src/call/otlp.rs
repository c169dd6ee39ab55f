//! Spans of `#[remote]` calls exported over OTLP/HTTP (JSON encoding), when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
//!
//! A call made here is a CLIENT span: its id is the span id sent in the call's `traceparent`,
//! its parent the span being served (if any). A call served here is a SERVER span: its parent
//! is the caller's span id from the `traceparent` it came with, and calls it makes are its
//! children. So one call through three endpoints is one trace, whichever process exports
//! which part.
//!
//! Each span is sent when it ends, and the call waits (at most [`EXPORT_TIMEOUT`]) for the
//! collector to take it: a caller that exits right after its last call, or a worker stopped
//! after its job, loses nothing, and without the variable nothing of this runs. A collector
//! that does not answer costs each span that timeout and is reported once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::TraceParent;
use flash_contract::env;

/// The longest a span's export may hold up the call it belongs to.
pub(crate) const EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

struct Exporter {
    url: String,
    service: String,
    http: reqwest::Client,
}

fn exporter() -> Option<&'static Exporter> {
    static EXPORTER: OnceLock<Option<Exporter>> = OnceLock::new();
    EXPORTER
        .get_or_init(|| {
            let var = |name: &str| {
                std::env::var(name)
                    .ok()
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
            };
            let url = var(env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).or_else(|| {
                var(env::OTEL_EXPORTER_OTLP_ENDPOINT)
                    .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
            })?;
            if var(env::OTEL_EXPORTER_OTLP_PROTOCOL).is_some_and(|p| p == "grpc") {
                tracing::warn!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: spans are exported over OTLP/HTTP only; \
                     not exporting"
                );
                return None;
            }
            let service = var(env::OTEL_SERVICE_NAME)
                .or_else(|| var(env::FLASH_RESOURCE_NAME))
                .or_else(|| {
                    std::env::current_exe()
                        .ok()
                        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                })
                .unwrap_or_else(|| "flash".to_owned());
            let http = reqwest::Client::builder()
                .user_agent(crate::config::USER_AGENT)
                .timeout(EXPORT_TIMEOUT)
                .build()
                .ok()?;
            Some(Exporter { url, service, http })
        })
        .as_ref()
}

/// What kind of span (OTLP's `SpanKind` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Serving a call.
    Server = 2,
    /// Making a call.
    Client = 3,
}

/// A span being timed; [`Span::end`] exports it.
#[derive(Debug)]
pub(crate) struct Span {
    trace_id: u128,
    span_id: u64,
    parent: Option<u64>,
    name: String,
    kind: Kind,
    start: SystemTime,
    function: &'static str,
    resource: String,
}

impl Span {
    /// A span `trace` (its `span_id` is this span's), child of `parent`; `None` when no
    /// export is configured.
    pub(crate) fn start(
        kind: Kind,
        trace: &TraceParent,
        parent: Option<u64>,
        function: &'static str,
        resource: &str,
    ) -> Option<Self> {
        exporter()?;
        let verb = match kind {
            Kind::Server => "serve",
            Kind::Client => "call",
        };
        Some(Self {
            trace_id: trace.trace_id,
            span_id: trace.span_id,
            parent,
            name: format!("{verb} {function}"),
            kind,
            start: SystemTime::now(),
            function,
            resource: resource.to_owned(),
        })
    }

    /// Ends the span (`error`: why the call failed) and exports it.
    pub(crate) async fn end(self, error: Option<&str>) {
        let Some(exporter) = exporter() else { return };
        let body = self.to_otlp(&exporter.service, SystemTime::now(), error);
        let sent = exporter.http.post(&exporter.url).json(&body).send().await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.without_url().to_string(),
        };
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(url = %exporter.url, "cannot export spans over OTLP: {failure}");
        }
    }

    /// The span as an OTLP/HTTP JSON `ExportTraceServiceRequest`.
    fn to_otlp(&self, service: &str, end: SystemTime, error: Option<&str>) -> Value {
        let nanos = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
                .to_string()
        };
        let text = |key: &str, value: &str| json!({"key": key, "value": {"stringValue": value}});
        let mut span = json!({
            "traceId": format!("{:032x}", self.trace_id),
            "spanId": format!("{:016x}", self.span_id),
            "name": self.name,
            "kind": self.kind as u8,
            "startTimeUnixNano": nanos(self.start),
            "endTimeUnixNano": nanos(end),
            "attributes": [
                text("flash.function", self.function),
                text("flash.resource", &self.resource),
            ],
            "status": match error {
                None => json!({"code": 1}),
                Some(message) => json!({"code": 2, "message": message}),
            },
        });
        if let Some(parent) = self.parent {
            span["parentSpanId"] = json!(format!("{parent:016x}"));
        }
        json!({"resourceSpans": [{
            "resource": {"attributes": [text("service.name", service)]},
            "scopeSpans": [{
                "scope": {"name": "runpod-flash", "version": env!("CARGO_PKG_VERSION")},
                "spans": [span],
            }],
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ids_as_hex_and_links_the_parent() {
        let span = Span {
            trace_id: 0xabc,
            span_id: 0x12,
            parent: Some(0x34),
            name: "call f".into(),
            kind: Kind::Client,
            start: UNIX_EPOCH + Duration::from_secs(1),
            function: "f",
            resource: "gpu".into(),
        };
        let body = span.to_otlp("svc", UNIX_EPOCH + Duration::from_secs(2), Some("boom"));
        let s = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "00000000000000000000000000000abc");
        assert_eq!(s["spanId"], "0000000000000012");
        assert_eq!(s["parentSpanId"], "0000000000000034");
        assert_eq!(s["kind"], 3);
        assert_eq!(s["startTimeUnixNano"], "1000000000");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "svc"
        );
        let root = Span {
            parent: None,
            ..span
        };
        let body = root.to_otlp("svc", UNIX_EPOCH, None);
        let s = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert!(s.get("parentSpanId").is_none());
        assert_eq!(s["status"]["code"], 1);
    }
}
