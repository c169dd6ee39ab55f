//! `runpod_flash::client` against the emulator as Runpod, over HTTP on 127.0.0.1: the test plays
//! the worker on the job plane (the endpoint has no build, so the emulator starts none), and a
//! loopback server plays a misbehaving platform for the cases the emulator has no reason to
//! produce (429, 5xx, an echoed key).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use runpod_flash::ApiKey;
use runpod_flash::client::{
    EndpointErrorKind, JobState, LoadBalancedEndpoint, Policy, QueueEndpoint, RunOptions,
};
use serde_json::{Value, json};

async fn setup() -> (flash_emulator::EmulatorHandle, QueueEndpoint, Worker) {
    let emu = start().await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "client", "workersMin": 0, "workersMax": 1, "template": template("client", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let worker = Worker {
        base: format!("{}/{id}", emu.endpoint_base_url()),
        key: ep["aiKey"].as_str().unwrap().to_owned(),
    };
    let endpoint = client(&emu, &id);
    (emu, endpoint, worker)
}

fn client(emu: &flash_emulator::EmulatorHandle, id: &str) -> QueueEndpoint {
    QueueEndpoint::builder(id)
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .poll_interval(Duration::from_millis(20), Duration::from_millis(100))
        .build()
        .unwrap()
}

/// Takes the next job as worker `pod`: its id and input.
async fn take(worker: &Worker, pod: &str) -> (String, Value) {
    for _ in 0..20 {
        let (code, job) = worker
            .get(&format!("job-take/{pod}?job_in_progress=0"))
            .await;
        if code == 200 {
            return (job["id"].as_str().unwrap().to_owned(), job["input"].clone());
        }
    }
    panic!("no job to take");
}

async fn done(worker: &Worker, pod: &str, job: &str, body: Value) {
    let code = worker
        .post(&format!("job-done/{pod}/{job}?isStream=false"), body)
        .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn run_status_progress_wait_and_reconnect_by_id() {
    let (emu, endpoint, worker) = setup().await;
    let job = endpoint.run(&json!({"prompt": "hi"})).await.unwrap();
    assert_eq!(job.status().await.unwrap().status, JobState::InQueue);
    let health = endpoint.health().await.unwrap();
    assert_eq!(health.jobs.in_queue, 1);

    let (id, input) = take(&worker, "pod1").await;
    assert_eq!(id, job.id());
    assert_eq!(input, json!({"prompt": "hi"}), "the input travels as given");
    // runpod's progress_update: job-done with status IN_PROGRESS.
    done(
        &worker,
        "pod1",
        &id,
        json!({"status": "IN_PROGRESS", "output": {"percent": 40}}),
    )
    .await;
    let status = job.status().await.unwrap();
    assert_eq!(status.status, JobState::InProgress);
    let progress: Value = status.progress().unwrap().unwrap();
    assert_eq!(progress, json!({"percent": 40}));
    assert_eq!(endpoint.health().await.unwrap().jobs.in_progress, 1);

    done(&worker, "pod1", &id, json!({"output": {"text": "hello"}})).await;
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Out {
        text: String,
    }
    let out: Out = job.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(out.text, "hello");

    // Another client, knowing only the id, sees the same job.
    let again = client(&emu, endpoint.id()).job(id.clone());
    let status = again.status().await.unwrap();
    assert_eq!(status.status, JobState::Completed);
    assert_eq!(status.output, Some(json!({"text": "hello"})));
    assert!(status.delay_time.is_some() && status.execution_time.is_some());
    assert!(
        status.progress::<Value>().is_none(),
        "progress only while running"
    );
    assert_eq!(endpoint.health().await.unwrap().jobs.completed, 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn run_sync_answers_in_the_window_and_polls_past_it() {
    let (emu, endpoint, worker) = setup().await;
    let serve = async {
        let (id, input) = take(&worker, "pod1").await;
        done(
            &worker,
            "pod1",
            &id,
            json!({"output": input["n"].as_i64().unwrap() * 2}),
        )
        .await;
    };
    let input = json!({"n": 21});
    let (out, ()) = tokio::join!(
        endpoint.run_sync::<_, i64>(&input, Duration::from_secs(10)),
        serve
    );
    assert_eq!(out.unwrap(), 42);

    // The job outlives one /runsync window (1 s): the client goes on with /status.
    let short = QueueEndpoint::builder(endpoint.id())
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .runsync_wait(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(20), Duration::from_millis(100))
        .build()
        .unwrap();
    let serve = async {
        let (id, _) = take(&worker, "pod1").await;
        tokio::time::sleep(Duration::from_millis(1600)).await;
        done(&worker, "pod1", &id, json!({"output": "late"})).await;
    };
    let started = std::time::Instant::now();
    let (out, ()) = tokio::join!(
        short.run_sync::<_, String>(&Value::Null, Duration::from_secs(10)),
        serve
    );
    assert_eq!(out.unwrap(), "late");
    assert!(started.elapsed() >= Duration::from_millis(1600));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_run_sync_past_its_deadline_cancels_the_job() {
    let (emu, endpoint, _worker) = setup().await;
    let error = endpoint
        .run_sync::<_, Value>(&json!(1), Duration::from_millis(1200))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Deadline { .. }),
        "{error}"
    );
    assert_eq!(error.endpoint(), endpoint.id());
    let id = error.job_id().expect("the error names the job").to_owned();
    let job = endpoint.job(id);
    let state = eventually_async(
        5,
        || async { job.status().await.unwrap().status },
        |s| *s == JobState::Cancelled,
    )
    .await;
    assert_eq!(state, JobState::Cancelled);
    emu.shutdown().await;
}

async fn eventually_async<T, F, Fut>(secs: u64, mut f: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let value = f().await;
        if done(&value) || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(Debug, PartialEq, serde::Deserialize)]
enum AppError {
    TooLong(usize),
}

#[tokio::test]
async fn failed_cancelled_and_timed_out_jobs_are_their_own_errors() {
    let (emu, endpoint, worker) = setup().await;
    // FAILED: the worker's JSON-in-a-string error, typed application error included.
    let job = endpoint.run(&json!(1)).await.unwrap();
    let (id, _) = take(&worker, "pod1").await;
    let wire = json!({"error_type": "AppError", "error_message": "too long: 7", "app_error": {"TooLong": 7}});
    done(&worker, "pod1", &id, json!({"error": wire.to_string()})).await;
    let error = job.wait::<Value>(Duration::from_secs(5)).await.unwrap_err();
    let EndpointErrorKind::Failed(wire) = error.kind() else {
        panic!("{error}");
    };
    assert_eq!(wire.error_type, "AppError");
    assert_eq!(error.app_error::<AppError>(), Some(AppError::TooLong(7)));
    assert_eq!(error.job_id(), Some(job.id()));
    assert!(error.to_string().contains(endpoint.id()), "{error}");

    // Retry: the same job runs again; a second retry of a queued job is refused.
    assert_eq!(job.retry().await.unwrap(), JobState::InQueue);
    let refused = job.retry().await.unwrap_err();
    assert!(
        matches!(
            refused.kind(),
            EndpointErrorKind::Rejected { status: 400, .. }
        ),
        "{refused}"
    );
    let (again, _) = take(&worker, "pod1").await;
    assert_eq!(again, id);
    done(&worker, "pod1", &id, json!({"output": 5})).await;
    assert_eq!(job.wait::<i64>(Duration::from_secs(5)).await.unwrap(), 5);

    // CANCELLED.
    let job = endpoint.run(&json!(2)).await.unwrap();
    assert_eq!(job.cancel().await.unwrap(), JobState::Cancelled);
    let error = job.wait::<Value>(Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Cancelled),
        "{error}"
    );

    // TIMED_OUT: the request's own execution timeout (the shortest Runpod accepts, 5 s).
    let options = RunOptions::new().policy(Policy::new().execution_timeout(Duration::from_secs(5)));
    let job = endpoint.run_with(&json!(3), &options).await.unwrap();
    take(&worker, "pod1").await;
    let error = job
        .wait::<Value>(Duration::from_secs(15))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::TimedOut { message: Some(m) } if m.contains("5000 ms")),
        "{error}"
    );

    // A deadline passing leaves the job alone.
    let job = endpoint.run(&json!(4)).await.unwrap();
    let error = job
        .wait::<Value>(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Deadline { .. }),
        "{error}"
    );
    assert_eq!(job.status().await.unwrap().status, JobState::InQueue);
    assert_eq!(endpoint.purge_queue().await.unwrap(), 1);
    let gone = job.status().await.unwrap_err();
    assert!(
        matches!(gone.kind(), EndpointErrorKind::NotFound { .. }),
        "{gone}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_stream_yields_each_chunk_as_the_worker_produces_it() {
    let (emu, endpoint, worker) = setup().await;
    let job = endpoint.run(&json!({"n": 3})).await.unwrap();
    let (id, _) = take(&worker, "pod1").await;
    let mut stream = job.stream::<String>();
    for i in 0..3 {
        let code = worker
            .post(
                &format!("job-stream/pod1/{id}?isStream=true"),
                json!({"output": format!("token{i}")}),
            )
            .await;
        assert_eq!(code, 200);
        // The chunk arrives before the next one exists.
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a chunk within 5 s")
            .unwrap()
            .unwrap();
        assert_eq!(chunk, format!("token{i}"));
    }
    done(
        &worker,
        "pod1",
        &id,
        json!({"output": ["token0", "token1", "token2"]}),
    )
    .await;
    assert!(
        stream.next().await.is_none(),
        "the stream ends with the job"
    );

    // A job failing mid-stream ends the stream with its error, after the chunks it produced.
    let job = endpoint.run(&json!({"n": 1})).await.unwrap();
    let (id, _) = take(&worker, "pod1").await;
    worker
        .post(
            &format!("job-stream/pod1/{id}?isStream=true"),
            json!({"output": "a"}),
        )
        .await;
    done(&worker, "pod1", &id, json!({"error": "boom"})).await;
    let items: Vec<_> = job.stream::<String>().collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "a");
    let error = items[1].as_ref().unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Failed(w) if w.error_message == "boom"),
        "{error}"
    );

    // A cancelled job ends its stream too (the runpod SDK's loop never ends on one).
    let job = endpoint.run(&json!({"n": 1})).await.unwrap();
    job.cancel().await.unwrap();
    let items: Vec<_> = job.stream::<String>().collect().await;
    assert!(
        matches!(&items[..], [Err(e)] if matches!(e.kind(), EndpointErrorKind::Cancelled)),
        "{items:?}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn http_refusals_are_distinct_kinds_naming_the_endpoint() {
    let (emu, endpoint, _worker) = setup().await;
    let wrong_key = QueueEndpoint::builder(endpoint.id())
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new("wrong-key").unwrap())
        .build()
        .unwrap();
    let error = wrong_key.run(&json!(1)).await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Unauthorized),
        "{error}"
    );
    assert!(!format!("{error} {error:?} {wrong_key:?}").contains("wrong-key"));

    let missing = client(&emu, "nosuchendpoint");
    let error = missing.health().await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("nosuchendpoint"), "{error}");
    let error = endpoint.job("nosuch-job").status().await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
        "{error}"
    );
    assert_eq!(error.job_id(), Some("nosuch-job"));
    emu.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() {
    let key = || ApiKey::new(KEY).unwrap();
    let error = QueueEndpoint::builder("a/b")
        .api_key(key())
        .build()
        .unwrap_err();
    assert!(matches!(error.kind(), EndpointErrorKind::InvalidRequest(m) if m.contains("\"a/b\"")));
    let error = QueueEndpoint::builder("ok")
        .base_url("not a url")
        .api_key(key())
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("RUNPOD_ENDPOINT_BASE_URL"),
        "{error}"
    );
    // Port 9 (discard) on loopback: nothing listens, and nothing must be tried.
    let endpoint = QueueEndpoint::builder("ok")
        .base_url("http://127.0.0.1:9/v2")
        .api_key(key())
        .build()
        .unwrap();
    let options = RunOptions::new().policy(Policy::new().ttl(Duration::from_secs(1)));
    let error = endpoint.run_with(&json!(1), &options).await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::InvalidRequest(m) if m.contains("policy.ttl")),
        "{error}"
    );
    let big = "x".repeat(11 * 1024 * 1024);
    let error = endpoint.run(&big).await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::InvalidRequest(m) if m.contains("limit")),
        "{error}"
    );
    let error = endpoint.job("j").status().await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Transport(_)),
        "{error}"
    );
}

