//! Progress on stderr: bars on a terminal (upload bytes, one line per endpoint being
//! provisioned that ends in its final state), plain lines otherwise or when `CI` is set. Step
//! lines are printed above the bars rather than animated: cargo writes its own output to the
//! same terminal while it compiles, and a spinner would fight it. Stdout (the report, `--json`)
//! is never touched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flash_cli::progress::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{err, progress_enabled};

/// The reporter for this process's stderr.
pub(crate) fn reporter() -> Arc<Reporter> {
    Arc::new(if progress_enabled() {
        Reporter::Bars(Bars::default())
    } else {
        Reporter::Plain
    })
}

/// Where events go.
#[derive(Debug)]
pub(crate) enum Reporter {
    /// indicatif bars on a terminal.
    Bars(Bars),
    /// One line per event.
    Plain,
}

impl Progress for Reporter {
    fn event(&self, event: &Event<'_>) {
        match self {
            Reporter::Bars(bars) => bars.event(event),
            Reporter::Plain => {
                if let Some(line) = event.plain() {
                    err(&format!("  {line}"));
                }
            }
        }
    }
}

/// The bars being drawn.
#[derive(Debug)]
pub(crate) struct Bars {
    multi: MultiProgress,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    upload: Option<ProgressBar>,
    endpoints: HashMap<String, ProgressBar>,
}

impl Default for Bars {
    fn default() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            state: Mutex::new(State::default()),
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Bars {
    fn event(&self, event: &Event<'_>) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *event {
            Event::Step(text) => {
                let _ = self.multi.println(format!("  {text}"));
            }
            Event::Upload { sent, total } => {
                let bar = state.upload.get_or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(total));
                    bar.set_style(style(
                        "  upload   [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    ));
                    bar
                });
                bar.set_position(sent);
                if sent >= total {
                    bar.finish();
                }
            }
            Event::EndpointStarted { resource, action } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(style("  {spinner} {prefix:32} {msg}"));
                bar.set_prefix(resource.to_owned());
                bar.set_message(format!("{action}…"));
                bar.enable_steady_tick(Duration::from_millis(120));
                state.endpoints.insert(resource.to_owned(), bar);
            }
            Event::EndpointFinished { resource, line, ok } => {
                let bar = state.endpoints.remove(resource).unwrap_or_else(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_prefix(resource.to_owned());
                    bar
                });
                bar.set_style(style(if ok {
                    "  ✓ {prefix:32} {msg}"
                } else {
                    "  ✗ {prefix:32} {msg}"
                }));
                bar.finish_with_message(line.to_owned());
            }
            // A kind of event added later: its plain line, above the bars.
            ref other => {
                if let Some(line) = other.plain() {
                    let _ = self.multi.println(format!("  {line}"));
                }
            }
        }
    }
}
