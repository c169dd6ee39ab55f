//! What a build or deploy reports while it works, as events: the `flash` command draws them as
//! progress bars on a terminal and as plain lines elsewhere; library callers may ignore them
//! ([`Silent`]) or take the plain lines ([`Lines`]). Events never carry a key or a presigned
//! URL.

/// One thing that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A step begins (and the one before it is done).
    Step(&'a str),
    /// Bytes of the artifact sent so far, of `total`.
    Upload {
        /// Sent so far.
        sent: u64,
        /// The artifact's size.
        total: u64,
    },
    /// An endpoint is being provisioned: `action` is `creating`, `updating`, `checking` or
    /// `deleting`.
    EndpointStarted {
        /// Resource (or endpoint) name.
        resource: &'a str,
        /// What is being done.
        action: &'a str,
    },
    /// An endpoint's final state: `line` says what was done (or why it failed).
    EndpointFinished {
        /// Resource (or endpoint) name.
        resource: &'a str,
        /// `created (ID)`, `unchanged (ID)`, ..., or the error.
        line: &'a str,
        /// Whether it succeeded.
        ok: bool,
    },
}

impl Event<'_> {
    /// The event as one plain line, for logs and non-terminals; `None` for events that only
    /// move a bar (upload bytes before the end, an endpoint starting).
    pub fn plain(&self) -> Option<String> {
        match *self {
            Event::Step(text) => Some(text.to_owned()),
            Event::Upload { sent, total } => {
                (sent >= total).then(|| format!("uploaded {total} bytes"))
            }
            Event::EndpointStarted { .. } => None,
            Event::EndpointFinished { resource, line, ok } => Some(if ok {
                format!("{resource}: {line}")
            } else {
                format!("{resource}: failed: {line}")
            }),
        }
    }
}

/// Receives events. Called from the task doing the work; must not block for long.
pub trait Progress: Sync {
    /// One event.
    fn event(&self, event: &Event<'_>);
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: &Event<'_>) {}
}

/// Hands each event's [plain line](Event::plain) to a function.
#[derive(Debug, Clone, Copy)]
pub struct Lines<F>(pub F);

impl<F: Fn(&str) + Sync> Progress for Lines<F> {
    fn event(&self, event: &Event<'_>) {
        if let Some(line) = event.plain() {
            (self.0)(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_skip_what_only_moves_a_bar() {
        assert_eq!(
            Event::Step("packaging").plain().as_deref(),
            Some("packaging")
        );
        assert_eq!(Event::Upload { sent: 5, total: 10 }.plain(), None);
        assert_eq!(
            Event::Upload {
                sent: 10,
                total: 10
            }
            .plain()
            .as_deref(),
            Some("uploaded 10 bytes")
        );
        assert_eq!(
            Event::EndpointStarted {
                resource: "gpu",
                action: "creating"
            }
            .plain(),
            None
        );
        assert_eq!(
            Event::EndpointFinished {
                resource: "gpu",
                line: "created (ep1)",
                ok: true
            }
            .plain()
            .as_deref(),
            Some("gpu: created (ep1)")
        );
        assert_eq!(
            Event::EndpointFinished {
                resource: "gpu",
                line: "HTTP 500",
                ok: false
            }
            .plain()
            .as_deref(),
            Some("gpu: failed: HTTP 500")
        );
    }
}