/// A platform answering every request with `status` (and echoing the caller's Authorization
/// header in the body), counting requests.
async fn refusing_server(status: u16) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("retry-after", "0")],
                format!("{{\"error\": \"refused {auth}\"}}"),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, hits, task)
}

#[tokio::test]
async fn reads_are_retried_on_429_and_5xx_and_submits_never_are() {
    for status in [429u16, 503] {
        let (url, hits, server) = refusing_server(status).await;
        let endpoint = QueueEndpoint::builder("ep1")
            .base_url(format!("{url}/v2"))
            .api_key(ApiKey::new("sekret-key-1").unwrap())
            .poll_interval(Duration::from_millis(5), Duration::from_millis(20))
            .build()
            .unwrap();
        let error = endpoint.job("j1").status().await.unwrap_err();
        match (status, error.kind()) {
            (429, EndpointErrorKind::RateLimited { retry_after, body }) => {
                assert_eq!(*retry_after, Some(Duration::ZERO));
                assert!(
                    body.contains("<redacted>") && !body.contains("sekret"),
                    "{body}"
                );
            }
            (503, EndpointErrorKind::Server { status: 503, body }) => {
                assert!(!body.contains("sekret"), "{body}");
            }
            _ => panic!("{status}: {error}"),
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            6,
            "a status read is tried 1 + 5 times"
        );
        hits.store(0, Ordering::SeqCst);
        let error = endpoint.run(&json!(1)).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 1, "/run is never repeated");
        hits.store(0, Ordering::SeqCst);
        endpoint
            .run_sync::<_, Value>(&json!(1), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(hits.load(Ordering::SeqCst), 1, "/runsync is never repeated");
        server.abort();
    }
}

