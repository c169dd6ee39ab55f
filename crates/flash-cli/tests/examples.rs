//! Every example, built with `flash build`, deployed with `flash deploy`'s code to the local
//! Runpod emulator, and run through its workflow: real worker processes, real HTTP on
//! 127.0.0.1, real GraphQL. The emulator and every worker stop at the end of each test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use flash_cli::build::BuildOptions;
use flash_cli::project::Project;
use flash_cli::run::{LocalApp, RunOptions};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
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
