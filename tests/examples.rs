//! Every example, built with `flash build`, deployed with `flash deploy`'s code to the local
//! Runpod emulator, and run through its workflow: real worker processes, real HTTP on
//! 127.0.0.1, real GraphQL. The emulator and every worker stop at the end of each test.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{LocalApp, RunOptions};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn start(example: &str) -> LocalApp {
    let root = workspace().join("examples").join(example);
    let options = RunOptions {
        build: BuildOptions {
            profile: "dev".into(),
            target_dir: Some(
                std::env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| workspace().join("target"), PathBuf::from),
            ),
            ..BuildOptions::default()
        },
        app: Some(format!("test-{example}")),
        env: "test".into(),
        port: 0,
        boot: None,
    };
    match LocalApp::start(&Project::at(root), &options).await {
        Ok(app) => app,
        Err(error) => panic!("{example}: {error}"),
    }
}

/// Runs the example's binary as a caller; returns its stdout, failing on a non-zero exit.
async fn call(app: &LocalApp, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::time::timeout(Duration::from_secs(120), app.caller(&args).output())
        .await
        .expect("the caller finished in time")
        .expect("the caller started");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "caller {args:?} failed: {stderr}\n{stdout}"
    );
    stdout
}

fn endpoint<'a>(app: &'a LocalApp, resource: &str) -> &'a str {
    &app.report
        .endpoints
        .iter()
        .find(|e| e.resource == resource)
        .unwrap_or_else(|| panic!("no endpoint for {resource}"))
        .url
}

