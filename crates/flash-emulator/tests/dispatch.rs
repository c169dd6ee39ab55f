//! The Flash dispatcher (`/v2/flash/...`, runpod-wire.md §5) over HTTP on 127.0.0.1: an endpoint
//! named by app, environment and resource reaches the same queue as its id, job ids from one
//! form work in the other, and each refusal names what was wrong; then `runpod_flash::client`
//! addressing the endpoint by name the same way.

mod common;

use std::time::Duration;

use common::*;
use flash_contract::dispatch::{HEADER_APP, HEADER_ENDPOINT, HEADER_ENVIRONMENT};
use futures_util::StreamExt;
use runpod_flash::ApiKey;
use runpod_flash::client::{EndpointErrorKind, JobState, LoadBalancedEndpoint, QueueEndpoint};
use serde_json::{Value, json};

/// A request to `/v2/flash/{op}` with the three headers (`None` leaves one out).
async fn by_name(
    emu: &flash_emulator::EmulatorHandle,
    method: reqwest::Method,
    op: &str,
    names: [Option<&str>; 3],
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http()
        .request(method, format!("{}/flash/{op}", emu.endpoint_base_url()))
        .bearer_auth(KEY);
    for (header, value) in [HEADER_APP, HEADER_ENVIRONMENT, HEADER_ENDPOINT]
        .into_iter()
        .zip(names)
    {
        if let Some(value) = value {
            req = req.header(header, value);
        }
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

const NAMES: [Option<&str>; 3] = [Some("shop"), Some("production"), Some("resize")];

/// App `shop`, environment `production`, queue endpoint `resize` saved in it (no build, so no
/// workers: the test takes the jobs). Returns the app id, the endpoint id and the test's worker.
async fn setup(emu: &flash_emulator::EmulatorHandle) -> (String, String, Worker) {
    let (app_id, env_id) = create_app_env(emu, "shop").await;
    let ep = save_endpoint(
        emu,
        json!({"name": "resize", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id,
               "template": template("resize", &[])}),
    )
    .await;
    let id = ep["id"].as_str().unwrap().to_owned();
    let worker = Worker {
        base: format!("{}/{id}", emu.endpoint_base_url()),
        key: ep["aiKey"].as_str().unwrap().to_owned(),
    };
    (app_id, id, worker)
}

async fn take(worker: &Worker) -> (String, Value) {
    for _ in 0..20 {
        let (code, job) = worker.get("job-take/pod-1?job_in_progress=0").await;
        if code == 200 {
            return (job["id"].as_str().unwrap().to_owned(), job["input"].clone());
        }
    }
    panic!("no job to take");
}

#[tokio::test]
async fn a_job_submitted_by_name_is_the_endpoints_job_in_both_forms() {
    let emu = start().await;
    let (_, id, worker) = setup(&emu).await;
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    let (code, job) = by_name(
        &emu,
        post.clone(),
        "run",
        NAMES,
        Some(json!({"input": {"n": 1}})),
    )
    .await;
    assert_eq!(code, 200, "{job}");
    assert_eq!(job["status"], "IN_QUEUE");
    let job_id = job["id"].as_str().unwrap().to_owned();
    // The worker of the endpoint saved under that name takes it.
    let (taken, input) = take(&worker).await;
    assert_eq!(taken, job_id);
    assert_eq!(input, json!({"n": 1}));
    let (code, _) = by_name(&emu, get.clone(), &format!("status/{job_id}"), NAMES, None).await;
    assert_eq!(code, 200);
    let code = worker
        .post(
            &format!("job-done/pod-1/{job_id}?isStream=false"),
            json!({"output": {"ok": true}}),
        )
        .await;
    assert_eq!(code, 200);
    for method in [get.clone(), post.clone()] {
        let (code, status) = by_name(&emu, method, &format!("status/{job_id}"), NAMES, None).await;
        assert_eq!(code, 200, "{status}");
        assert_eq!(status["status"], "COMPLETED");
        assert_eq!(status["output"], json!({"ok": true}));
    }
    // The same job by id: one queue, two addresses.
    let (code, status) = dp_get(&emu, &id, &format!("status/{job_id}")).await;
    assert_eq!((code, &status["status"]), (200, &json!("COMPLETED")));
    let (code, stream) = by_name(&emu, get.clone(), &format!("stream/{job_id}"), NAMES, None).await;
    assert_eq!(
        (code, &stream["status"]),
        (200, &json!("COMPLETED")),
        "{stream}"
    );
    // Retry refuses a COMPLETED job: the id route's own rule, reached by name.
    let (code, refused) =
        by_name(&emu, post.clone(), &format!("retry/{job_id}"), NAMES, None).await;
    assert_eq!(code, 400, "{refused}");

    // Cancel by name a job submitted by id.
    let (code, queued) = dp_post(&emu, &id, "run", json!({"input": {"n": 2}})).await;
    assert_eq!(code, 200);
    let queued = queued["id"].as_str().unwrap().to_owned();
    let (code, cancelled) =
        by_name(&emu, post.clone(), &format!("cancel/{queued}"), NAMES, None).await;
    assert_eq!(
        (code, &cancelled["status"]),
        (200, &json!("CANCELLED")),
        "{cancelled}"
    );

    // runsync by name answers with the finished job inside its wait.
    let runsync = tokio::spawn({
        let base = emu.endpoint_base_url();
        async move {
            let r = http()
                .post(format!("{base}/flash/runsync?wait=20000"))
                .bearer_auth(KEY)
                .header(HEADER_APP, "shop")
                .header(HEADER_ENVIRONMENT, "production")
                .header(HEADER_ENDPOINT, "resize")
                .json(&json!({"input": {"n": 3}}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    });
    let (sync_id, input) = take(&worker).await;
    assert_eq!(input, json!({"n": 3}));
    let code = worker
        .post(
            &format!("job-done/pod-1/{sync_id}?isStream=false"),
            json!({"output": 3}),
        )
        .await;
    assert_eq!(code, 200);
    let (code, done) = runsync.await.unwrap();
    assert_eq!(code, 200, "{done}");
    assert_eq!(
        (&done["id"], &done["status"], &done["output"]),
        (&json!(sync_id), &json!("COMPLETED"), &json!(3))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_id_in_x_flash_endpoint_resolves_within_its_environment_only() {
    let emu = start().await;
    let (app_id, id, _worker) = setup(&emu).await;
    let (code, job) = by_name(
        &emu,
        reqwest::Method::POST,
        "run",
        [Some("shop"), Some("production"), Some(id.as_str())],
        Some(json!({"input": {}})),
    )
    .await;
    assert_eq!(code, 200, "{job}");
    // The same id under another environment of the app is not found there.
    let d = gql(
        &emu,
        "mutation($i: CreateFlashEnvironmentInput!) { createFlashEnvironment(input: $i) { id } }",
        json!({"i": {"flashAppId": app_id, "name": "staging"}}),
    )
    .await;
    assert!(d["createFlashEnvironment"]["id"].is_string(), "{d}");
    let (code, body) = by_name(
        &emu,
        reqwest::Method::POST,
        "run",
        [Some("shop"), Some("staging"), Some(id.as_str())],
        Some(json!({"input": {}})),
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("environment staging"),
        "{body}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn refusals_name_the_missing_header_or_the_unknown_name() {
    let emu = start().await;
    let _ = setup(&emu).await;
    let post = reqwest::Method::POST;
    let body = Some(json!({"input": {}}));
    for (missing, header) in [HEADER_APP, HEADER_ENVIRONMENT, HEADER_ENDPOINT]
        .into_iter()
        .enumerate()
    {
        let mut names = NAMES;
        names[missing] = None;
        let (code, err) = by_name(&emu, post.clone(), "run", names, body.clone()).await;
        assert_eq!(code, 400, "{err}");
        let message = err["error"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("header {header} is missing")),
            "{message}"
        );
    }
    for (names, says) in [
        (
            [Some("nope"), Some("production"), Some("resize")],
            "flash app nope not found",
        ),
        (
            [Some("shop"), Some("dev"), Some("resize")],
            "environment dev not found in flash app shop",
        ),
        (
            [Some("shop"), Some("production"), Some("crop")],
            "endpoint crop not found in environment production of flash app shop",
        ),
    ] {
        for op in ["run", "status/some-job"] {
            let method = if op == "run" {
                post.clone()
            } else {
                reqwest::Method::GET
            };
            let (code, err) = by_name(&emu, method, op, names, body.clone()).await;
            assert_eq!(code, 404, "{op}: {err}");
            assert_eq!(err["error"], says, "{op}");
        }
    }
    // A job id unknown to the named endpoint is the id route's 404.
    let (code, err) = by_name(&emu, reqwest::Method::GET, "status/some-job", NAMES, None).await;
    assert_eq!(code, 404);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("job some-job not found on endpoint resize"),
        "{err}"
    );
    // The key is checked before anything is resolved.
    let r = http()
        .post(format!("{}/flash/run", emu.endpoint_base_url()))
        .bearer_auth("wrong")
        .header(HEADER_APP, "shop")
        .json(&json!({"input": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The dispatcher serves no /health or /purge-queue by name (the runpod SDK sends none):
    // `flash` is then an endpoint id like any other, and none has it.
    let (code, err) = dp_get(&emu, "flash", "health").await;
    assert_eq!(code, 404, "{err}");
    emu.shutdown().await;
}

fn named(
    emu: &flash_emulator::EmulatorHandle,
    app: &str,
    env: &str,
    resource: &str,
) -> QueueEndpoint {
    QueueEndpoint::builder_by_name(app, env, resource)
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .poll_interval(Duration::from_millis(20), Duration::from_millis(100))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_rust_client_calls_an_endpoint_by_name_through_every_job_route() {
    let emu = start().await;
    let (_, id, worker) = setup(&emu).await;
    let endpoint = named(&emu, "shop", "production", "resize");
    assert_eq!(endpoint.id(), "shop/production/resize");

    // run, status, stream and wait, by name.
    let job = endpoint.run(&json!({"n": 1})).await.unwrap();
    assert_eq!(job.status().await.unwrap().status, JobState::InQueue);
    let (taken, input) = take(&worker).await;
    assert_eq!((taken.as_str(), input), (job.id(), json!({"n": 1})));
    let code = worker
        .post(
            &format!("job-stream/pod-1/{taken}?isStream=true"),
            json!({"output": "a"}),
        )
        .await;
    assert_eq!(code, 200);
    let code = worker
        .post(
            &format!("job-done/pod-1/{taken}?isStream=true"),
            json!({"output": ["a"]}),
        )
        .await;
    assert_eq!(code, 200);
    let chunks: Vec<String> = job.stream::<String>().map(Result::unwrap).collect().await;
    assert_eq!(chunks, ["a"]);
    let out: Vec<String> = job.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(out, ["a"]);
    // The job is the endpoint's: a client by id sees it too.
    let by_id = QueueEndpoint::builder(&id)
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        by_id.job(job.id()).status().await.unwrap().status,
        JobState::Completed
    );

    // run_sync by name, answered inside the window.
    let serve = async {
        let (job, input) = take(&worker).await;
        let n = input["n"].as_i64().unwrap();
        worker
            .post(
                &format!("job-done/pod-1/{job}?isStream=false"),
                json!({"output": n * 2}),
            )
            .await
    };
    let input = json!({"n": 21});
    let (out, code) = tokio::join!(
        endpoint.run_sync::<_, i64>(&input, Duration::from_secs(10)),
        serve
    );
    assert_eq!((out.unwrap(), code), (42, 200));

    // FAILED, then retry by name.
    let job = endpoint.run(&json!({"n": 2})).await.unwrap();
    let (taken, _) = take(&worker).await;
    let wire = json!({"error_type": "ValueError", "error_message": "bad n"});
    worker
        .post(
            &format!("job-done/pod-1/{taken}?isStream=false"),
            json!({"error": wire.to_string()}),
        )
        .await;
    let failed = job.wait::<Value>(Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(failed.kind(), EndpointErrorKind::Failed(w) if w.error_message == "bad n"),
        "{failed}"
    );
    assert!(
        failed.to_string().contains("shop/production/resize"),
        "{failed}"
    );
    assert_eq!(job.retry().await.unwrap(), JobState::InQueue);
    // Cancel by name.
    assert_eq!(job.cancel().await.unwrap(), JobState::Cancelled);

    // A run_sync past its deadline cancels the job, by name too (the guard carries the headers).
    let error = endpoint
        .run_sync::<_, Value>(&json!({"n": 3}), Duration::from_millis(1200))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Deadline { .. }),
        "{error}"
    );
    let job = endpoint.job(error.job_id().unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while job.status().await.unwrap().status != JobState::Cancelled {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned job was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn the_rust_client_by_name_types_unknown_names_and_refuses_bad_ones() {
    let emu = start().await;
    let _ = setup(&emu).await;
    let missing = named(&emu, "shop", "production", "crop");
    let error = missing.run(&json!({})).await.unwrap_err();
    let EndpointErrorKind::NotFound { body } = error.kind() else {
        panic!("{error}");
    };
    assert!(
        body.contains("endpoint crop not found in environment production"),
        "{body}"
    );
    assert_eq!(error.endpoint(), "shop/production/crop");

    for (app, env, resource, field) in [
        ("", "production", "resize", "app name"),
        ("shop", " production", "resize", "environment name"),
        ("shop", "production", "re\nsize", "resource name"),
    ] {
        let refused = QueueEndpoint::builder_by_name(app, env, resource)
            .base_url(emu.endpoint_base_url())
            .api_key(ApiKey::new(KEY).unwrap())
            .build()
            .unwrap_err();
        assert!(
            matches!(refused.kind(), EndpointErrorKind::InvalidRequest(m) if m.starts_with(field)),
            "{refused}"
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_load_balanced_endpoint_by_name_is_proxied_at_flash_lb() {
    let emu = start().await;
    let env_id = deploy_shop_gateway(&emu).await;
    save_endpoint(
        &emu,
        json!({"name": "resize", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id,
               "template": template("resize", &[])}),
    )
    .await;
    let lb = emu.flash_lb_url();
    assert!(lb.starts_with(emu.api_base_url()) && lb.ends_with("/flash-lb"));
    let send = |resource: &'static str, path: &'static str| {
        http()
            .post(format!("{lb}{path}"))
            .bearer_auth(KEY)
            .header(HEADER_APP, "shop")
            .header(HEADER_ENVIRONMENT, "production")
            .header(HEADER_ENDPOINT, resource)
            .body("hello")
            .send()
    };
    let r = send("gateway", "/echo").await.unwrap();
    assert_eq!(r.status(), 200);
    let worker = r.headers()["x-runpod-worker-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({"body": "hello", "worker": worker}));
    // A path the worker does not serve is its own 404, not the dispatcher's.
    let r = send("gateway", "/nothing-here").await.unwrap();
    assert_eq!(r.status(), 404);
    // A queue endpoint serves no paths; an unknown name is the dispatcher's 404.
    let r = send("resize", "/echo").await.unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("is a queue endpoint"),
        "{err}"
    );
    let r = send("nope", "/echo").await.unwrap();
    assert_eq!(r.status(), 404);
    let err: Value = r.json().await.unwrap();
    assert_eq!(
        err["error"],
        "endpoint nope not found in environment production of flash app shop"
    );
    let r = http()
        .post(format!("{lb}/echo"))
        .bearer_auth(KEY)
        .header(HEADER_APP, "shop")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Our load-balanced client by name.
    let key = || Some(ApiKey::new(KEY).unwrap());
    let api =
        LoadBalancedEndpoint::by_name_at(&lb, "shop", "production", "gateway", key()).unwrap();
    let echoed: Value = api.post("/echo", &json!("hi")).await.unwrap();
    assert_eq!(echoed["body"], "\"hi\"");
    let missing =
        LoadBalancedEndpoint::by_name_at(&lb, "shop", "production", "nope", key()).unwrap();
    let error = missing
        .post::<_, Value>("/echo", &json!(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { .. }),
        "{error}"
    );
    assert_eq!(error.endpoint(), "shop/production/nope");
    let refused = LoadBalancedEndpoint::by_name_at(&lb, "shop", "", "gateway", key()).unwrap_err();
    assert!(
        matches!(refused.kind(), EndpointErrorKind::InvalidRequest(m) if m.starts_with("environment name")),
        "{refused}"
    );
    emu.shutdown().await;
}

/// [`named`] riding out 404s with `attempts` tries from `first` (runpod 2.0: 7 from 500 ms).
fn named_patient(
    emu: &flash_emulator::EmulatorHandle,
    resource: &str,
    attempts: u32,
    first: Duration,
) -> QueueEndpoint {
    QueueEndpoint::builder_by_name("shop", "production", resource)
        .base_url(emu.endpoint_base_url())
        .api_key(ApiKey::new(KEY).unwrap())
        .not_found_retry(attempts, first)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_job_request_by_name_rides_out_404s_until_the_name_reaches_the_dispatcher() {
    let emu = start().await;
    let (_, env_id) = create_app_env(&emu, "shop").await;
    // The endpoint exists, but not yet under its name in the environment: as right after a
    // deploy, before the name has reached the dispatcher.
    let input = json!({"name": "resize", "workersMin": 0, "workersMax": 1,
                       "template": template("resize", &[])});
    let id = save_endpoint(&emu, input.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, job) = dp_post(&emu, &id, "run", json!({"input": {"n": 1}})).await;
    assert_eq!(code, 200, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();

    // Asking once, the name is not there.
    let once = named_patient(&emu, "resize", 1, Duration::ZERO);
    let error = once.job(&job_id).status().await.unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::NotFound { body } if body.contains("endpoint resize not found")),
        "{error}"
    );

    // Tries at 0, 20, 60, 140, 300, 620, 1260 ms; the name appears after ~150 ms.
    let patient = named_patient(&emu, "resize", 7, Duration::from_millis(20));
    let attach = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let mut update = input.clone();
        update["id"] = json!(id);
        update["flashEnvironmentId"] = json!(env_id);
        assert_eq!(save_endpoint(&emu, update).await["id"], json!(id));
    };
    let job = patient.job(&job_id);
    let (status, ()) = tokio::join!(job.status(), attach);
    assert_eq!(status.unwrap().status, JobState::InQueue);
    // Cancel and retry by name ride it out too: the same rule, one place.
    assert_eq!(job.cancel().await.unwrap(), JobState::Cancelled);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_name_that_never_reaches_the_dispatcher_is_not_found_after_every_try() {
    let emu = start().await;
    let _ = setup(&emu).await;
    let first = Duration::from_millis(10);
    let missing = named_patient(&emu, "crop", 7, first);
    let started = std::time::Instant::now();
    let error = missing.job("some-job").status().await.unwrap_err();
    let waited = started.elapsed();
    let EndpointErrorKind::NotFound { body } = error.kind() else {
        panic!("{error}");
    };
    assert!(
        body.contains("endpoint crop not found in environment production"),
        "{body}"
    );
    assert_eq!(
        (error.endpoint(), error.job_id()),
        ("shop/production/crop", Some("some-job"))
    );
    // Six pauses, 10 ms doubling: 630 ms before the seventh 404 is final.
    assert!(waited >= first * 63, "{waited:?}");
    // How many tries each request makes is counted in client.rs, on a server that counts.
    emu.shutdown().await;
}

#[tokio::test]
async fn a_load_balanced_endpoint_by_name_is_served_on_the_flash_localhost_host() {
    let emu = start().await;
    deploy_shop_gateway(&emu).await;
    let host_url = emu.flash_lb_host_url();
    assert_eq!(
        host_url,
        format!("http://flash.localhost:{}", emu.addr().port())
    );
    // A client that resolves flash.localhost itself, as browsers and curl do.
    let resolving = reqwest::Client::builder()
        .no_proxy()
        .resolve("flash.localhost", emu.addr())
        .build()
        .unwrap();
    let named = |request: reqwest::RequestBuilder| {
        request
            .bearer_auth(KEY)
            .header(HEADER_APP, "shop")
            .header(HEADER_ENVIRONMENT, "production")
            .header(HEADER_ENDPOINT, "gateway")
    };
    let r = named(resolving.post(format!("{host_url}/echo")).body("hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-runpod-worker-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["body"], "hello");
    // The Host header alone decides: the same request to 127.0.0.1 naming the host.
    let direct = format!("{}/echo", emu.api_base_url());
    let host = format!("flash.localhost:{}", emu.addr().port());
    let r = named(http().post(&direct).header("host", &host).body("again"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["body"], "again");
    // Without it, /echo is no route of the emulator's.
    let r = named(http().post(&direct)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // On the dispatcher's host every path is the worker's, the emulator's own included.
    let state = format!("{host_url}/emulator/state");
    let r = named(resolving.get(&state)).send().await.unwrap();
    assert_eq!(r.status(), 404, "the worker serves no /emulator/state");
    assert!(r.headers().contains_key("x-runpod-worker-id"));
    // The dispatcher's refusals, on the host too.
    let r = resolving
        .post(format!("{host_url}/echo"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Our client by name, at the host (its HTTP client resolves flash.localhost itself).
    let key = |k: &str| Some(ApiKey::new(k).unwrap());
    let api =
        LoadBalancedEndpoint::by_name_at(&host_url, "shop", "production", "gateway", key(KEY))
            .unwrap();
    let echoed: Value = api.post("/echo", &json!("hi")).await.unwrap();
    assert_eq!(echoed["body"], "\"hi\"");
    // A bad key is the platform's 401, typed, before anything is resolved.
    let wrong =
        LoadBalancedEndpoint::by_name_at(&host_url, "shop", "production", "gateway", key("wrong"))
            .unwrap();
    let error = wrong
        .post::<_, Value>("/echo", &json!(1))
        .await
        .unwrap_err();
    assert!(
        matches!(error.kind(), EndpointErrorKind::Unauthorized),
        "{error}"
    );
    assert_eq!(error.endpoint(), "shop/production/gateway");
    emu.shutdown().await;
}
