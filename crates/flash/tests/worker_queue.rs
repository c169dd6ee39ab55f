//! The queue worker against a fake Runpod job plane on 127.0.0.1 that hands out single and
//! batched jobs, holds long polls, sends stops, fails a result post, and records every request
//! so it can be checked against Runpod's worker protocol (docs/wire-formats.md, "Workers").

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use runpod_flash::worker::{FunctionTable, JobPlane, run_queue_worker};
use runpod_flash::{Error, FlashError, Resource, Stream, remote};
use serde_json::{Value, json};
use tokio::sync::watch;

const WQ: Resource = Resource::queue("wq").max_concurrency(4);
const SOLO: Resource = Resource::queue("wq-solo");
const AI_KEY: &str = "worker-secret";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("rejected {0}")]
struct Rejected(i64);

#[remote(WQ)]
async fn add(a: i64, b: i64) -> Result<i64, FlashError> {
    Ok(a + b)
}

#[remote(WQ)]
async fn nap(ms: u64) -> Result<u64, FlashError> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(ms)
}

#[remote(WQ)]
async fn reject(n: i64) -> Result<i64, Error<Rejected>> {
    Err(Error::App(Rejected(n)))
}

#[remote(WQ)]
async fn count_to(n: u64) -> Result<u64, FlashError> {
    for i in 1..=n {
        runpod_flash::worker::progress(&json!({"done": i, "of": n})).await?;
    }
    Ok(n)
}

#[remote(WQ)]
async fn spell(word: String) -> Result<Vec<String>, FlashError> {
    let letters: Vec<String> = word.chars().map(String::from).collect();
    for letter in &letters {
        runpod_flash::worker::stream(letter).await?;
    }
    Ok(letters)
}

/// A streaming function: 1..=n, failing at `fail_at`.
#[remote(WQ)]
fn numbers(n: u32, fail_at: Option<u32>) -> impl Stream<Item = Result<u32, Error<Rejected>>> {
    futures_util::stream::iter(1..=n).map(move |i| {
        if Some(i) == fail_at {
            return Err(Error::App(Rejected(i64::from(i))));
        }
        Ok(i)
    })
}

#[remote(SOLO)]
async fn hello() -> Result<String, FlashError> {
    Ok("hello".into())
}

#[derive(Debug, Clone)]
struct Request {
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Plane {
    queue: VecDeque<Value>,
    requests: Vec<Request>,
    to_stop: Vec<String>,
    fail_next_done: bool,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Plane>>);

impl Fake {
    fn push(&self, job: Value) {
        self.0.lock().unwrap().queue.push_back(job);
    }

    fn requests(&self, kind: &str) -> Vec<Request> {
        self.0
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path.contains(kind))
            .cloned()
            .collect()
    }

    fn done(&self) -> HashMap<String, Value> {
        self.requests("/job-done/")
            .into_iter()
            .map(|r| {
                let id = r.path.rsplit('/').next().unwrap().to_owned();
                (id, serde_json::from_str(&r.body).unwrap())
            })
            .collect()
    }

