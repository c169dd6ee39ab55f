//! The developer's loop against a real emulator and real processes on 127.0.0.1: `flash logs`
//! (once and `--follow`), `flash login` (the device flow, approved at once by the emulator).
#![allow(missing_docs)]

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flash_cli::deploy::{DeployOptions, deploy};
use flash_cli::project::Project;
use flash_emulator::{Emulator, EmulatorHandle};
use runpod_flash::ApiKey;
use serde_json::{Value, json};

const KEY: &str = "devloop-test-key";

/// One queue resource, `worker`, run by the emulator's test worker.
fn manifest() -> Value {
    json!({
        "version": "1.0",
        "project_name": "devloop",
        "entrypoint": "bin/app",
        "resources": {
            "worker": {
                "resource_type": "LiveServerless",
                "functions": [{"name": "work", "module": "app", "is_async": true, "is_class": false}],
                "is_load_balanced": false,
                "makes_remote_calls": false,
                "workersMin": 0,
                "workersMax": 1,
                "idleTimeout": 30,
            },
        },
        "function_registry": {"work": "worker"},
    })
}

async fn deployed() -> (EmulatorHandle, tempfile::TempDir, String) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"devloop\"\n",
    )
    .unwrap();
    support::write_build(dir.path(), &manifest());
    let options = DeployOptions {
        app: "devloop".to_owned(),
        env: "dev".to_owned(),
        api_base_url: emu.api_base_url().to_owned(),
        endpoint_base_url: emu.endpoint_base_url(),
        lb_url_template: emu.lb_url_template(),
        rest_api_url: emu.rest_api_url(),
        api_key: ApiKey::new(KEY),
    };
    let report = deploy(&Project::at(dir.path()), &options)
        .await
        .expect("deploys");
    let url = report.endpoints[0].url.clone();
    (emu, dir, url)
}

/// `/runsync` of `input` at the endpoint `url`; the COMPLETED job.
async fn runsync(url: &str, key: &str, input: Value) -> Value {
    let done: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{url}/runsync"))
        .bearer_auth(key)
        .json(&json!({ "input": input }))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("runsync")
        .json()
        .await
        .expect("JSON");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    done
}

/// Runs a job that makes the worker print `job {id} op "echo"`; its id.
async fn echo_job(url: &str) -> String {
    let done = runsync(url, KEY, json!({"op": "echo", "value": 1})).await;
    done["id"].as_str().unwrap().to_owned()
}

/// `flash` with the emulator as its target and a home of its own (no user config read).
fn flash(emu: &EmulatorHandle, home: &Path) -> Command {
    let mut command = Command::new(support::flash_binary());
    command
        .env("RUNPOD_API_BASE_URL", emu.api_base_url())
        .env("RUNPOD_API_KEY", KEY)
        .env("HOME", home)
        .env("CI", "true");
    command
}

