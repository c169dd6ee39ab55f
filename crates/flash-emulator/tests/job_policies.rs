//! What a request asks of its job beyond the input, over HTTP on 127.0.0.1: webhooks posted on
//! completion and retried as Runpod documents, `policy` checked and `lowPriority` ordering, and
//! the result retention windows of `/run` and `/runsync`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn setup(
    builder: flash_emulator::EmulatorBuilder,
) -> (flash_emulator::EmulatorHandle, String, Worker) {
    let emu = start_with(builder).await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "terms", "workersMin": 0, "workersMax": 1, "template": template("terms", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let worker = Worker {
        base: format!("{}/{id}", emu.endpoint_base_url()),
        key: ep["aiKey"].as_str().unwrap().to_owned(),
    };
    (emu, id, worker)
}

async fn take(worker: &Worker) -> Value {
    for _ in 0..20 {
        let (code, job) = worker.get("job-take/pod1?job_in_progress=0").await;
        if code == 200 {
            return job;
        }
    }
    panic!("no job to take");
}

type Hits = Arc<Mutex<Vec<(Instant, Value)>>>;

/// A webhook receiver answering 500 to the first `failures` posts, then 200.
async fn receiver(failures: usize) -> (String, Hits, tokio::task::JoinHandle<()>) {
    let hits: Hits = Arc::default();
    let seen = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = Arc::clone(&seen);
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((Instant::now(), body));
                if seen.len() <= failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, hits, task)
}

#[tokio::test]
async fn webhooks_post_the_final_status_and_are_retried_twice() {
    let retry = Duration::from_millis(300);
    let (emu, ep, worker) =
        setup(flash_emulator::Emulator::builder().webhook_retry_interval(retry)).await;
    // Answers 500 twice, then 200: three attempts, the last taken.
    let (url, hits, server) = receiver(2).await;
    let (code, body) = dp_post(&emu, &ep, "run", json!({"input": 1, "webhook": url})).await;
    assert_eq!(code, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let job = take(&worker).await;
    assert_eq!(
        job["webhook"], url,
        "the worker sees the webhook too, as Runpod hands it on"
    );
    worker
        .post(
            &format!("job-done/pod1/{id}"),
            json!({"output": {"answer": 42}}),
        )
        .await;
    let deliveries = eventually(10, "three webhook attempts", || {
        let seen = hits.lock().unwrap().clone();
        (seen.len() >= 3).then_some(seen)
    })
    .await;
    for (_, body) in &deliveries {
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["status"], "COMPLETED");
        assert_eq!(body["output"], json!({"answer": 42}));
    }
    for pair in deliveries.windows(2) {
        assert!(
            pair[1].0 - pair[0].0 >= retry,
            "attempts are {retry:?} apart"
        );
    }
    server.abort();

    // A receiver that never answers 200 gets the first attempt and two retries, no more.
    let (url, hits, server) = receiver(usize::MAX).await;
    let (_, body) = dp_post(&emu, &ep, "run", json!({"input": 2, "webhook": url})).await;
    let id = body["id"].as_str().unwrap().to_owned();
    take(&worker).await;
    worker
        .post(&format!("job-done/pod1/{id}"), json!({"error": "boom"}))
        .await;
    eventually(10, "three attempts", || {
        (hits.lock().unwrap().len() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(retry * 3).await;
    let seen = hits.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "no fourth attempt");
    assert_eq!(seen[0].1["status"], "FAILED");
    assert_eq!(seen[0].1["error"], "boom");
    server.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn policies_and_webhooks_are_checked_and_low_priority_jobs_wait() {
    let (emu, ep, worker) = setup(flash_emulator::Emulator::builder()).await;
    for (body, field) in [
        (
            json!({"input": 1, "policy": {"executionTimeout": 1000}}),
            "policy.executionTimeout",
        ),
        (
            json!({"input": 1, "policy": {"executionTimeout": "5s"}}),
            "policy.executionTimeout",
        ),
        (
            json!({"input": 1, "policy": {"lowPriority": "yes"}}),
            "policy.lowPriority",
        ),
        (json!({"input": 1, "policy": 7}), "policy"),
        (
            json!({"input": 1, "webhook": "https://example.com/hook"}),
            "loopback",
        ),
        (json!({"input": 1, "webhook": 5}), "webhook"),
    ] {
        let (code, answer) = dp_post(&emu, &ep, "run", body.clone()).await;
        assert_eq!(code, 400, "{body} -> {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.contains(field) && message.contains(&ep),
            "{message}"
        );
    }
    let (_, low) = dp_post(
        &emu,
        &ep,
        "run",
        json!({"input": "low", "policy": {"lowPriority": true}}),
    )
    .await;
    let (_, normal) = dp_post(
        &emu,
        &ep,
        "run",
        json!({"input": "normal", "policy": {"lowPriority": false}}),
    )
    .await;
    assert_eq!(
        take(&worker).await["id"],
        normal["id"],
        "the normal job goes first"
    );
    assert_eq!(take(&worker).await["id"], low["id"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn finished_results_are_kept_for_their_routes_window_then_404() {
    let (emu, ep, worker) = setup(
        flash_emulator::Emulator::builder()
            .result_retention(Duration::from_millis(1500), Duration::from_millis(300)),
    )
    .await;
    let sync_url = format!("{}/{ep}/runsync?wait=5000", emu.endpoint_base_url());
    let client = http();
    let runsync = client
        .post(&sync_url)
        .bearer_auth(KEY)
        .json(&json!({"input": "s"}))
        .send();
    let serve = async {
        let job = take(&worker).await;
        let id = job["id"].as_str().unwrap().to_owned();
        worker
            .post(&format!("job-done/pod1/{id}"), json!({"output": "sync"}))
            .await;
    };
    let (answer, ()) = tokio::join!(runsync, serve);
    let answer: Value = answer.unwrap().json().await.unwrap();
    assert_eq!(answer["output"], "sync");
    let sync_id = answer["id"].as_str().unwrap().to_owned();

    let (_, run) = dp_post(&emu, &ep, "run", json!({"input": "r"})).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    take(&worker).await;
    worker
        .post(&format!("job-done/pod1/{run_id}"), json!({"output": "run"}))
        .await;
    let finished = Instant::now();
    assert_eq!(dp_get(&emu, &ep, &format!("status/{sync_id}")).await.0, 200);

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (code, body) = dp_get(&emu, &ep, &format!("status/{sync_id}")).await;
    assert_eq!(
        code, 404,
        "a runsync result is gone after its window: {body}"
    );
    let (code, body) = dp_get(&emu, &ep, &format!("status/{run_id}")).await;
    assert_eq!(
        code, 200,
        "a /run result outlives the runsync window: {body}"
    );
    assert_eq!(body["output"], "run");
    tokio::time::sleep(
        Duration::from_millis(1500).saturating_sub(finished.elapsed()) + Duration::from_millis(400),
    )
    .await;
    let (code, _) = dp_get(&emu, &ep, &format!("status/{run_id}")).await;
    assert_eq!(code, 404, "and is gone after its own");
    emu.shutdown().await;
}
