//! A submitted job: its status, its result, its stream, cancel and retry. Reconnect to one by id
//! with [`QueueEndpoint::job`](super::QueueEndpoint::job).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::error::{EndpointError, EndpointErrorKind};
use super::status::{JobState, JobStatus};
use super::transport::{Connection, Repeat};
use crate::call::WireError;
use crate::config;

/// A job on a queue endpoint.
#[derive(Clone)]
pub struct Job {
    connection: Arc<Connection>,
    id: String,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("endpoint", &self.connection.name)
            .field("id", &self.id)
            .finish()
    }
}

/// The answer of `/cancel` and `/retry`.
#[derive(Deserialize)]
struct StateAnswer {
    status: JobState,
}

/// The answer of `/stream`.
#[derive(Deserialize)]
struct StreamAnswer {
    status: JobState,
    #[serde(default)]
    stream: Vec<Chunk>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    output: Value,
}

impl Job {
    pub(crate) fn new(connection: Arc<Connection>, id: String) -> Self {
        Self { connection, id }
    }

    /// The job's id: keep it to reconnect later, from this process or another.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The endpoint's id.
    pub fn endpoint_id(&self) -> &str {
        &self.connection.name
    }

    fn timeout(&self) -> Duration {
        self.connection.settings.request_timeout
    }

    /// `GET /status/{id}` (retried on transport errors, 429 and 5xx; by name also on 404, see
    /// [`QueueEndpointBuilder::not_found_retry`](super::QueueEndpointBuilder::not_found_retry)).
    pub async fn status(&self) -> Result<JobStatus, EndpointError> {
        let answer = self
            .connection
            .send(
                Method::GET,
                &format!("status/{}", self.id),
                None,
                Some(&self.id),
                self.timeout(),
                Repeat::Safe,
            )
            .await?;
        self.connection.json(Some(&self.id), &answer)
    }

    /// Polls the status (250 ms, growing by half to 5 s, jittered) until the job ends or
    /// `deadline` passes, and returns its output as `O`.
    ///
    /// A job that ended otherwise is an error of its kind ([`EndpointErrorKind::Failed`] with
    /// the worker's error, `Cancelled`, `TimedOut`); a passed deadline is
    /// [`EndpointErrorKind::Deadline`] and leaves the job running (cancel it if it should stop).
    pub async fn wait<O: DeserializeOwned>(&self, deadline: Duration) -> Result<O, EndpointError> {
        let started = Instant::now();
        let give_up = started + deadline;
        let mut delay = self.connection.settings.poll_initial;
        loop {
            let status = self.status().await?;
            if status.status.is_final() {
                return finish(&self.connection, status);
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.error(EndpointErrorKind::Deadline {
                    waited: started.elapsed(),
                }));
            }
            tokio::time::sleep(crate::backoff::jittered(delay, config::POLL_JITTER).min(left))
                .await;
            if Instant::now() >= give_up {
                return Err(self.error(EndpointErrorKind::Deadline {
                    waited: started.elapsed(),
                }));
            }
            delay = (delay + delay / 2).min(self.connection.settings.poll_max);
        }
    }

    /// `POST /cancel/{id}`: a queued job is dropped, a running one stopped. Returns the state
    /// Runpod reports (`CANCELLED`, or the final state of a job that had already ended).
    pub async fn cancel(&self) -> Result<JobState, EndpointError> {
        // Cancelling twice is harmless, so a lost answer is asked again.
        self.post_state("cancel", Repeat::Safe).await
    }

    /// `POST /retry/{id}`: a `FAILED` or `TIMED_OUT` job runs again, same id and input. Any
    /// other state is refused by Runpod ([`EndpointErrorKind::Rejected`]).
    pub async fn retry(&self) -> Result<JobState, EndpointError> {
        self.post_state("retry", Repeat::Never).await
    }

    async fn post_state(&self, operation: &str, repeat: Repeat) -> Result<JobState, EndpointError> {
        let answer = self
            .connection
            .send(
                Method::POST,
                &format!("{operation}/{}", self.id),
                None,
                Some(&self.id),
                self.timeout(),
                repeat,
            )
            .await?;
        let state: StateAnswer = self.connection.json(Some(&self.id), &answer)?;
        Ok(state.status)
    }

    /// The job's streamed outputs, each decoded as `C`, as the worker produces them (a generator
    /// handler's yields; `GET /stream/{id}` returns the chunks since the previous read).
    ///
    /// The stream ends after the last chunk of a `COMPLETED` job; a job that ended `FAILED`,
    /// `CANCELLED` or `TIMED_OUT` ends it with that error. Polls start every 50 ms, are repeated
    /// at once while chunks keep coming, and slow to one a second while none do.
    pub fn stream<C: DeserializeOwned + Send + 'static>(&self) -> JobStream<C> {
        let state = StreamState {
            job: self.clone(),
            pending: VecDeque::new(),
            delay: Duration::ZERO,
            ended: false,
        };
        let inner = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        JobStream {
            inner: Box::pin(inner),
        }
    }

    fn error(&self, kind: EndpointErrorKind) -> EndpointError {
        self.connection.error(Some(&self.id), kind)
    }
}