#[tokio::test]
async fn the_load_balanced_client_sends_each_method_and_types_errors() {
    let app = axum::Router::new()
        .route(
            "/echo",
            axum::routing::any(|method: axum::http::Method, body: String| async move {
                axum::Json(json!({"method": method.as_str(), "body": body}))
            }),
        )
        .route(
            "/fail",
            axum::routing::post(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"error_type": "ValueError", "error_message": "bad text"})),
                )
            }),
        )
        .route("/empty", axum::routing::delete(|| async { "" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let api = LoadBalancedEndpoint::at_url(&url, ApiKey::new(KEY)).unwrap();
    let body = json!({"text": "hi"});
    let got: Value = api.get("/echo").await.unwrap();
    assert_eq!(got, json!({"method": "GET", "body": ""}));
    for (method, got) in [
        ("POST", api.post::<_, Value>("/echo", &body).await.unwrap()),
        ("PUT", api.put::<_, Value>("/echo", &body).await.unwrap()),
        (
            "PATCH",
            api.patch::<_, Value>("/echo", &body).await.unwrap(),
        ),
    ] {
        assert_eq!(got["method"], method);
        assert_eq!(got["body"], body.to_string());
    }
    let nothing: Option<Value> = api.delete("/empty").await.unwrap();
    assert_eq!(nothing, None);
    let error = api.post::<_, Value>("/fail", &body).await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Failed(w) if w.error_type == "ValueError"),
        "{error}"
    );
    let error = api.get::<Value>("/nope").await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(&url), "{error}");
    let error = api.get::<Value>("no-slash").await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::InvalidRequest(_)),
        "{error}"
    );
    server.abort();
}

