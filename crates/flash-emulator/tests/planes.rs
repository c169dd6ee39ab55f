//! Conformance of the data plane and the worker job plane, with the test acting as an external
//! worker (the endpoint has no build, so the emulator starts none).

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

async fn setup() -> (flash_emulator::EmulatorHandle, String, Worker) {
    let emu = start().await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "plain", "workersMin": 0, "workersMax": 1, "template": template("plain", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let w = Worker {
        base: format!("{}/{id}", emu.endpoint_base_url()),
        key: ep["aiKey"].as_str().unwrap().to_owned(),
    };
    (emu, id, w)
}

#[tokio::test]
async fn data_plane_auth_and_not_found() {
    let (emu, ep, _) = setup().await;
    let url = format!("{}/{ep}/run", emu.endpoint_base_url());
    let r = http()
        .post(&url)
        .json(&json!({"input": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(&url)
        .bearer_auth("nope")
        .json(&json!({"input": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The bare key is accepted too.
    let r = http()
        .post(&url)
        .header("Authorization", KEY)
        .json(&json!({"input": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, body) = dp_post(&emu, "nosuch", "run", json!({"input": 1})).await;
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().contains("nosuch"));
    let (code, _) = dp_get(&emu, &ep, "status/nosuch-job").await;
    assert_eq!(code, 404);
    let (code, body) = dp_post(&emu, &ep, "run", json!({"notinput": 1})).await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("input"));
    emu.shutdown().await;
}

#[tokio::test]
async fn take_done_status_health_and_state() {
    let (emu, ep, w) = setup().await;
    // Long poll held open, then 204.
    let t = Instant::now();
    let (code, _) = w.get("job-take/pod1?gpu=x&job_in_progress=0").await;
    assert_eq!(code, 204);
    assert!(t.elapsed() >= Duration::from_millis(900));
    // Raw key only.
    let r = http()
        .get(format!("{}/job-take/pod1", w.base))
        .bearer_auth(&w.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .get(format!("{}/job-take/pod1", w.base))
        .header("Authorization", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (code, run) = dp_post(
        &emu,
        &ep,
        "run",
        json!({"input": {"x": 1}, "webhook": "http://127.0.0.1:9/h"}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(run["status"], "IN_QUEUE");
    let job = run["id"].as_str().unwrap().to_owned();
    assert!(job.ends_with("-u1"));
    let (_, st) = dp_get(&emu, &ep, &format!("status/{job}")).await;
    assert_eq!(st, json!({"id": job, "status": "IN_QUEUE"}));

    let (code, taken) = w.get("job-take/pod1?gpu=x&job_in_progress=0").await;
    assert_eq!(code, 200);
    assert_eq!(taken["id"], job.as_str());
    assert_eq!(taken["input"], json!({"x": 1}));
    assert_eq!(taken["webhook"], "http://127.0.0.1:9/h");
    let (_, st) = dp_get(&emu, &ep, &format!("status/{job}")).await;
    assert_eq!(st["status"], "IN_PROGRESS");
    assert_eq!(st["workerId"], "pod1");
    let (code, _) = w
        .get("ping/pod1?gpu=x&job_id=a%2Cb&runpod_version=1.12.0")
        .await;
    assert_eq!(code, 200);

    // Progress update keeps it in progress.
    assert_eq!(
        w.post(
            &format!("job-done/pod1/{job}?gpu=x&isStream=false"),
            json!({"status": "IN_PROGRESS", "output": 0.5})
        )
        .await,
        200
    );
    let (_, st) = dp_get(&emu, &ep, &format!("status/{job}")).await;
    assert_eq!(
        (st["status"].as_str(), &st["output"]),
        (Some("IN_PROGRESS"), &json!(0.5))
    );
    assert_eq!(
        w.post(
            &format!("job-done/pod1/{job}?gpu=x&isStream=false"),
            json!({"output": {"y": 2}})
        )
        .await,
        200
    );
    let st = wait_final(&emu, &ep, &job, 5).await;
    assert_eq!(st["status"], "COMPLETED");
    assert_eq!(st["output"], json!({"y": 2}));
    assert!(st["delayTime"].is_u64() && st["executionTime"].is_u64());
    // A late duplicate is accepted and discarded.
    assert_eq!(
        w.post(
            &format!("job-done/pod1/{job}?isStream=false"),
            json!({"output": 3})
        )
        .await,
        200
    );
    assert_eq!(
        wait_final(&emu, &ep, &job, 5).await["output"],
        json!({"y": 2})
    );

    // Failure, then retry.
    let (_, run) = dp_post(&emu, &ep, "run", json!({"input": "f"})).await;
    let job2 = run["id"].as_str().unwrap().to_owned();
    let (_, taken) = w.get("job-take/pod1?job_in_progress=0").await;
    assert_eq!(taken["id"], job2.as_str());
    w.post(
        &format!("job-done/pod1/{job2}?isStream=false"),
        json!({"error": "boom"}),
    )
    .await;
    let st = wait_final(&emu, &ep, &job2, 5).await;
    assert_eq!(
        (st["status"].as_str(), st["error"].as_str()),
        (Some("FAILED"), Some("boom"))
    );
    let (code, body) = dp_post(&emu, &ep, &format!("retry/{job}"), json!(null)).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = dp_post(&emu, &ep, &format!("retry/{job2}"), json!(null)).await;
    assert_eq!(
        (code, body),
        (200, json!({"id": job2, "status": "IN_QUEUE"}))
    );

    let (code, h) = dp_get(&emu, &ep, "health").await;
    assert_eq!(code, 200);
    assert_eq!(h["jobs"]["completed"], 1);
    assert_eq!(h["jobs"]["failed"], 1);
    assert_eq!(h["jobs"]["inQueue"], 1);
    assert_eq!(h["jobs"]["retried"], 1);
    assert!(h["workers"]["idle"].is_u64() && h["workers"]["running"].is_u64());

    let (code, p) = dp_post(&emu, &ep, "purge-queue", json!(null)).await;
    assert_eq!(
        (code, p),
        (200, json!({"removed": 1, "status": "completed"}))
    );

    let state: Value = http()
        .get(format!("{}/emulator/state", emu.api_base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["endpoints"][0]["id"], ep.as_str());
    assert_eq!(state["endpoints"][0]["workers"][0]["id"], "pod1");
    emu.shutdown().await;
}

#[tokio::test]
async fn batch_stream_cancel_stop_and_runsync() {
    let (emu, ep, w) = setup().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, r) = dp_post(&emu, &ep, "run", json!({"input": i})).await;
        ids.push(r["id"].as_str().unwrap().to_owned());
    }
    let (code, batch) = w
        .get("job-take-batch/pod2?batch_size=2&job_in_progress=0")
        .await;
    assert_eq!(code, 200);
    let batch = batch.as_array().unwrap().clone();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0]["id"], ids[0].as_str());

    // Stream chunks.
    let j0 = &ids[0];
    w.post(
        &format!("job-stream/pod2/{j0}?isStream=false"),
        json!({"output": "a"}),
    )
    .await;
    w.post(
        &format!("job-stream/pod2/{j0}?isStream=false"),
        json!({"output": "b"}),
    )
    .await;
    let (_, s) = dp_get(&emu, &ep, &format!("stream/{j0}")).await;
    assert_eq!(s["stream"], json!([{"output": "a"}, {"output": "b"}]));
    assert_eq!(s["status"], "IN_PROGRESS");
    let (_, s) = dp_get(&emu, &ep, &format!("stream/{j0}")).await;
    assert_eq!(s["stream"], json!([]));

    // Cancel a queued job and a running one; the running one goes to job-stop.
    let (code, c) = dp_post(&emu, &ep, &format!("cancel/{}", ids[2]), json!(null)).await;
    assert_eq!(
        (code, c),
        (200, json!({"id": ids[2], "status": "CANCELLED"}))
    );
    let (_, c) = dp_post(&emu, &ep, &format!("cancel/{}", ids[1]), json!(null)).await;
    assert_eq!(c["status"], "CANCELLED");
    let (code, stop) = w.get("job-stop/pod2?gpu=x").await;
    assert_eq!(code, 200);
    assert_eq!(stop, json!({"jobsToStop": [ids[1]]}));
    let (code, _) = w.get("job-stop/pod2?gpu=x").await;
    assert_eq!(code, 204);
    // A result for the cancelled job is accepted and discarded.
    assert_eq!(
        w.post(
            &format!("job-done/pod2/{}?isStream=false", ids[1]),
            json!({"output": 1})
        )
        .await,
        200
    );
    assert_eq!(
        wait_final(&emu, &ep, &ids[1], 5).await["status"],
        "CANCELLED"
    );

    // runsync: a worker answers while the call waits.
    let base = w.base.clone();
    let key = w.key.clone();
    let worker = tokio::spawn(async move {
        let w = Worker { base, key };
        let (_, job) = w.get("job-take/pod3?job_in_progress=0").await;
        let id = job["id"].as_str().unwrap().to_owned();
        w.post(
            &format!("job-done/pod3/{id}?isStream=false"),
            json!({"output": job["input"]}),
        )
        .await;
    });
    let (code, r) = dp_post(&emu, &ep, "runsync?wait=5000", json!({"input": "hi"})).await;
    worker.await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        (r["status"].as_str(), &r["output"]),
        (Some("COMPLETED"), &json!("hi"))
    );
    assert!(r["id"].as_str().unwrap().starts_with("sync-"));
    // Nobody takes it: runsync returns the id and IN_QUEUE after `wait`.
    let (_, r) = dp_post(&emu, &ep, "runsync?wait=1000", json!({"input": "late"})).await;
    assert_eq!(r["status"], "IN_QUEUE");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_goes_silent_loses_its_jobs_to_a_live_one() {
    // Heartbeat 300 ms: a worker unheard for 3 s (the floor) is gone.
    let emu =
        start_with(flash_emulator::Emulator::builder().ping_interval(Duration::from_millis(300)))
            .await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "silent", "workersMin": 0, "workersMax": 1, "template": template("silent", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let w = Worker {
        base: format!("{}/{id}", emu.endpoint_base_url()),
        key: ep["aiKey"].as_str().unwrap().to_owned(),
    };
    let (_, r) = dp_post(&emu, &id, "run", json!({"input": {"n": 1}})).await;
    let job = r["id"].as_str().unwrap().to_owned();
    // The first worker takes the job, then is never heard from again.
    let (code, taken) = w.get("job-take/gone-pod?gpu=x").await;
    assert_eq!((code, taken["id"].as_str()), (200, Some(job.as_str())));
    let (_, health) = dp_get(&emu, &id, "health").await;
    assert_eq!(health["workers"]["running"], 1, "{health}");
    let started = Instant::now();
    // Long polls of 1 s (the tests' take timeout) until the job comes back to the queue.
    let taken = loop {
        let (code, taken) = w.get("job-take/live-pod?gpu=x").await;
        if code == 200 {
            break taken;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the job never came back"
        );
    };
    assert_eq!(taken["id"].as_str(), Some(job.as_str()));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        w.post(&format!("job-done/live-pod/{job}"), json!({"output": 7}))
            .await,
        200
    );
    // The silent worker's late result is discarded: the job ends once.
    assert_eq!(
        w.post(&format!("job-done/gone-pod/{job}"), json!({"output": 8}))
            .await,
        200
    );
    let (_, status) = dp_get(&emu, &id, &format!("status/{job}")).await;
    assert_eq!(
        (status["status"].as_str(), &status["output"]),
        (Some("COMPLETED"), &json!(7))
    );
    let snap = endpoint_snapshot(&emu.snapshot(), &id).unwrap();
    assert!(
        snap.workers.iter().all(|w| w.id != "gone-pod"),
        "the silent worker is forgotten"
    );
    emu.shutdown().await;
}

/// Runpod's `policy`: out-of-range values are refused naming the field; a job past its ttl is
/// deleted whether queued or running (`/status` then answers 404), and its worker is told to
/// stop it.
#[tokio::test]
async fn policy_bounds_and_ttl_expiry() {
    let (emu, ep, w) = setup().await;
    for (policy, field) in [
        (json!({"ttl": 9_999}), "policy.ttl"),
        (
            json!({"executionTimeout": 1_000}),
            "policy.executionTimeout",
        ),
        (json!({"lowPriority": 1}), "policy.lowPriority"),
    ] {
        let (code, body) = dp_post(&emu, &ep, "run", json!({"input": 1, "policy": policy})).await;
        assert_eq!(code, 400, "{body}");
        assert!(body["error"].as_str().unwrap().contains(field), "{body}");
    }
    let short = json!({"ttl": 10_000});
    let (_, running) = dp_post(&emu, &ep, "run", json!({"input": "r", "policy": short})).await;
    let (code, taken) = w.get("job-take/pod-ttl").await;
    assert_eq!((code, taken["id"].clone()), (200, running["id"].clone()));
    let (_, queued) = dp_post(&emu, &ep, "run", json!({"input": "q", "policy": short})).await;
    let (_, kept) = dp_post(&emu, &ep, "run", json!({"input": "k"})).await;
    let (code, s) = dp_get(
        &emu,
        &ep,
        &format!("status/{}", queued["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!((code, s["status"].as_str()), (200, Some("IN_QUEUE")));
    let t = Instant::now();
    for job in [&queued, &running] {
        let path = format!("status/{}", job["id"].as_str().unwrap());
        loop {
            let (code, body) = dp_get(&emu, &ep, &path).await;
            if code == 404 {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "{path} still {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let (code, stop) = w.get("job-stop/pod-ttl").await;
    assert_eq!(code, 200);
    assert_eq!(stop["jobsToStop"], json!([running["id"]]));
    let (code, s) = dp_get(
        &emu,
        &ep,
        &format!("status/{}", kept["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (code, s["status"].as_str()),
        (200, Some("IN_QUEUE")),
        "the default ttl is a day"
    );
    emu.shutdown().await;
}

/// A job-take response that never reached its worker: the worker's heartbeats do not list the
/// job, so after the lease (one ping period, at least 2 s) it goes back to the queue and another
/// worker runs it; a job the heartbeat lists stays where it is.
#[tokio::test]
async fn a_job_whose_take_response_was_lost_is_requeued() {
    let emu =
        start_with(flash_emulator::Emulator::builder().ping_interval(Duration::from_millis(300)))
            .await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "lease", "workersMin": 0, "workersMax": 1, "template": template("lease", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let w = Worker {
        base: format!("{}/{id}", emu.endpoint_base_url()),
        key: ep["aiKey"].as_str().unwrap().to_owned(),
    };
    let (_, lost) = dp_post(&emu, &id, "run", json!({"input": "lost"})).await;
    let (_, kept) = dp_post(&emu, &id, "run", json!({"input": "kept"})).await;
    // pod-a "loses" the first response: it never lists that job.
    let (_, first) = w.get("job-take/pod-a").await;
    assert_eq!(first["id"], lost["id"]);
    let (_, second) = w.get("job-take/pod-b").await;
    assert_eq!(second["id"], kept["id"]);
    let kept_id = kept["id"].as_str().unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2600) {
        assert_eq!(w.get("ping/pod-a").await.0, 200);
        assert_eq!(w.get(&format!("ping/pod-b?job_id={kept_id}")).await.0, 200);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (code, again) = w.get("job-take/pod-c").await;
    assert_eq!((code, &again["id"]), (200, &lost["id"]));
    assert_eq!(again["input"], "lost");
    let (_, st) = dp_get(&emu, &id, &format!("status/{kept_id}")).await;
    assert_eq!(
        (st["status"].as_str(), st["workerId"].as_str()),
        (Some("IN_PROGRESS"), Some("pod-b"))
    );
    emu.shutdown().await;
}