/// The outputs of a streaming job, from [`Job::stream`]: a [`Stream`] of decoded chunks.
pub struct JobStream<C> {
    inner: Pin<Box<dyn Stream<Item = Result<C, EndpointError>> + Send>>,
}

impl<C> fmt::Debug for JobStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JobStream")
    }
}

impl<C> Stream for JobStream<C> {
    type Item = Result<C, EndpointError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct StreamState<C> {
    job: Job,
    pending: VecDeque<Result<C, EndpointError>>,
    delay: Duration,
    ended: bool,
}

/// First pause after a `/stream` poll that found nothing: short, because the time to the first
/// item is what streaming is for (Runpod allows 2000 stream reads per 10 s per endpoint).
const STREAM_POLL_INITIAL: Duration = Duration::from_millis(50);
/// Longest pause between two `/stream` polls that found nothing.
const STREAM_POLL_MAX: Duration = Duration::from_secs(1);

impl<C: DeserializeOwned> StreamState<C> {
    async fn next(&mut self) -> Option<Result<C, EndpointError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(crate::backoff::jittered(self.delay, config::POLL_JITTER)).await;
            }
            let job = &self.job;
            let answer = job
                .connection
                .send(
                    Method::GET,
                    &format!("stream/{}", job.id),
                    None,
                    Some(&job.id),
                    job.timeout(),
                    Repeat::Safe,
                )
                .await
                .and_then(|answer| job.connection.json::<StreamAnswer>(Some(&job.id), &answer));
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    self.ended = true;
                    return Some(Err(error));
                }
            };
            let got_chunks = !answer.stream.is_empty();
            for chunk in answer.stream {
                self.pending
                    .push_back(serde_json::from_value(chunk.output).map_err(|error| {
                        job.error(EndpointErrorKind::Decode(format!(
                            "a streamed chunk: {error}"
                        )))
                    }));
            }
            // Runpod's final answer may still carry the last chunks; the stream ends on the
            // first read of a finished job that brings none.
            if answer.status.is_final() && !got_chunks {
                self.ended = true;
                if answer.status == JobState::Completed {
                    continue;
                }
                // `/stream` does not promise the worker's error; `/status` carries it.
                let status = match answer.error {
                    Some(error) => Ok(JobStatus {
                        id: job.id.clone(),
                        status: answer.status,
                        delay_time: None,
                        execution_time: None,
                        worker_id: None,
                        output: None,
                        error: Some(error),
                    }),
                    None => job.status().await,
                };
                let error = match status {
                    Ok(status) => finish::<Value>(&job.connection, status).err(),
                    Err(error) => Some(error),
                };
                self.pending.extend(error.map(Err));
                continue;
            }
            self.delay = if got_chunks {
                Duration::ZERO
            } else if self.delay.is_zero() {
                job.connection
                    .settings
                    .poll_initial
                    .min(STREAM_POLL_INITIAL)
            } else {
                (self.delay + self.delay / 2).min(STREAM_POLL_MAX)
            };
        }
    }
}

/// A finished job's status as its output, or as the error of how it ended.
pub(crate) fn finish<O: DeserializeOwned>(
    connection: &Connection,
    status: JobStatus,
) -> Result<O, EndpointError> {
    let kind =
        match &status.status {
            JobState::Completed => {
                let JobStatus { id, output, .. } = status;
                return serde_json::from_value(output.unwrap_or(Value::Null)).map_err(|error| {
                    connection.error(
                        Some(&id),
                        EndpointErrorKind::Decode(format!("the output: {error}")),
                    )
                });
            }
            JobState::Failed => EndpointErrorKind::Failed(status.failure().unwrap_or_else(|| {
                WireError::new("Error", "the job failed without an error message")
            })),
            JobState::Cancelled => EndpointErrorKind::Cancelled,
            JobState::TimedOut => EndpointErrorKind::TimedOut {
                message: status.failure().map(|wire| wire.error_message),
            },
            other => EndpointErrorKind::Malformed(format!(
                "the job is {} where a finished job was expected",
                other.as_str()
            )),
        };
    Err(connection.error(Some(&status.id), kind))
}
