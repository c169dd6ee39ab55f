//! The queue worker against a fake Runpod job plane on 127.0.0.1 that injects faults: job-done
//! posts cut off by connection resets, answered 429, 5xx, other 4xx or 413, results too large
//! to post, and job-takes answered at once. Each test counts what the platform saw (policies in
//! docs/wire-formats.md, "Workers").

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use runpod_flash::call::WireError;
use runpod_flash::worker::{FunctionTable, JobPlane, run_queue_worker};
use runpod_flash::{FlashError, Resource, remote};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const WF: Resource = Resource::queue("wf");

#[remote(WF)]
async fn add(a: i64, b: i64) -> Result<i64, FlashError> {
    Ok(a + b)
}

#[remote(WF)]
async fn big(len: usize) -> Result<String, FlashError> {
    Ok("x".repeat(len))
}

/// One job-done post: the job, the status it was answered with, the body.
#[derive(Debug, Clone)]
struct Post {
    job: String,
    status: u16,
    body: String,
}

#[derive(Default)]
struct Plane {
    queue: VecDeque<Value>,
    /// Statuses of the job-takes answered without a job.
    empty_takes: Vec<u16>,
    /// Answer job-takes at once with this status when there is no job, instead of holding them.
    take_status: Option<u16>,
    /// Statuses for the next job-done posts, in order; then 200.
    done_script: VecDeque<u16>,
    /// Answer every job-done post with this status.
    done_always: Option<u16>,
    /// Answer 413 to job-done bodies over this many bytes.
    done_limit: Option<usize>,
    posts: Vec<Post>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Plane>>);

impl Fake {
    fn with<R>(&self, f: impl FnOnce(&mut Plane) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }

    fn push(&self, job: Value) {
        self.with(|p| p.queue.push_back(job));
    }

    fn posts(&self, job: &str) -> Vec<Post> {
        self.with(|p| p.posts.iter().filter(|r| r.job == job).cloned().collect())
    }

    fn delivered(&self, job: &str) -> Option<Value> {
        self.posts(job)
            .into_iter()
            .find(|post| post.status == 200)
            .map(|post| serde_json::from_str(&post.body).unwrap())
    }

