//! Shared helpers of the emulator's integration tests.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::time::Duration;

use flash_contract::artifact::{Member, pack};
use flash_contract::files::MANIFEST_FILE;
use flash_emulator::{EmulatorHandle, Snapshot};
use runpod_flash::ApiKey;
use serde_json::{Value, json};

pub const KEY: &str = "test-key-123";

pub async fn start() -> EmulatorHandle {
    start_with(flash_emulator::Emulator::builder()).await
}

pub async fn start_with(b: flash_emulator::EmulatorBuilder) -> EmulatorHandle {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    b.api_key(ApiKey::new(KEY).unwrap())
        .boot_command(flash_emulator::BootCommand::new(boot_binary()))
        .take_timeout(Duration::from_secs(1))
        .lb_wait(Duration::from_secs(20))
        .start()
        .await
        .expect("emulator starts")
}

/// The worker image's boot step, `flash-boot` (built once when `cargo test` did not build it).
pub fn boot_binary() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> -> target/<profile>/flash-boot
        let path = exe
            .parent()
            .and_then(std::path::Path::parent)
            .expect("target directory")
            .join("flash-boot");
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args(["build", "-p", "flash-boot", "--bin", "flash-boot"])
                .status()
                .expect("cargo build runs");
            assert!(status.success(), "building flash-boot failed");
        }
        path
    })
}