#[tokio::test]
async fn by_name_only_job_requests_are_asked_again_on_404_and_as_often_as_runpod_2() {
    let (url, hits, server) = refusing_server(404).await;
    let key = || ApiKey::new("sekret-key-1").unwrap();
    let by_name = QueueEndpoint::builder_by_name("shop", "production", "resize")
        .base_url(format!("{url}/v2"))
        .api_key(key())
        .not_found_retry(7, Duration::from_millis(1))
        .build()
        .unwrap();
    let count = || hits.swap(0, Ordering::SeqCst);
    let job = by_name.job("j1");
    let not_found = |what: &str, error: runpod_flash::client::EndpointError| {
        assert!(
            matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
            "{what}: {error}"
        );
        assert_eq!(count(), 7, "{what} by name is tried 7 times");
    };
    not_found("status", job.status().await.unwrap_err());
    not_found("cancel", job.cancel().await.unwrap_err());
    not_found("retry", job.retry().await.unwrap_err());
    let chunk = job.stream::<Value>().next().await.unwrap();
    not_found("stream", chunk.unwrap_err());
    let error = by_name.run(&json!(1)).await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
        "{error}"
    );
    assert_eq!(
        count(),
        1,
        "/run is sent once: runpod 2.0 does not ask again"
    );
    by_name
        .run_sync::<_, Value>(&json!(1), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(count(), 1, "/runsync is sent once");

    // By id, a 404 is final.
    let by_id = QueueEndpoint::builder("ep1")
        .base_url(format!("{url}/v2"))
        .api_key(key())
        .not_found_retry(7, Duration::from_millis(1))
        .build()
        .unwrap();
    by_id.job("j1").status().await.unwrap_err();
    assert_eq!(count(), 1, "a status read by id is sent once on 404");
    // A load-balanced endpoint by name neither (runpod 2.0's `QueueClient.http` asks once).
    let lb =
        LoadBalancedEndpoint::by_name_at(&url, "shop", "production", "api", Some(key())).unwrap();
    let error = lb.get::<Value>("/health").await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
        "{error}"
    );
    assert_eq!(count(), 1, "a load-balanced GET is sent once on 404");
    server.abort();
}