    async fn wait_for(&self, what: &str, mut ready: impl FnMut(&Fake) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn take(State(fake): State<Fake>) -> Response {
    for _ in 0..30 {
        let (job, status) = fake.with(|p| (p.queue.pop_front(), p.take_status));
        if let Some(job) = job {
            return axum::Json(job).into_response();
        }
        if let Some(status) = status {
            fake.with(|p| p.empty_takes.push(status));
            return StatusCode::from_u16(status).unwrap().into_response();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fake.with(|p| p.empty_takes.push(204));
    StatusCode::NO_CONTENT.into_response()
}

async fn done(
    State(fake): State<Fake>,
    Path((_pod, job)): Path<(String, String)>,
    body: Bytes,
) -> StatusCode {
    let body = String::from_utf8(body.to_vec()).unwrap();
    fake.with(|p| {
        let scripted = p.done_script.pop_front();
        let status = match (p.done_limit, p.done_always, scripted) {
            (Some(limit), _, _) if body.len() > limit => 413,
            (_, Some(status), _) => status,
            (_, _, Some(status)) => status,
            _ => 200,
        };
        p.posts.push(Post { job, status, body });
        StatusCode::from_u16(status).unwrap()
    })
}

async fn stop() -> StatusCode {
    tokio::time::sleep(Duration::from_millis(300)).await;
    StatusCode::NO_CONTENT
}

/// A listener that resets the first `resets` connections once it has read their request, so the
/// client sees a request cut off (as through a dropped proxy); later connections are served.
struct Resetting {
    inner: TcpListener,
    resets: Arc<AtomicUsize>,
    reset_done: Arc<AtomicUsize>,
}

impl axum::serve::Listener for Resetting {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Ok((stream, addr)) = self.inner.accept().await else {
                continue;
            };
            let reset = self
                .resets
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if !reset {
                return (stream, addr);
            }
            let mut buffer = vec![0; 64 * 1024];
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    if stream.readable().await.is_err() {
                        return;
                    }
                    match stream.try_read(&mut buffer) {
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                        _ => return,
                    }
                }
            })
            .await;
            let _ = stream.set_zero_linger();
            drop(stream);
            self.reset_done.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

struct Running {
    fake: Fake,
    /// Connections to job-done reset so far.
    resets: Arc<AtomicUsize>,
    shutdown: watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        self.worker.await.unwrap();
    }
}

/// The fake plane with `setup` applied, job-done on its own listener that resets the first
/// `resets` connections, and a worker for `wf` with `extra` variables.
async fn start(resets: usize, extra: &[(&str, &str)], setup: impl FnOnce(&mut Plane)) -> Running {
    let fake = Fake::default();
    fake.with(setup);
    let app = axum::Router::new()
        .route("/v2/ep/job-take/{pod}", get(take))
        .route("/v2/ep/job-stop/{pod}", get(stop))
        .route("/v2/ep/job-done/{pod}/{job}", post(done))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(fake.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v2/ep", listener.local_addr().unwrap());
    let done_listener = Resetting {
        inner: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        resets: Arc::new(AtomicUsize::new(resets)),
        reset_done: Arc::default(),
    };
    let done_base = format!("http://{}/v2/ep", done_listener.inner.local_addr().unwrap());
    let reset_done = Arc::clone(&done_listener.reset_done);
    let done_app = app.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    tokio::spawn(async move { axum::serve(done_listener, done_app).await.unwrap() });
    let mut vars: HashMap<String, String> = HashMap::from([
        (
            "RUNPOD_WEBHOOK_GET_JOB".to_owned(),
            format!("{base}/job-take/$ID?gpu=TEST"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT".to_owned(),
            format!("{done_base}/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST"),
        ),
        ("RUNPOD_AI_API_KEY".to_owned(), "k".to_owned()),
        ("RUNPOD_POD_ID".to_owned(), "pod-f".to_owned()),
    ]);
    for (name, value) in extra {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    let plane = JobPlane::from_vars(|name| vars.get(name).cloned()).unwrap();
    let (shutdown, receiver) = watch::channel(false);
    let worker = tokio::spawn(run_queue_worker(
        plane,
        FunctionTable::for_resource("wf"),
        1,
        receiver,
    ));
    Running {
        fake,
        resets: reset_done,
        shutdown,
        worker,
    }
}

/// The `WireError` of a posted `{"error": "<json>"}` body, which must have no other field.
fn posted_error(body: &Value) -> WireError {
    let keys = body
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>());
    // Not the body itself in the message: it may be 20 MB.
    assert_eq!(
        keys,
        Some(vec!["error".to_owned()]),
        "fields of the posted body"
    );
    WireError::parse(body["error"].as_str().unwrap())
}

#[tokio::test]
async fn a_result_post_cut_off_by_connection_resets_is_retried_until_delivered() {
    let running = start(3, &[], |_| {}).await;
    let fake = &running.fake;
    fake.push(json!({"id": "reset-1", "input": {"__flash_fn": "add", "a": 2, "b": 3}}));
    fake.wait_for("the result after three resets", |f| {
        f.delivered("reset-1").is_some()
    })
    .await;
    assert_eq!(fake.delivered("reset-1").unwrap(), json!({"output": 5}));
    assert_eq!(running.resets.load(Ordering::SeqCst), 3);
    assert_eq!(fake.posts("reset-1").len(), 1, "one post got through");
    running.stop().await;
}

#[tokio::test]
async fn a_result_post_answered_429_and_5xx_is_retried_past_three_attempts() {
    let running = start(0, &[], |p| p.done_script = [429, 503, 502].into()).await;
    let fake = &running.fake;
    fake.push(json!({"id": "busy-1", "input": {"__flash_fn": "add", "a": 40, "b": 2}}));
    fake.wait_for("the result after 429, 503 and 502", |f| {
        f.delivered("busy-1").is_some()
    })
    .await;
    let statuses: Vec<u16> = fake.posts("busy-1").iter().map(|p| p.status).collect();
    assert_eq!(statuses, [429, 503, 502, 200]);
    assert_eq!(fake.delivered("busy-1").unwrap(), json!({"output": 42}));
    running.stop().await;
}

#[tokio::test]
async fn a_result_post_refused_with_another_4xx_is_not_retried_and_frees_the_slot() {
    let running = start(0, &[], |p| p.done_script = [404].into()).await;
    let fake = &running.fake;
    fake.push(json!({"id": "gone-1", "input": {"__flash_fn": "add", "a": 1, "b": 1}}));
    fake.push(json!({"id": "next-1", "input": {"__flash_fn": "add", "a": 2, "b": 2}}));
    fake.wait_for("the next job's result", |f| f.delivered("next-1").is_some())
        .await;
    let statuses: Vec<u16> = fake.posts("gone-1").iter().map(|p| p.status).collect();
    assert_eq!(statuses, [404], "a 404 is final");
    running.stop().await;
}

#[tokio::test]
async fn an_undeliverable_result_is_given_up_within_the_budget_and_frees_the_slot() {
    let running = start(0, &[("FLASH_RESULT_RETRY_SECS", "2")], |p| {
        p.done_always = Some(503);
    })
    .await;
    let fake = &running.fake.clone();
    fake.push(json!({"id": "lost-1", "input": {"__flash_fn": "add", "a": 1, "b": 1}}));
    // Retried within its 2 s budget (0, ~0.5 and ~1.5 s), then given up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let attempts = fake.posts("lost-1").len();
    assert!(
        (2..=3).contains(&attempts),
        "a 2 s budget retries, and stops: {attempts} attempts"
    );
    // The slot is free: the next job runs and is delivered.
    fake.with(|p| p.done_always = None);
    fake.push(json!({"id": "then-1", "input": {"__flash_fn": "add", "a": 2, "b": 2}}));
    fake.wait_for("the next job's result", |f| f.delivered("then-1").is_some())
        .await;
    running.stop().await;
    assert_eq!(
        fake.posts("lost-1").len(),
        attempts,
        "no post after giving up"
    );
}

#[tokio::test]
async fn an_output_over_the_limit_is_posted_as_a_failed_job_naming_its_size() {
    let running = start(0, &[], |_| {}).await;
    let fake = &running.fake;
    let len = runpod_flash::config::MAX_RESULT_BYTES + 1;
    fake.push(json!({"id": "huge-1", "input": {"__flash_fn": "big", "len": len}}));
    fake.wait_for("the failure", |f| f.delivered("huge-1").is_some())
        .await;
    let posts = fake.posts("huge-1");
    assert_eq!(posts.len(), 1, "the oversized output is never sent");
    let error = posted_error(&fake.delivered("huge-1").unwrap());
    assert_eq!(error.error_type, "OutputTooLarge");
    let size = json!({"output": "x".repeat(len)}).to_string().len();
    assert!(
        error.error_message.contains(&format!("{size} bytes")),
        "{error:?}"
    );
    assert!(
        error
            .error_message
            .contains(&runpod_flash::config::MAX_RESULT_BYTES.to_string()),
        "{error:?}"
    );
    assert_eq!(error.worker_id.as_deref(), Some("pod-f"));
    running.stop().await;
}

#[tokio::test]
async fn an_output_the_platform_refuses_with_413_is_posted_as_a_failed_job() {
    let running = start(0, &[], |p| p.done_limit = Some(1000)).await;
    let fake = &running.fake;
    fake.push(json!({"id": "wide-1", "input": {"__flash_fn": "big", "len": 5000}}));
    fake.wait_for("the failure", |f| f.delivered("wide-1").is_some())
        .await;
    let posts = fake.posts("wide-1");
    let statuses: Vec<u16> = posts.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [413, 200]);
    let error = posted_error(&fake.delivered("wide-1").unwrap());
    assert_eq!(error.error_type, "OutputTooLarge");
    let size = posts[0].body.len();
    assert!(
        error.error_message.contains(&format!("{size} bytes"))
            && error.error_message.contains("413"),
        "{error:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn job_takes_answered_at_once_are_spaced_out_not_hot_looped() {
    let running = start(0, &[], |p| p.take_status = Some(204)).await;
    let fake = &running.fake;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fake.with(|p| p.take_status = Some(400));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let takes = fake.with(|p| p.empty_takes.clone());
    let count = |status| takes.iter().filter(|s| **s == status).count();
    // One take a second at most: about 2 in each 1.5 s window; a hot loop makes thousands.
    assert!(
        (1..=4).contains(&count(204)),
        "{} takes answered 204",
        count(204)
    );
    assert!(count(400) <= 4, "{} takes answered 400", count(400));
    fake.push(json!({"id": "after-1", "input": {"__flash_fn": "add", "a": 3, "b": 4}}));
    fake.wait_for("a job taken after empty takes", |f| {
        f.delivered("after-1").is_some()
    })
    .await;
    assert_eq!(fake.delivered("after-1").unwrap(), json!({"output": 7}));
    running.stop().await;
}

/// A finished job whose result post is being retried gives its slot back: at concurrency 1 the
/// next job is taken, run and delivered while the first one's result waits for its retry.
#[tokio::test]
async fn a_result_waiting_for_its_retry_does_not_hold_the_slot() {
    let running = start(0, &[], |p| p.done_script = [503].into()).await;
    let fake = &running.fake;
    fake.push(json!({"id": "first", "input": {"__flash_fn": "add", "a": 1, "b": 1}}));
    fake.push(json!({"id": "second", "input": {"__flash_fn": "add", "a": 2, "b": 2}}));
    fake.wait_for("both results", |f| {
        f.delivered("first").is_some() && f.delivered("second").is_some()
    })
    .await;
    let order: Vec<(String, u16)> = fake.with(|p| {
        p.posts
            .iter()
            .map(|post| (post.job.clone(), post.status))
            .collect()
    });
    assert_eq!(
        order,
        [
            ("first".to_owned(), 503),
            ("second".to_owned(), 200),
            ("first".to_owned(), 200)
        ]
    );
    assert_eq!(fake.delivered("first").unwrap(), json!({"output": 2}));
    running.stop().await;
}