/// Stops and reaps a child when the test ends, however it ends: SIGTERM first (a `flash run`
/// then stops its workers and removes its emulator's temporary state), SIGKILL after 15 s.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_prints_kept_lines_and_follow_sees_a_new_one() {
    let (emu, dir, url) = deployed().await;
    let first = echo_job(&url).await;

    let output = tokio::task::block_in_place(|| {
        flash(&emu, dir.path())
            .args(["logs", "worker", "--json"])
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let job_line = lines
        .iter()
        .find(|l| {
            l["line"]
                .as_str()
                .unwrap()
                .contains(&format!("job {first}"))
        })
        .unwrap_or_else(|| panic!("the job's line is kept: {stdout}"));
    assert_eq!(job_line["endpointName"], "worker");
    assert_eq!(job_line["stream"], "stdout");
    assert!(job_line["time"].as_str().unwrap().ends_with('Z'));
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));

    let human = tokio::task::block_in_place(|| {
        flash(&emu, dir.path())
            .args(["logs", "--since", "10m"])
            .output()
            .unwrap()
    });
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("[worker/") && l.contains(&format!("job {first}"))),
        "{text}"
    );
    let other = tokio::task::block_in_place(|| {
        flash(&emu, dir.path())
            .args(["logs", "no-such-resource"])
            .output()
            .unwrap()
    });
    assert!(other.status.success() && other.stdout.is_empty());

    let mut follow = Reaped(
        flash(&emu, dir.path())
            .args(["logs", "worker", "--follow", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(follow.0.stdout.take().unwrap());
    // The backlog first: once the old job's line is out, the follow loop is running.
    wait_for(&rx, &format!("job {first}"));
    let second = echo_job(&url).await;
    let seen = tokio::task::block_in_place(|| wait_for(&rx, &format!("job {second}")));
    let seen: Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["endpointName"], "worker");
    drop(follow);
    emu.shutdown().await;
}

/// The first line from `rx` containing `needle` (panics after 30 s).
fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {needle:?} ({e})"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_refuses_runpod_and_bad_since_clearly() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], base: &str| {
        Command::new(support::flash_binary())
            .args(args)
            .env("RUNPOD_API_BASE_URL", base)
            .env("RUNPOD_API_KEY", "rpa_NEVER_PRINTED")
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    // Refused before any request: this test never reaches the internet.
    let output = run(&["logs"], "https://api.runpod.io");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("no public API"), "{stderr}");
    assert!(!stderr.contains("rpa_NEVER_PRINTED"));
    let output = run(&["logs", "--since", "soon"], "http://127.0.0.1:9");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--since \"soon\""), "{stderr}");
    // A server without the route is not an emulator.
    let emu = Emulator::builder().start().await.unwrap();
    let other = format!("{}/v2", emu.api_base_url());
    let output = tokio::task::block_in_place(|| run(&["logs"], &other));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("serves no worker logs"), "{stderr}");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_the_key_privately_and_later_commands_use_it() {
    let emu = Emulator::builder().start().await.unwrap();
    let key = emu.api_key().expose().to_owned();
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(support::flash_binary())
            .args(args)
            .env_remove("RUNPOD_API_KEY")
            .env("RUNPOD_API_BASE_URL", emu.api_base_url())
            .env("RUNPOD_CONSOLE_URL", "http://console.invalid")
            .env("HOME", home.path())
            .env("CI", "true")
            .output()
            .unwrap()
    };
    let output = tokio::task::block_in_place(|| run(&["login", "--timeout", "30"]));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("Logged in."), "{stdout}");
    assert!(
        stderr.contains("http://console.invalid/flash/login?request=far_"),
        "{stderr}"
    );
    assert!(
        !stdout.contains(&key) && !stderr.contains(&key),
        "the key is never printed"
    );

    let path = home.path().join(".runpod").join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let saved = flash_cli::deploy::credentials::api_key_from_toml(&text).unwrap();
    assert_eq!(saved.expose(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }

    // Without RUNPOD_API_KEY, the saved key is what the next command sends.
    let output = tokio::task::block_in_place(|| run(&["app", "list", "--json"]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Only the login operations are anonymous.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let anonymous = http
        .post(format!("{}/graphql", emu.api_base_url()))
        .json(&json!({"query": "query { myself { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    emu.shutdown().await;
}

/// Off a terminal (and with CI set), `flash deploy` reports plain lines on stderr: its steps,
/// the upload's size once sent, each endpoint's final state; `--json` keeps stdout pure JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_progress_is_plain_lines_off_a_terminal() {
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"devloop\"\n",
    )
    .unwrap();
    support::write_build(dir.path(), &manifest());
    let size = std::fs::metadata(dir.path().join(".flash/artifact.tar.gz"))
        .unwrap()
        .len();
    let output = tokio::task::block_in_place(|| {
        flash(&emu, dir.path())
            .args(["deploy", "--env", "progress", "--json"])
            .current_dir(dir.path())
            .env("RUNPOD_ENDPOINT_BASE_URL", emu.endpoint_base_url())
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is the JSON report");
    let id = report["endpoints"][0]["endpoint_id"].as_str().unwrap();
    for line in [
        "  app devloop, environment progress".to_owned(),
        format!("  uploaded {size} bytes"),
        format!("  worker: created ({id})"),
        "  publishing endpoint URLs".to_owned(),
    ] {
        assert!(stderr.lines().any(|l| l == line), "{line:?} in:\n{stderr}");
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal escapes off a terminal"
    );
    assert!(!stderr.contains(KEY));
    emu.shutdown().await;
}

/// A one-resource app answering `answer` with `text`, depending on this checkout's runtime.
fn watched_app_source(text: &str) -> String {
    format!(
        r#"use runpod_flash::{{FlashError, Resource, remote}};

const ANSWER: Resource = Resource::queue("answer").cpu(&["cpu3c-1-2"]).workers(0, 1);

#[remote(ANSWER)]
async fn answer() -> Result<String, FlashError> {{
    Ok("{text}".to_owned())
}}

#[tokio::main]
async fn main() -> std::process::ExitCode {{
    if let Some(exit) = runpod_flash::worker::serve_if_worker().await {{
        return exit;
    }}
    std::process::ExitCode::SUCCESS
}}
"#
    )
}

fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Asks the `answer` endpoint; its output.
async fn answer(url: &str, key: &str) -> Value {
    runsync(url, key, json!({"__empty": true})).await["output"].clone()
}

/// `flash run --watch`: an edit is rebuilt and redeployed to the same emulator (same URL, same
/// key) and answers; a broken edit prints the compiler's error and the last good build keeps
/// answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_watch_redeploys_an_edit_and_survives_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"flash-watch-fixture\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
             publish = false\n\n[dependencies]\nrunpod-flash = {{ path = \"{}\" }}\n\
             tokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\n[workspace]\n",
            workspace().join("crates/flash").display()
        ),
    )
    .unwrap();
    // The workspace's lock: the same versions as already built, nothing fetched.
    std::fs::copy(workspace().join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    let main_rs = root.join("src/main.rs");
    std::fs::write(&main_rs, watched_app_source("v1")).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), std::path::PathBuf::from);
    let home = tempfile::tempdir().unwrap();

    let mut run = Reaped(
        Command::new(support::flash_binary())
            .args(["run", "--watch", "--quiet", "--project"])
            .arg(root)
            .env("CARGO_TARGET_DIR", &target)
            .env("HOME", home.path())
            .env_remove("RUNPOD_API_KEY")
            .env("CI", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(run.0.stderr.take().unwrap());
    let wait = |needle: &str| tokio::task::block_in_place(|| wait_long(&rx, needle));
    let (before, banner) = wait("local Runpod:");
    let key = banner.rsplit("key ").next().unwrap().trim().to_owned();
    let (_, endpoint) = wait("  answer ");
    let url = endpoint.split_whitespace().last().unwrap().to_owned();
    wait("watching ");
    assert_eq!(answer(&url, &key).await, "v1", "{before:?}");

    std::fs::write(&main_rs, watched_app_source("v2")).unwrap();
    let (_, redeployed) = wait("redeployed build");
    assert!(redeployed.contains("answer updated"), "{redeployed}");
    // A rolling release: an old idle worker may take a job until the supervisor's next tick
    // stops it; then the new build answers, at the same URL with the same key.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = answer(&url, &key).await;
        if seen == "v2" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {seen} 30 s after the redeploy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    std::fs::write(&main_rs, watched_app_source("v3").replace("Ok(", "Ok(((")).unwrap();
    let (seen, failed) = wait("the new build failed");
    assert!(failed.contains("last good build keeps serving"), "{failed}");
    assert!(
        seen.iter().any(|l| l.contains("error")),
        "the compiler's errors are printed: {seen:?}"
    );
    assert_eq!(
        answer(&url, &key).await,
        "v2",
        "the last good build still answers"
    );

    // SIGTERM: `flash run` stops its workers and the emulator, then exits by itself.
    let pid = run.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "flash run did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lines from `rx` up to and including the first containing `needle` (panics after 5 min: the
/// first build compiles the app).
fn wait_long(rx: &mpsc::Receiver<String>, needle: &str) -> (Vec<String>, String) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return (seen, line),
            Ok(line) => seen.push(line),
            Err(e) => panic!("no line with {needle:?} ({e}); saw:\n{}", seen.join("\n")),
        }
    }
}

/// Every OTLP/HTTP export request a receiver on 127.0.0.1 got.
async fn otlp_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    tokio::task::JoinHandle<()>,
) {
    use axum::routing::post;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = axum::Router::new().route(
        "/v1/traces",
        post({
            let got = std::sync::Arc::clone(&got);
            move |body: axum::Json<Value>| async move {
                got.lock().unwrap().push(body.0);
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got, server)
}

/// One exported span: (service, trace id, span id, parent span id, kind, name).
type SpanRow = (String, String, String, Option<String>, u64, String);

fn spans(requests: &[Value]) -> Vec<SpanRow> {
    let mut rows = Vec::new();
    for request in requests {
        for rs in request["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap()
                .to_owned();
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    rows.push((
                        service.clone(),
                        s["traceId"].as_str().unwrap().to_owned(),
                        s["spanId"].as_str().unwrap().to_owned(),
                        s["parentSpanId"].as_str().map(str::to_owned),
                        s["kind"].as_u64().unwrap(),
                        s["name"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
    }
    rows
}

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, `flash run -- demo` on 03_mixed_workers exports the
/// caller's and every worker's spans, and one call through three endpoints is one trace: one
/// root (the caller's), each server span the child of the client span that called it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_sees_one_trace_across_three_endpoints() {
    let (url, got, server) = otlp_receiver().await;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), std::path::PathBuf::from);
    let home = tempfile::tempdir().unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(support::flash_binary())
            .args(["run", "--quiet", "--project"])
            .arg(workspace().join("examples/03_mixed_workers"))
            .args(["--", "demo"])
            .env("CARGO_TARGET_DIR", &target)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &url)
            .env("HOME", home.path())
            .env_remove("RUNPOD_API_KEY")
            .env("CI", "true")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("flash run finished in time")
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = spans(&got.lock().unwrap());
    server.abort();
    let mut traces: std::collections::BTreeMap<&str, Vec<&SpanRow>> = Default::default();
    for row in &rows {
        traces.entry(row.1.as_str()).or_default().push(row);
    }
    let (trace, members) = traces
        .iter()
        .find(|(_, members)| {
            let services: std::collections::BTreeSet<&str> =
                members.iter().map(|r| r.0.as_str()).collect();
            services.len() >= 4
        })
        .unwrap_or_else(|| panic!("no trace spans the caller and three endpoints: {rows:#?}"));
    let roots: Vec<_> = members.iter().filter(|r| r.3.is_none()).collect();
    assert_eq!(roots.len(), 1, "one root in {trace}: {members:#?}");
    assert_eq!(roots[0].4, 3, "the root is the caller's client span");
    for span in members.iter().filter(|r| r.3.is_some()) {
        let parent = members
            .iter()
            .find(|p| Some(&p.2) == span.3.as_ref())
            .unwrap_or_else(|| panic!("the parent of {span:?} is in the trace: {members:#?}"));
        if span.4 == 2 {
            assert_eq!(parent.4, 3, "a server span's parent is a client span");
            assert_ne!(parent.0, span.0, "and in the calling process");
        }
    }
}

/// The lines `reader` gives, read on a thread of their own.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}