    async fn wait_for(&self, what: &str, mut ready: impl FnMut(&Fake) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn record(
        &self,
        path: String,
        query: HashMap<String, String>,
        headers: HeaderMap,
        body: String,
    ) {
        self.0.lock().unwrap().requests.push(Request {
            path,
            query,
            headers,
            body,
        });
    }
}

async fn take(
    State(fake): State<Fake>,
    Path((kind, _pod)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    fake.record(format!("/{kind}/"), query.clone(), headers, String::new());
    let batch = kind == "job-take-batch";
    let size: usize = query
        .get("batch_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    // Hold the long poll open, as the platform does.
    for _ in 0..30 {
        {
            let mut plane = fake.0.lock().unwrap();
            if !plane.queue.is_empty() {
                if batch {
                    let n = size.min(plane.queue.len());
                    let jobs: Vec<Value> = plane.queue.drain(..n).collect();
                    return axum::Json(Value::Array(jobs)).into_response();
                }
                let job = plane.queue.pop_front().unwrap();
                return axum::Json(job).into_response();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn done(
    State(fake): State<Fake>,
    Path((_pod, job)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let fail = std::mem::take(&mut fake.0.lock().unwrap().fail_next_done);
    if fail {
        fake.record(format!("/rejected-done/{job}"), query, headers, body);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    fake.record(format!("/job-done/{job}"), query, headers, body);
    StatusCode::OK
}

async fn streamed(
    State(fake): State<Fake>,
    Path((_pod, job)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    fake.record(format!("/job-stream/{job}"), query, headers, body);
    StatusCode::OK
}

async fn ping(
    State(fake): State<Fake>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> StatusCode {
    fake.record("/ping/".into(), query, headers, String::new());
    StatusCode::OK
}

async fn stop(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    fake.record("/job-stop/".into(), HashMap::new(), headers, String::new());
    for _ in 0..20 {
        let ids = std::mem::take(&mut fake.0.lock().unwrap().to_stop);
        if !ids.is_empty() {
            return axum::Json(json!({ "jobsToStop": ids })).into_response();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    StatusCode::NO_CONTENT.into_response()
}

struct Running {
    fake: Fake,
    shutdown: watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
}

async fn start(resource: &str, concurrency: usize) -> Running {
    let fake = Fake::default();
    let app = axum::Router::new()
        .route("/v2/ep/{kind}/{pod}", get(take))
        .route("/v2/ep/job-done/{pod}/{job}", post(done))
        .route("/v2/ep/job-stream/{pod}/{job}", post(streamed))
        .route("/v2/ep/ping/{pod}", get(ping))
        .route("/v2/ep/job-stop/{pod}", get(stop))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v2/ep", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let vars = HashMap::from([
        (
            "RUNPOD_WEBHOOK_GET_JOB",
            format!("{base}/job-take/$ID?gpu=TEST"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_OUTPUT",
            format!("{base}/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST"),
        ),
        (
            "RUNPOD_WEBHOOK_POST_STREAM",
            format!("{base}/job-stream/$RUNPOD_POD_ID/$ID?gpu=TEST"),
        ),
        (
            "RUNPOD_WEBHOOK_PING",
            format!("{base}/ping/$RUNPOD_POD_ID?gpu=TEST"),
        ),
        ("RUNPOD_AI_API_KEY", AI_KEY.to_owned()),
        ("RUNPOD_POD_ID", "pod-7".to_owned()),
        ("RUNPOD_PING_INTERVAL", "100".to_owned()),
        ("RUNPOD_POD_HOSTNAME", "test-host".to_owned()),
    ]);
    let plane = JobPlane::from_vars(|name| vars.get(name).cloned()).unwrap();
    let (shutdown, receiver) = watch::channel(false);
    let table = FunctionTable::for_resource(resource);
    let worker = tokio::spawn(run_queue_worker(plane, table, concurrency, receiver));
    Running {
        fake,
        shutdown,
        worker,
    }
}

#[tokio::test]
async fn a_job_is_taken_run_and_posted_as_the_sdk_does() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "job-1", "input": {"__flash_fn": "add", "a": 2, "b": 3}}));
    fake.wait_for("job-done", |f| f.done().contains_key("job-1"))
        .await;
    assert_eq!(fake.done()["job-1"], json!({"output": 5}));

    let post = &fake.requests("/job-done/")[0];
    assert_eq!(
        post.query.get("isStream").map(String::as_str),
        Some("false")
    );
    assert_eq!(post.query.get("gpu").map(String::as_str), Some("TEST"));
    let header = |name: &str| post.headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("authorization"), AI_KEY, "the raw key, no Bearer");
    assert_eq!(header("content-type"), "application/x-www-form-urlencoded");
    assert_eq!(header("charset"), "utf-8");
    assert_eq!(header("x-request-id"), "job-1");

    let take = &fake.requests("/job-take/")[0];
    assert_eq!(
        take.query.get("job_in_progress").map(String::as_str),
        Some("0")
    );
    assert_eq!(take.headers.get("authorization").unwrap(), AI_KEY);
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn progress_reports_are_in_progress_job_done_posts_before_the_result() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "job-p", "input": {"__flash_fn": "count_to", "n": 2}}));
    fake.wait_for("job-done", |f| f.requests("/job-done/job-p").len() == 3)
        .await;
    let posts: Vec<Value> = fake
        .requests("/job-done/job-p")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    // runpod's progress_update body, then the result.
    assert_eq!(
        posts,
        [
            json!({"status": "IN_PROGRESS", "output": {"done": 1, "of": 2}}),
            json!({"status": "IN_PROGRESS", "output": {"done": 2, "of": 2}}),
            json!({"output": 2}),
        ]
    );
    // Called outside a queue job, progress has nothing to report to and does nothing.
    runpod_flash::worker::progress(&1).await.unwrap();
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn streamed_items_are_job_stream_posts_and_the_result_says_is_stream() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "job-s", "input": {"__flash_fn": "spell", "word": "abc"}}));
    fake.wait_for("job-done", |f| f.done().contains_key("job-s"))
        .await;
    let chunks: Vec<Value> = fake
        .requests("/job-stream/job-s")
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(
        chunks,
        [
            json!({"output": "a"}),
            json!({"output": "b"}),
            json!({"output": "c"})
        ]
    );
    let stream_post = &fake.requests("/job-stream/job-s")[0];
    assert_eq!(
        stream_post.query.get("isStream").map(String::as_str),
        Some("false")
    );
    assert_eq!(stream_post.headers.get("authorization").unwrap(), AI_KEY);
    assert_eq!(fake.done()["job-s"], json!({"output": ["a", "b", "c"]}));
    // The SDK marks a generator's result isStream=true; a job that streamed nothing says false.
    let done = &fake.requests("/job-done/job-s")[0];
    assert_eq!(done.query.get("isStream").map(String::as_str), Some("true"));
    runpod_flash::worker::stream("outside a job").await.unwrap();
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn a_streaming_functions_items_are_posted_in_order_before_its_collected_result() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "job-n", "input": {"__flash_fn": "numbers", "n": 200}}));
    fake.push(json!({"id": "job-f", "input": {"__flash_fn": "numbers", "n": 9, "fail_at": 4}}));
    fake.wait_for("both results", |f| f.done().len() == 2).await;
    let requests: Vec<Request> = fake.0.lock().unwrap().requests.clone();
    let of = |job: &str| -> Vec<(bool, Value)> {
        requests
            .iter()
            .filter(|r| r.path.ends_with(&format!("/{job}")) && !r.path.contains("job-take"))
            .map(|r| {
                (
                    r.path.contains("/job-done/"),
                    serde_json::from_str(&r.body).unwrap(),
                )
            })
            .collect()
    };
    // Every item, in order, then the result: all the items (return_aggregate_stream).
    let posts = of("job-n");
    assert_eq!(posts.len(), 201);
    for (i, (is_done, body)) in posts[..200].iter().enumerate() {
        assert!(!is_done, "post {i} came after the result");
        assert_eq!(body, &json!({"output": i + 1}));
    }
    assert_eq!(
        posts[200],
        (true, json!({"output": (1..=200).collect::<Vec<u32>>()}))
    );
    // The items before the error, then the failed job, typed; nothing after it.
    let posts = of("job-f");
    assert_eq!(posts.len(), 4, "{posts:?}");
    assert_eq!(posts[2], (false, json!({"output": 3})));
    let (is_done, failed) = &posts[3];
    assert!(is_done);
    let error: Value = serde_json::from_str(failed["error"].as_str().unwrap()).unwrap();
    assert_eq!(error["app_error"], json!(4), "{error}");
    let done = fake.requests("/job-done/job-f");
    assert_eq!(
        done[0].query.get("isStream").map(String::as_str),
        Some("true")
    );
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn concurrency_above_one_takes_batches_and_runs_jobs_together() {
    let running = start("wq", 4).await;
    let fake = &running.fake;
    for i in 0..4 {
        fake.push(json!({"id": format!("nap-{i}"), "input": {"__flash_fn": "nap", "ms": 300}}));
    }
    let started = Instant::now();
    fake.wait_for("four results", |f| f.done().len() == 4).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "jobs ran one by one: {:?}",
        started.elapsed()
    );
    let batch = fake.requests("/job-take-batch/");
    assert!(!batch.is_empty());
    assert_eq!(
        batch[0].query.get("batch_size").map(String::as_str),
        Some("4")
    );
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn failures_are_failed_jobs_with_a_structured_error() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "bad-1", "input": {"__flash_fn": "reject", "n": 4}}));
    fake.push(json!({"id": "bad-2", "input": {"__flash_fn": "add", "a": 1}}));
    fake.push(json!({"id": "bad-3", "input": {"__flash_fn": "nope"}}));
    fake.wait_for("three results", |f| f.done().len() == 3)
        .await;
    let done = fake.done();
    for id in ["bad-1", "bad-2", "bad-3"] {
        assert!(
            done[id].get("output").is_none(),
            "{id}: a failure is never a successful output"
        );
    }
    let error: Value = serde_json::from_str(done["bad-1"]["error"].as_str().unwrap()).unwrap();
    assert_eq!(error["error_type"], "Rejected");
    assert_eq!(error["error_message"], "rejected 4");
    assert_eq!(error["app_error"], json!(4));
    assert_eq!(error["hostname"], "test-host");
    assert_eq!(error["worker_id"], "pod-7");
    let error: Value = serde_json::from_str(done["bad-2"]["error"].as_str().unwrap()).unwrap();
    assert_eq!(error["error_type"], "ArgumentError");
    assert_eq!(error["error_message"], "argument `b` of `add`: missing");
    let error: Value = serde_json::from_str(done["bad-3"]["error"].as_str().unwrap()).unwrap();
    assert!(
        error["error_message"]
            .as_str()
            .unwrap()
            .contains("no function `nope`"),
        "{error}"
    );
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn python_flash_inputs_are_accepted() {
    let running = start("wq-solo", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "py-1", "input": {"__empty": true}}));
    fake.wait_for("result", |f| f.done().contains_key("py-1"))
        .await;
    assert_eq!(fake.done()["py-1"], json!({"output": "hello"}));
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn a_stopped_job_posts_nothing_and_frees_its_slot() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "long", "input": {"__flash_fn": "nap", "ms": 5000}}));
    fake.wait_for("the long job to be taken", |f| {
        f.0.lock().unwrap().queue.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    fake.0.lock().unwrap().to_stop.push("long".into());
    fake.push(json!({"id": "after", "input": {"__flash_fn": "add", "a": 1, "b": 1}}));
    fake.wait_for("the next job's result", |f| f.done().contains_key("after"))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !fake.done().contains_key("long"),
        "a stopped job gets no job-done post"
    );
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn a_result_post_answered_503_is_retried() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.0.lock().unwrap().fail_next_done = true;
    fake.push(json!({"id": "retry-me", "input": {"__flash_fn": "add", "a": 20, "b": 22}}));
    fake.wait_for("the retried result", |f| f.done().contains_key("retry-me"))
        .await;
    assert_eq!(fake.requests("/rejected-done/").len(), 1);
    assert_eq!(fake.done()["retry-me"], json!({"output": 42}));
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn heartbeats_list_the_jobs_in_flight() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.wait_for("an idle heartbeat", |f| !f.requests("/ping/").is_empty())
        .await;
    assert!(!fake.requests("/ping/")[0].query.contains_key("job_id"));
    fake.push(json!({"id": "hb-job", "input": {"__flash_fn": "nap", "ms": 400}}));
    fake.wait_for("a heartbeat naming the job", |f| {
        f.requests("/ping/")
            .iter()
            .any(|r| r.query.get("job_id").map(String::as_str) == Some("hb-job"))
    })
    .await;
    let ping = &fake.requests("/ping/")[0];
    assert_eq!(ping.headers.get("authorization").unwrap(), AI_KEY);
    running.shutdown.send(true).unwrap();
    running.worker.await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_taking_and_finishes_jobs_in_flight() {
    let running = start("wq", 1).await;
    let fake = &running.fake;
    fake.push(json!({"id": "last", "input": {"__flash_fn": "nap", "ms": 300}}));
    fake.wait_for("the job to be taken", |f| {
        f.0.lock().unwrap().queue.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    running.shutdown.send(true).unwrap();
    let takes_at_shutdown = fake.requests("/job-take").len();
    running.worker.await.unwrap();
    assert_eq!(
        fake.done()["last"],
        json!({"output": 300}),
        "the job in flight was finished and posted"
    );
    assert!(fake.requests("/job-take").len() <= takes_at_shutdown + 1);
}