/// The default CPU image (`docker/Dockerfile.cpu`), which the emulator runs through the boot step.
pub fn image() -> String {
    flash_contract::images::default_image(false, None)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Runs a GraphQL operation; returns the whole response body.
pub async fn gql_raw(emu: &EmulatorHandle, query: &str, variables: Value) -> Value {
    http()
        .post(emu.graphql_url())
        .bearer_auth(KEY)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs a GraphQL operation that must succeed; returns `data`.
pub async fn gql(emu: &EmulatorHandle, query: &str, variables: Value) -> Value {
    let r = gql_raw(emu, query, variables).await;
    assert!(r.get("errors").is_none(), "GraphQL errors: {r}");
    r["data"].clone()
}

/// The artifact of the test worker: manifest with `entrypoint` + the binary.
pub fn artifact() -> Vec<u8> {
    let bin = std::fs::read(env!("CARGO_BIN_EXE_flash-emulator-test-worker")).unwrap();
    let manifest =
        json!({"version": "1.0", "project_name": "demo", "entrypoint": "bin/app", "resources": {}});
    pack(&[
        Member::file(MANIFEST_FILE, manifest.to_string(), 0o644),
        Member::file("bin/app", bin, 0o755),
    ])
    .unwrap()
}

/// Creates an app and its `production` environment. Returns (app id, env id).
pub async fn create_app_env(emu: &EmulatorHandle, app: &str) -> (String, String) {
    let d = gql(
        emu,
        "mutation($i: CreateFlashAppInput!) { createFlashApp(input: $i) { id name } }",
        json!({"i": {"name": app}}),
    )
    .await;
    let app_id = d["createFlashApp"]["id"].as_str().unwrap().to_owned();
    let d = gql(
        emu,
        "mutation($i: CreateFlashEnvironmentInput!) { createFlashEnvironment(input: $i) { id name } }",
        json!({"i": {"flashAppId": app_id, "name": "production"}}),
    )
    .await;
    let env_id = d["createFlashEnvironment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (app_id, env_id)
}

/// Uploads `tar` as an artifact of `app_id` and finalizes it. Returns (build id, object key).
pub async fn upload_build(emu: &EmulatorHandle, app_id: &str, tar: Vec<u8>) -> (String, String) {
    let d = gql(
        emu,
        "mutation PrepareArtifactUpload($input: PrepareFlashArtifactUploadInput!) { prepareFlashArtifactUpload(input: $input) { uploadUrl objectKey expiresAt } }",
        json!({"input": {"flashAppId": app_id, "tarballSize": tar.len()}}),
    )
    .await;
    let url = d["prepareFlashArtifactUpload"]["uploadUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = d["prepareFlashArtifactUpload"]["objectKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = http()
        .put(&url)
        .header("Content-Type", "application/gzip")
        .body(tar)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let d = gql(
        emu,
        "mutation FinalizeArtifactUpload($input: FinalizeFlashArtifactUploadInput!) { finalizeFlashArtifactUpload(input: $input) { id manifest } }",
        json!({"input": {"flashAppId": app_id, "objectKey": key, "manifest": {"entrypoint": "bin/app", "resources": {}}}}),
    )
    .await;
    let build_id = d["finalizeFlashArtifactUpload"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (build_id, key)
}

/// `deployBuildToEnvironment`; returns its answer.
pub async fn activate(emu: &EmulatorHandle, env_id: &str, build_id: &str) -> Value {
    gql(
        emu,
        "mutation deployBuildToEnvironment($input: DeployBuildToEnvironmentInput!) { deployBuildToEnvironment(input: $input) { id name activeBuildId activeArtifact { objectKey downloadUrl expiresAt } } }",
        json!({"input": {"flashEnvironmentId": env_id, "flashBuildId": build_id}}),
    )
    .await["deployBuildToEnvironment"]
        .clone()
}

/// Creates app + env, uploads the test-worker artifact, finalizes and deploys it.
/// Returns (app id, env id, build id).
pub async fn deploy(emu: &EmulatorHandle, app: &str) -> (String, String, String) {
    let (app_id, env_id) = create_app_env(emu, app).await;
    let (build_id, key) = upload_build(emu, &app_id, artifact()).await;
    let d = activate(emu, &env_id, &build_id).await;
    assert_eq!(d["activeArtifact"]["objectKey"], key.as_str());
    (app_id, env_id, build_id)
}

/// A complete inline template (the five fields both official clients always send) named `name`,
/// with `env` as `[{key, value}]`.
pub fn template(name: &str, env: &[(&str, &str)]) -> Value {
    let env: Vec<Value> = env
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    json!({"name": name, "imageName": image(), "containerDiskInGb": 10,
           "dockerArgs": "", "env": env})
}

pub const SAVE_ENDPOINT: &str = "mutation saveEndpoint($input: EndpointInput!) { saveEndpoint(input: $input) { aiKey gpuIds id idleTimeout locations name networkVolumeId networkVolumeIds { networkVolumeId dataCenterId } flashEnvironmentId scalerType scalerValue templateId type userId version workersMax workersMin workersStandby workersPFBTarget gpuCount allowedCudaVersions minCudaVersion executionTimeoutMs instanceIds activeBuildid idePodId flashBootType } }";

/// Saves an endpoint; returns the `saveEndpoint` object.
pub async fn save_endpoint(emu: &EmulatorHandle, input: Value) -> Value {
    gql(emu, SAVE_ENDPOINT, json!({"input": input})).await["saveEndpoint"].clone()
}

/// Deploys the app `shop` and saves its load-balanced endpoint `gateway` (one worker, the test
/// worker) in that environment; returns the environment's id.
#[allow(dead_code)] // not every test binary has a gateway
pub async fn deploy_shop_gateway(emu: &EmulatorHandle) -> String {
    let (_, env_id, _) = deploy(emu, "shop").await;
    save_endpoint(
        emu,
        json!({"name": "gateway", "type": "LB", "workersMin": 1, "workersMax": 1, "idleTimeout": 60,
               "flashEnvironmentId": env_id, "template": template("gateway", &[])}),
    )
    .await;
    env_id
}

/// Polls `f` every 50 ms until it returns `Some`, up to `secs` seconds.
pub async fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn endpoint_snapshot(s: &Snapshot, id: &str) -> Option<flash_emulator::EndpointSnapshot> {
    s.endpoints.iter().find(|e| e.id == id).cloned()
}

/// POST `{base}/{ep}/{op}` with the Bearer key.
pub async fn dp_post(emu: &EmulatorHandle, ep: &str, op: &str, body: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}/{ep}/{op}", emu.endpoint_base_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// GET `{base}/{ep}/{op}` with the Bearer key.
pub async fn dp_get(emu: &EmulatorHandle, ep: &str, op: &str) -> (u16, Value) {
    let r = http()
        .get(format!("{}/{ep}/{op}", emu.endpoint_base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Polls `/status` until the job is final.
pub async fn wait_final(emu: &EmulatorHandle, ep: &str, job: &str, secs: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (code, body) = dp_get(emu, ep, &format!("status/{job}")).await;
        assert_eq!(code, 200, "{body}");
        let s = body["status"].as_str().unwrap_or("").to_owned();
        if !["IN_QUEUE", "IN_PROGRESS"].contains(&s.as_str()) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {job} not final: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

/// The test acting as a worker of an endpoint over the job plane (raw key, as the SDK sends it).
pub struct Worker {
    pub base: String,
    pub key: String,
}

impl Worker {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = http()
            .get(format!("{}/{path}", self.base))
            .header("Authorization", &self.key)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }
    pub async fn post(&self, path: &str, body: Value) -> u16 {
        http()
            .post(format!("{}/{path}", self.base))
            .header("Authorization", &self.key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("charset", "utf-8")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