async fn post_json(url: &str, key: &str, body: &Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_worker_answers_runsync() {
    let app = start("00_standalone_worker").await;
    let key = app.emulator.api_key().expose().to_owned();
    let url = format!("{}/runsync", endpoint(&app, "standalone_worker"));
    let done = post_json(&url, &key, &json!({"input": {"name": "Ada", "times": 2}})).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(done["output"]["message"], "Hello, Ada! Hello, Ada!");
    let failed = post_json(&url, &key, &json!({"input": {"name": "Ada", "times": 11}})).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    let error: Value = serde_json::from_str(failed["error"].as_str().unwrap()).unwrap();
    assert_eq!(error["app_error"], json!({"TooMany": 11}));
    let stdout = call(&app, &["greet", "Grace", "1"]).await;
    assert!(stdout.starts_with("Hello, Grace!"), "{stdout}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_workers_pipeline_crosses_three_endpoints() {
    let app = start("03_mixed_workers").await;
    let stdout = call(&app, &["demo"]).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains("-> positive"), "{stdout}");
    assert!(lines[1].contains("-> negative"), "{stdout}");
    assert!(lines[2].contains("-> neutral"), "{stdout}");
    for line in lines {
        assert!(
            line.ends_with("stages ran on: classify_pipeline -> mixed_workers_cpu_postprocess"),
            "{line}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_resource_gateway_orchestrates_two_queue_workers() {
    let app = start("00_multi_resource").await;
    let stdout = call(&app, &["report", "3", "1", "4", "1", "5"]).await;
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(
        report["summary"],
        json!({"min": 1.0, "max": 5.0, "mean": 2.8})
    );
    assert_eq!(report["normalized"], json!([0.5, 0.0, 0.75, 0.0, 1.0]));
    assert_eq!(
        report["resources"],
        json!(["multi_gateway", "multi_cpu", "multi_gpu"])
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_world_reports_the_gpu_or_says_there_is_none() {
    let app = start("01_hello_world").await;
    let stdout = call(&app, &["hello", "Ada"]).await;
    let has_gpu = std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_gpu {
        assert!(stdout.contains("detection: nvidia-smi"), "{stdout}");
        assert!(stdout.starts_with("Hello Ada, from a "), "{stdout}");
    } else {
        assert!(
            stdout.starts_with("Hello Ada, from a worker without a GPU"),
            "{stdout}"
        );
        assert!(stdout.contains("detection: no GPU"), "{stdout}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_worker_reports_the_real_cpu() {
    let app = start("02_cpu_worker").await;
    let stdout = call(&app, &["info", "Grace"]).await;
    let info: Value = serde_json::from_str(&stdout).expect("JSON info");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(info["cores"], json!(cores));
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        });
    assert_eq!(info["model"], json!(model));
    assert!(info["memory_mib"].as_u64().unwrap_or(0) > 0, "{info}");
    assert_eq!(info["greeting"], "Hello, Grace, from a CPU worker");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_serves_every_method_and_rejects_bad_input() {
    let app = start("05_load_balancer").await;
    let stdout = call(&app, &["demo"]).await;
    assert!(stdout.contains("transform: Hello Flash"), "{stdout}");
    assert!(
        stdout.contains("transform refused: unknown operation `explode`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("compute: Stats { sum: 10.0, mean: 2.5, sum_of_squares: 30.0 }"),
        "{stdout}"
    );

    let key = app.emulator.api_key().expose().to_owned();
    let base = endpoint(&app, "load_balancer_cpu").to_owned();
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let put = send(
        reqwest::Method::PUT,
        "/notes/7",
        Some(json!({"text": "hello"})),
    )
    .await
    .unwrap();
    assert_eq!(put.status(), 200);
    let patched: Value = send(
        reqwest::Method::PATCH,
        "/notes/7",
        Some(json!({"suffix": " world"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(patched, json!("hello world"));
    let got: Value = send(reqwest::Method::GET, "/notes/7", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!("hello world"));
    let deleted: Value = send(reqwest::Method::DELETE, "/notes/7", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted, json!(true));
    let missing = send(reqwest::Method::GET, "/notes/7", None).await.unwrap();
    assert_eq!(missing.status(), 500);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["app_error"], json!({"NoSuchNote": 7}));
    let bad = send(
        reqwest::Method::POST,
        "/transform",
        Some(json!({"text": "x"})),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    let error: Value = bad.json().await.unwrap();
    assert_eq!(
        error["error_message"],
        "argument `operation` of `transform_data`: missing"
    );
    let bad = send(reqwest::Method::GET, "/notes/not-a-number", None)
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let unauthorized = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    workers_listen_on_loopback_only(&app);
    app.stop().await;
}

/// Under the emulator a load-balanced worker binds 127.0.0.1 (`FLASH_BIND_ADDRESS`): its routes
/// answer without the endpoint's key, so they must not be reachable from the network.
fn workers_listen_on_loopback_only(app: &LocalApp) {
    let ports: Vec<u16> = app
        .emulator
        .snapshot()
        .endpoints
        .iter()
        .flat_map(|e| e.workers.iter().filter_map(|w| w.port))
        .collect();
    assert!(!ports.is_empty(), "no load-balanced worker port");
    // The address this machine would use towards the network; connecting a UDP socket sends
    // nothing.
    let outward = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip());
    let ip = match outward {
        Ok(ip) if !ip.is_loopback() && !ip.is_unspecified() => ip,
        other => {
            #[allow(clippy::print_stdout)] // says why the check is skipped
            {
                println!(
                    "skipped the non-loopback check: this machine has no outward address ({other:?})"
                );
            }
            return;
        }
    };
    let timeout = Duration::from_secs(2);
    for port in ports {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            std::net::TcpStream::connect_timeout(&local, timeout).is_ok(),
            "the worker answers on {local}"
        );
        let outside = std::net::SocketAddr::new(ip, port);
        assert!(
            std::net::TcpStream::connect_timeout(&outside, timeout).is_err(),
            "a load-balanced worker is reachable on {outside}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_volume_is_shared_between_the_writer_and_the_gallery() {
    let app = start("01_network_volumes").await;
    let stdout = call(&app, &["demo"]).await;
    assert!(stdout.contains("the gallery sees 1 image(s)"), "{stdout}");
    assert!(stdout.contains("served"), "{stdout}");
    let listed = call(&app, &["list"]).await;
    assert!(
        listed.contains("image-") && listed.contains(".svg"),
        "{listed}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoscaling_shows_a_cold_start_only_on_the_scale_to_zero_endpoint() {
    let app = start("01_autoscaling").await;
    let stdout = call(&app, &["load", "6"]).await;
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{stdout}"))
            .to_owned()
    };
    let cold = line("scale_to_zero");
    let warm = line("always_on");
    let numbers = |text: &str| -> Vec<f64> {
        text.split_whitespace()
            .filter_map(|word| word.parse::<f64>().ok())
            .collect()
    };
    let (cold_first, cold_median) = (numbers(&cold)[0], numbers(&cold)[1]);
    let warm_first = numbers(&warm)[0];
    assert!(
        cold_first > 2.0 * cold_median,
        "the first call waits for a worker to start: {stdout}"
    );
    assert!(
        cold_first > warm_first,
        "the always-on endpoint had a worker ready: {stdout}"
    );
    assert!(cold.ends_with("workers used 1"), "{stdout}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_are_present_at_run_time() {
    let app = start("04_dependencies").await;
    let stdout = call(&app, &["demo"]).await;
    // sha256 of "flash " x 200, computed here with the same crate.
    let expected = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest("flash ".repeat(200).as_bytes());
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(
        stdout.contains(&format!("sha256 {expected} over 1200 bytes")),
        "{stdout}"
    );
    let gzip_line = stdout
        .lines()
        .find(|l| l.starts_with("gzip 1200 -> "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let compressed: usize = gzip_line["gzip 1200 -> ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(compressed < 100, "{gzip_line}");
    assert!(gzip_line.contains("gzip"), "{gzip_line}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_to_speech_writes_a_playable_wav() {
    let setup = workspace().join("examples/01_text_to_speech/setup.sh");
    let installed = std::process::Command::new(&setup)
        .status()
        .expect("setup.sh runs");
    assert!(
        installed.success(),
        "examples/01_text_to_speech/setup.sh could not install espeak-ng"
    );
    let app = start("01_text_to_speech").await;
    let out = std::env::temp_dir().join(format!("flash-tts-test-{}.wav", std::process::id()));
    let stdout = call(
        &app,
        &[
            "say",
            "Hello from Flash, running on a local Runpod.",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let wav = std::fs::read(&out).expect("the WAV was written");
    let _ = std::fs::remove_file(&out);
    assert_eq!(&wav[0..4], b"RIFF", "{stdout}");
    assert_eq!(&wav[8..12], b"WAVE", "{stdout}");
    let duration_ms: u64 = stdout
        .split(", ")
        .find_map(|part| {
            part.strip_suffix(" ms\n")
                .or_else(|| part.strip_suffix(" ms"))
        })
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no duration in {stdout}"));
    assert!(
        duration_ms > 1000,
        "a sentence lasts more than a second: {stdout}"
    );
    let voices = call(&app, &["voices"]).await;
    assert!(
        voices.split_whitespace().any(|v| v.starts_with("en-")),
        "{voices}"
    );
    app.stop().await;
}

/// The local console in headless Chromium while 03_mixed_workers runs: the page (its key in
/// the URL fragment) lists the deployed endpoints and a finished job. The DOM and a screenshot
/// are kept in `$CARGO_TARGET_TMPDIR/console/`. Skipped, saying why, without Chromium
/// (Debian: `apt-get install chromium`; `.ci/run` installs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_endpoints_and_a_finished_job_in_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| which(name))
    else {
        #[allow(clippy::print_stdout)] // says why the test is skipped
        {
            println!("skipped: no chromium on PATH (apt-get install chromium)");
        }
        return;
    };
    let app = start("03_mixed_workers").await;
    let stdout = call(&app, &["demo"]).await;
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&out).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let url = app.emulator.console_url();
    let browse = |extra: &[String]| {
        let mut command = tokio::process::Command::new(&chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                // Nothing but the emulator resolves: the test never reaches the internet.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                // Time for the script's first polls to come back before the DOM is taken.
                "--virtual-time-budget=8000",
                "--window-size=1280,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    };
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        browse(&["--dump-dom".to_owned()]).output(),
    )
    .await
    .expect("chromium finished in time")
    .expect("chromium started");
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    std::fs::write(out.join("console.html"), &dom).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for endpoint in &app.report.endpoints {
        assert!(
            dom.contains(&format!("data-endpoint=\"{}\"", endpoint.resource)),
            "{} listed; DOM in {}",
            endpoint.resource,
            out.display()
        );
    }
    assert!(
        dom.contains("data-status=\"COMPLETED\""),
        "a finished job listed; DOM in {}",
        out.display()
    );
    assert!(dom.contains("live: updated"), "the page polled: {dom}");
    let key = app.emulator.api_key().expose().to_owned();
    assert!(!dom.contains(&key), "the key is not in the page");
    let shot = out.join("console.png");
    let _ = std::fs::remove_file(&shot);
    let status = tokio::time::timeout(
        Duration::from_secs(120),
        browse(&[format!("--screenshot={}", shot.display())]).status(),
    )
    .await
    .expect("chromium finished in time")
    .expect("chromium started");
    assert!(status.success() && shot.exists(), "screenshot written");
    #[allow(clippy::print_stdout)] // where to look
    {
        println!("console DOM and screenshot in {}", out.display());
    }
    app.stop().await;
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// The client of a queue endpoint of `app`, by the URL the deploy published.
fn queue_client(app: &LocalApp, resource: &str) -> runpod_flash::client::QueueEndpoint {
    let url = endpoint(app, resource);
    let (base, id) = url.rsplit_once('/').expect("{base}/{id}");
    runpod_flash::client::QueueEndpoint::builder(id)
        .base_url(base)
        .api_key(app.emulator.api_key().clone())
        .poll_interval(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap()
}

/// Runs the example's binary as a caller; its stdout as JSON lines, its exit code and stderr.
async fn call_lines(app: &LocalApp, args: &[&str]) -> (Vec<Value>, Option<i32>, String) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let output = tokio::time::timeout(Duration::from_secs(120), app.caller(&args).output())
        .await
        .expect("the caller finished in time")
        .expect("the caller started");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (lines, output.status.code(), stderr)
}

fn tokens_of(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["token"].as_str()).collect()
}

/// Milliseconds between the first and the last token's arrival at the caller.
fn spread_ms(lines: &[Value]) -> u64 {
    let at: Vec<u64> = lines.iter().filter_map(|l| l["ms"].as_u64()).collect();
    at.last().unwrap() - at.first().unwrap()
}

/// The status of the newest job of `resource`'s endpoint, and whether its workers hold none.
fn newest_job(app: &LocalApp, resource: &str) -> (Value, bool) {
    let snapshot = app.emulator.snapshot();
    let endpoint = snapshot
        .endpoints
        .iter()
        .find(|e| e.name.contains(resource))
        .unwrap_or_else(|| panic!("no endpoint {resource}"));
    let job = endpoint.jobs.last().expect("a job");
    let idle = endpoint.workers.iter().all(|w| w.jobs.is_empty());
    (serde_json::to_value(job.status).unwrap(), idle)
}

async fn wait_for_cancelled(app: &LocalApp, resource: &str, within: Duration) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let (status, idle) = newest_job(app, resource);
        if status == "CANCELLED" && idle {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the job is {status} (workers idle: {idle}) {within:?} after its caller let go"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The streaming functions through their stubs, as the example's caller uses them: tokens as
/// they are produced (queue and load-balanced), a typed error mid-stream, cancel on drop, the
/// caller's deadline.
async fn streaming_stubs(app: &LocalApp) {
    for via in [&[][..], &["--chat"][..]] {
        let mut args = vec!["stream", "one two three", "--max", "15"];
        args.extend_from_slice(via);
        let (lines, code, stderr) = call_lines(app, &args).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        let tokens = tokens_of(&lines);
        assert_eq!(tokens.len(), 15, "{args:?}: {lines:?}");
        assert_eq!(&tokens[..3], ["one#0 ", "two#1 ", "three#2 "]);
        // 14 pauses of 100 ms separate the first token from the last: a caller that got them
        // all at the end would see them within a few milliseconds of each other.
        assert!(
            spread_ms(&lines) >= 1000,
            "{args:?}: not streamed: {lines:?}"
        );

        let mut args = vec!["stream", "a b forbidden", "--max", "6"];
        args.extend_from_slice(via);
        let (lines, code, stderr) = call_lines(app, &args).await;
        assert_eq!(
            code,
            Some(3),
            "{args:?}: the typed error: {lines:?} {stderr}"
        );
        assert_eq!(tokens_of(&lines), ["a#0 ", "b#1 "], "{args:?}");
        assert_eq!(lines.last().unwrap()["refused"], "forbidden", "{args:?}");
    }
    let produced_at_full_length = Duration::from_millis(40 * 100);

    // Dropping the stream after three tokens cancels the job: the worker stops producing.
    let (lines, code, stderr) =
        call_lines(app, &["stream", "x y", "--max", "40", "--take", "3"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(tokens_of(&lines), ["x#0 ", "y#1 ", "x#2 "]);
    let took = wait_for_cancelled(app, "generator", Duration::from_secs(3)).await;
    assert!(
        took < produced_at_full_length,
        "cancelled only after {took:?}"
    );

    // The caller's deadline ends the stream with its error and cancels the job.
    let (lines, code, stderr) = call_lines(
        app,
        &["stream", "x y", "--max", "40", "--deadline-ms", "700"],
    )
    .await;
    assert_eq!(code, Some(1), "{lines:?} {stderr}");
    let got = tokens_of(&lines).len();
    assert!(
        (1..20).contains(&got),
        "{got} tokens within 700 ms: {lines:?}"
    );
    assert!(stderr.contains("deadline passed"), "{stderr}");
    wait_for_cancelled(app, "generator", Duration::from_secs(3)).await;

    // The load-balanced route itself, as curl sees it: server-sent events as they come.
    let url = format!("{}/chat", endpoint(app, "chat"));
    let mut response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(app.emulator.api_key().expose())
        .json(&json!({"prompt": "p q", "max_tokens": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "{:?}",
        response.headers()
    );
    let mut body = String::new();
    let mut chunks = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        chunks += 1;
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_eq!(
        body,
        "data: \"p#0 \"\n\ndata: \"q#1 \"\n\ndata: \"p#2 \"\n\ndata: \"q#3 \"\n\nevent: end\ndata: {}\n\n"
    );
    assert!(
        chunks >= 4,
        "the events came in {chunks} chunks, not as produced"
    );
    let refused = reqwest::Client::new()
        .post(&url)
        .bearer_auth(app.emulator.api_key().expose())
        .json(&json!({"prompt": "forbidden", "max_tokens": 4}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.starts_with("event: error\ndata: {"), "{refused}");
    assert!(
        refused.contains(r#""app_error":{"Refused":{"word":"forbidden"}}"#),
        "{refused}"
    );
    let bad = reqwest::Client::new()
        .post(&url)
        .bearer_auth(app.emulator.api_key().expose())
        .json(&json!({"prompt": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        400,
        "bad arguments are refused before any event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // says why the SDK part skips
async fn streaming_tokens_progress_and_webhooks() {
    use futures_util::StreamExt;
    use runpod_flash::client::{JobState, RunOptions as JobOptions};

    let app = start("06_streaming").await;
    let generator = queue_client(&app, "generator");
    let job = generator
        .run(&json!({"prompt": "one two three", "max_tokens": 20}))
        .await
        .unwrap();
    let mut stream = job.stream::<String>();
    let first = tokio::time::timeout(Duration::from_secs(60), stream.next())
        .await
        .expect("a first token within a minute (cold start included)")
        .unwrap()
        .unwrap();
    assert_eq!(first, "one#0 ");
    // The first token is here while the worker is still producing the rest (100 ms a token,
    // 1.9 s to go; the stream's polls are at most 1 s apart).
    let status = job.status().await.unwrap();
    assert_eq!(status.status, JobState::InProgress, "{status:?}");
    let mut tokens = vec![first];
    while let Some(token) = stream.next().await {
        tokens.push(token.unwrap());
    }
    assert_eq!(tokens.len(), 20, "{tokens:?}");
    let output: Vec<String> = job.wait(Duration::from_secs(10)).await.unwrap();
    assert_eq!(output, tokens, "the output aggregates the stream");
    let stdout = call(&app, &["stream-job", "hello there"]).await;
    assert!(stdout.starts_with("hello#0 there#1 hello#2"), "{stdout}");
    streaming_stubs(&app).await;

    // The long job: progress while it runs, the webhook when it ends.
    let hooks: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = std::sync::Arc::default();
    let seen = std::sync::Arc::clone(&hooks);
    let receiver = axum::Router::new().route(
        "/done",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let seen = std::sync::Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/done", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let renderer = queue_client(&app, "renderer");
    let job = renderer
        .run_with(&json!({"frames": 6}), &JobOptions::new().webhook(&hook))
        .await
        .unwrap();
    let mut frames_seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = job.status().await.unwrap();
        if status.status.is_final() {
            break;
        }
        if let Some(progress) = status.progress::<Value>() {
            let frame = progress.unwrap()["frame"].as_u64().unwrap();
            if frames_seen.last() != Some(&frame) {
                frames_seen.push(frame);
            }
        }
        assert!(std::time::Instant::now() < deadline, "render did not end");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        frames_seen.len() >= 2,
        "progress seen while running: {frames_seen:?}"
    );
    assert!(
        frames_seen.windows(2).all(|w| w[0] < w[1]),
        "{frames_seen:?}"
    );
    let done: Value = job.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(done, json!({"frames": 6}));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let delivered = loop {
        let got = hooks.lock().unwrap().clone();
        if !got.is_empty() || std::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["status"], "COMPLETED");
    assert_eq!(delivered[0]["output"], json!({"frames": 6}));
    server.abort();

    // The official runpod 1.12 client streams the Rust worker's tokens too.
    match support::python::venv_python().await {
        Err(why) => eprintln!("skipping the runpod SDK client part: {why}"),
        Ok(python) => {
            let script = r#"
import json, sys
import runpod
runpod.api_key, runpod.endpoint_url_base = sys.argv[1], sys.argv[2]
job = runpod.Endpoint(sys.argv[3]).run({"prompt": "py rs", "max_tokens": 4})
print(json.dumps({"chunks": list(job.stream()), "output": job.output(timeout=30)}))
"#;
            let url = endpoint(&app, "generator");
            let (base, id) = url.rsplit_once('/').unwrap();
            let out = tokio::process::Command::new(&python)
                .args(["-c", script, app.emulator.api_key().expose(), base, id])
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("NO_PROXY", "127.0.0.1")
                .kill_on_drop(true)
                .output();
            let out = tokio::time::timeout(Duration::from_secs(60), out)
                .await
                .expect("the SDK client finishes")
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let got: Value = serde_json::from_str(stdout.trim()).unwrap();
            let expected = json!(["py#0 ", "rs#1 ", "py#2 ", "rs#3 "]);
            assert_eq!(got["chunks"], expected);
            assert_eq!(got["output"], expected);
        }
    }
    app.stop().await;
}