#[tokio::test]
async fn a_load_balanced_endpoint_with_a_bad_key_is_unauthorized() {
    let emu = start().await;
    let (_, env_id) = create_app_env(&emu, "shop").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "gateway", "type": "LB", "workersMin": 0, "workersMax": 1,
               "flashEnvironmentId": env_id, "template": template("gateway", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap();
    // Its own listener (`https://{id}.api.runpod.ai`) and the main listener's `/lb/{id}`: the
    // key is checked before any worker is looked for.
    for url in [
        emu.lb_url(id).unwrap(),
        emu.lb_url_template().replace("{endpoint_id}", id),
    ] {
        let api = LoadBalancedEndpoint::at_url(&url, ApiKey::new("wrong-key")).unwrap();
        let error = api.post::<_, Value>("/echo", &json!(1)).await.unwrap_err();
        assert!(
            matches!(error.kind(), EndpointErrorKind::Unauthorized),
            "{url}: {error}"
        );
        assert!(error.to_string().contains(&url), "{error}");
        assert!(!format!("{error} {error:?}").contains("wrong-key"));
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_load_balanced_429_is_rate_limited_with_the_servers_retry_after() {
    // A platform refusing for load: Runpod documents 429s for its queue routes' rate limits,
    // none for load-balanced endpoints, so the emulator gives none and a loopback server
    // plays one that does.
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "7")],
                "{\"error\": \"too many requests\"}",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let api = LoadBalancedEndpoint::at_url(&url, ApiKey::new(KEY)).unwrap();
    let error = api
        .post::<_, Value>("/classify", &json!({"text": "hi"}))
        .await
        .unwrap_err();
    let EndpointErrorKind::RateLimited { retry_after, body } = error.kind() else {
        panic!("{error}");
    };
    assert_eq!(*retry_after, Some(Duration::from_secs(7)));
    assert!(body.contains("too many requests"), "{body}");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains(&url), "{error}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a POST is never repeated");
    server.abort();
}
