//! `flash deploy`, `flash undeploy`, `flash env` and `flash app` against an in-process emulator.
//!
//! The artifact is built here (not by `flash build`): the emulator's test worker binary plus a
//! manifest naming it as the entrypoint.
#![allow(missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flash_cli::deploy::{self, DeployError, DeployOptions, EndpointAction};
use flash_cli::manage;
use flash_cli::project::Project;
use flash_cli::undeploy::{self, UndeployTarget};
use flash_emulator::{Emulator, EmulatorHandle};
use runpod_flash::ApiKey;
use runpod_flash::state_manager::{StateManagerClient, StateManagerConfig};
use serde_json::{Value, json};

const KEY: &str = "deploy-test-key";

fn resource(load_balanced: bool, remote: bool, function: &str) -> Value {
    let mut f = json!({"name": function, "module": "app", "is_async": true, "is_class": false});
    if load_balanced {
        f["http_method"] = json!("POST");
        f["http_path"] = json!("/echo");
    }
    json!({
        "resource_type": if load_balanced { "CpuLiveLoadBalancer" } else { "LiveServerless" },
        "functions": [f],
        "is_load_balanced": load_balanced,
        "makes_remote_calls": remote,
        "workersMin": 0,
        "workersMax": 1,
        "idleTimeout": 5,
        "env": {"GREETING": "hi"},
    })
}

/// The default manifest: a queue worker and a load-balanced API that calls it.
fn manifest() -> Value {
    json!({
        "version": "1.0",
        "project_name": "demo",
        "entrypoint": "bin/app",
        "resources": {
            "api": resource(true, true, "route"),
            "worker": resource(false, false, "work"),
        },
        "function_registry": {"route": "api", "work": "worker"},
        "routes": {"api": {"POST /echo": "route"}},
    })
}

struct Setup {
    emu: EmulatorHandle,
    dir: tempfile::TempDir,
    project: Project,
    options: DeployOptions,
}

async fn setup() -> Setup {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(1))
        .lb_wait(Duration::from_secs(30))
        .start()
        .await
        .expect("emulator starts");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"demo\"\n",
    )
    .unwrap();
    support::write_build(dir.path(), &manifest());
    let project = Project::at(dir.path());
    let options = DeployOptions {
        app: "demo".to_owned(),
        env: "dev".to_owned(),
        api_base_url: emu.api_base_url().to_owned(),
        endpoint_base_url: emu.endpoint_base_url(),
        lb_url_template: emu.lb_url_template(),
        rest_api_url: emu.rest_api_url(),
        api_key: ApiKey::new(KEY),
    };
    Setup {
        emu,
        dir,
        project,
        options,
    }
}

fn client(emu: &EmulatorHandle) -> StateManagerClient {
    StateManagerClient::new(StateManagerConfig {
        base_url: emu.api_base_url().to_owned(),
        api_key: ApiKey::new(KEY),
        ..StateManagerConfig::default()
    })
    .unwrap()
}

/// Names of the endpoint-touching mutations received so far.
fn endpoint_mutations(emu: &EmulatorHandle) -> Vec<String> {
    emu.graphql_log()
        .into_iter()
        .filter(|c| c.mutation)
        .filter_map(|c| c.operation_name)
        .filter(|n| ["saveEndpoint", "saveTemplate", "deleteEndpoint"].contains(&n.as_str()))
        .collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn deploy_twice_second_touches_no_endpoint() {
    let s = setup().await;
    let first = deploy::deploy(&s.project, &s.options).await.unwrap();
    assert_eq!(first.endpoints.len(), 2, "{first:?}");
    assert!(
        first
            .endpoints
            .iter()
            .all(|e| e.action == EndpointAction::Created)
    );
    assert_eq!(endpoint_mutations(&s.emu), ["saveEndpoint", "saveEndpoint"]);

    // URLs: QB under the endpoint base, LB from the template.
    let api = first.endpoint("api").unwrap();
    let worker = first.endpoint("worker").unwrap();
    assert!(api.load_balanced && !worker.load_balanced);
    assert_eq!(
        worker.url,
        format!("{}/{}", s.emu.endpoint_base_url(), worker.endpoint_id)
    );
    assert_eq!(
        api.url,
        s.emu
            .lb_url_template()
            .replace("{endpoint_id}", &api.endpoint_id)
    );

    // The pushed manifest has the URLs and endpoint ids, and was pushed after provisioning.
    let persisted = client(&s.emu)
        .get_persisted_manifest(&first.environment_id)
        .await
        .unwrap();
    assert_eq!(persisted.build_id, first.build_id);
    let urls = persisted.manifest.resources_endpoints.clone().unwrap();
    assert_eq!(urls, first.resources_endpoints());
    assert_eq!(
        persisted.manifest.resources["worker"]
            .endpoint_id
            .as_deref(),
        Some(worker.endpoint_id.as_str())
    );
    let log: Vec<String> = s
        .emu
        .graphql_log()
        .into_iter()
        .filter_map(|c| c.operation_name)
        .collect();
    let last_save = log.iter().rposition(|n| n == "saveEndpoint").unwrap();
    let push = log
        .iter()
        .position(|n| n == "updateFlashBuildManifest")
        .unwrap();
    assert!(push > last_save, "{log:?}");
    let finalize = log
        .iter()
        .position(|n| n == "FinalizeArtifactUpload")
        .unwrap();
    assert!(finalize < push);

    // Local state.
    let state = deploy::local_state::read(&s.project.state_path()).unwrap();
    let env = &state.environments["demo/dev"];
    assert_eq!(env.environment_id, first.environment_id);
    assert_eq!(env.resources["api"].endpoint_id, api.endpoint_id);
    let text = std::fs::read_to_string(s.project.state_path()).unwrap();
    assert!(!text.contains(KEY), "the key must not be written locally");

    // Second deploy: a new build, but no endpoint touched.
    let second = deploy::deploy(&s.project, &s.options).await.unwrap();
    assert_ne!(second.build_id, first.build_id);
    assert!(
        second
            .endpoints
            .iter()
            .all(|e| e.action == EndpointAction::Unchanged),
        "{second:?}"
    );
    assert_eq!(endpoint_mutations(&s.emu).len(), 2);
    assert_eq!(second.resources_endpoints(), first.resources_endpoints());
    assert_eq!(s.emu.snapshot().endpoints.len(), 2);

    // The platform is authoritative: without the local file (a fresh checkout, CI), still
    // nothing is touched.
    std::fs::remove_file(s.project.state_path()).unwrap();
    let third = deploy::deploy(&s.project, &s.options).await.unwrap();
    assert!(
        third
            .endpoints
            .iter()
            .all(|e| e.action == EndpointAction::Unchanged)
    );
    assert_eq!(endpoint_mutations(&s.emu).len(), 2);
    s.emu.shutdown().await;
    drop(s.dir);
}

#[tokio::test]
async fn changed_resource_is_updated_and_removed_one_deleted() {
    let s = setup().await;
    let first = deploy::deploy(&s.project, &s.options).await.unwrap();
    let before = endpoint_mutations(&s.emu).len();

    // Scaling change on `worker` only: one saveEndpoint, no template.
    let mut m = manifest();
    m["resources"]["worker"]["workersMax"] = json!(3);
    support::write_build(s.dir.path(), &m);
    let report = deploy::deploy(&s.project, &s.options).await.unwrap();
    let action = |r: &str| {
        report
            .endpoints
            .iter()
            .find(|e| e.resource == r)
            .unwrap()
            .action
    };
    assert_eq!(action("worker"), EndpointAction::Updated);
    assert_eq!(action("api"), EndpointAction::Unchanged);
    assert_eq!(endpoint_mutations(&s.emu)[before..], ["saveEndpoint"]);
    assert_eq!(
        report.endpoint("worker").unwrap().endpoint_id,
        first.endpoint("worker").unwrap().endpoint_id
    );

    // A code-only change: the new source fingerprint reaches every worker's template, so every
    // endpoint is updated (Runpod does not restart workers when a build is activated).
    m["source_fingerprint"] = json!("code-v2");
    support::write_build(s.dir.path(), &m);
    let before = endpoint_mutations(&s.emu).len();
    let report = deploy::deploy(&s.project, &s.options).await.unwrap();
    assert_eq!(
        endpoint_mutations(&s.emu)[before..],
        ["saveEndpoint", "saveEndpoint"]
    );
    assert!(
        report
            .endpoints
            .iter()
            .all(|e| e.action == EndpointAction::Updated)
    );

    // Env change: one saveEndpoint carrying the template inline (as runpod 2.0 updates).
    m["resources"]["worker"]["env"] = json!({"GREETING": "hello"});
    support::write_build(s.dir.path(), &m);
    let before = endpoint_mutations(&s.emu).len();
    deploy::deploy(&s.project, &s.options).await.unwrap();
    assert_eq!(endpoint_mutations(&s.emu)[before..], ["saveEndpoint"]);

    // `worker` starts making remote calls: its template gains RUNPOD_API_KEY, an update.
    m["resources"]["worker"]["makes_remote_calls"] = json!(true);
    support::write_build(s.dir.path(), &m);
    let before = endpoint_mutations(&s.emu).len();
    deploy::deploy(&s.project, &s.options).await.unwrap();
    assert_eq!(endpoint_mutations(&s.emu)[before..], ["saveEndpoint"]);

    // Remove `api`: its endpoint is deleted. `worker` stops making remote calls again, so its
    // template loses the key: an update too (provisioned concurrently, so in either order).
    let api_id = first.endpoint("api").unwrap().endpoint_id.clone();
    m["resources"].as_object_mut().unwrap().shift_remove("api");
    m["function_registry"]
        .as_object_mut()
        .unwrap()
        .shift_remove("route");
    m.as_object_mut().unwrap().shift_remove("routes");
    m["resources"]["worker"]["makes_remote_calls"] = json!(false);
    support::write_build(s.dir.path(), &m);
    let before = endpoint_mutations(&s.emu).len();
    let report = deploy::deploy(&s.project, &s.options).await.unwrap();
    let mut sent = endpoint_mutations(&s.emu)[before..].to_vec();
    sent.sort();
    assert_eq!(sent, ["deleteEndpoint", "saveEndpoint"]);
    let deleted = report
        .endpoints
        .iter()
        .find(|e| e.action == EndpointAction::Deleted)
        .unwrap();
    assert_eq!(deleted.endpoint_id, api_id);
    let names: Vec<String> = s
        .emu
        .snapshot()
        .endpoints
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["worker"]);
    let persisted = client(&s.emu)
        .get_persisted_manifest(&report.environment_id)
        .await
        .unwrap();
    let urls = persisted.manifest.resources_endpoints.unwrap();
    assert_eq!(urls.keys().collect::<Vec<_>>(), ["worker"]);
    s.emu.shutdown().await;
}

#[tokio::test]
async fn remote_calls_without_key_fail_before_any_request() {
    let s = setup().await;
    let options = DeployOptions {
        api_key: None,
        ..s.options.clone()
    };
    let error = deploy::deploy(&s.project, &options).await.unwrap_err();
    assert!(
        matches!(&error, DeployError::RemoteCallsNeedApiKey { resources } if resources == &["api"]),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("api") && message.contains("RUNPOD_API_KEY"),
        "{message}"
    );
    assert!(s.emu.graphql_log().is_empty());
    assert!(s.emu.snapshot().endpoints.is_empty());
    s.emu.shutdown().await;
}

#[tokio::test]
async fn missing_build_output_names_the_file() {
    let s = setup().await;
    std::fs::remove_file(s.project.artifact_path()).unwrap();
    let error = deploy::deploy(&s.project, &s.options).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("artifact.tar.gz") && message.contains("flash build"),
        "{message}"
    );
    std::fs::remove_file(s.project.manifest_path()).unwrap();
    let message = deploy::deploy(&s.project, &s.options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("flash_manifest.json") && message.contains("flash build"),
        "{message}"
    );
    // A manifest that breaks a rule: the message names the file.
    let mut m = manifest();
    m["resources"]["api"]["functions"][0]["http_path"] = json!("/ping");
    support::write_build(s.dir.path(), &m);
    let message = deploy::deploy(&s.project, &s.options)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("flash_manifest.json"), "{message}");
    assert!(s.emu.graphql_log().is_empty());
    s.emu.shutdown().await;
}

#[tokio::test]
async fn deployed_endpoints_serve_and_undeploy_all_leaves_nothing() {
    let s = setup().await;
    let report = deploy::deploy(&s.project, &s.options).await.unwrap();
    let worker = report.endpoint("worker").unwrap();

    // Queue call through the data plane; the worker sees the Flash env and no API key.
    let names = [
        "FLASH_RESOURCE_NAME",
        "FLASH_APP",
        "FLASH_ENV",
        "FLASH_ENDPOINT_TYPE",
        "FLASH_ENVIRONMENT_ID",
        "GREETING",
        "RUNPOD_API_KEY",
    ];
    let out = &worker_env(&worker.url, &names).await;
    assert_eq!(out["FLASH_RESOURCE_NAME"], "worker");
    assert_eq!(out["FLASH_APP"], "demo");
    assert_eq!(out["FLASH_ENV"], "dev");
    assert_eq!(out["FLASH_ENDPOINT_TYPE"], "qb");
    assert_eq!(out["FLASH_ENVIRONMENT_ID"], report.environment_id.as_str());
    assert_eq!(out["GREETING"], "hi");
    assert_eq!(
        out["RUNPOD_API_KEY"],
        Value::Null,
        "no key for a resource without remote calls"
    );

    // Load-balanced call through the path-based route.
    let api = report.endpoint("api").unwrap();
    let response = http()
        .post(format!("{}/echo", api.url))
        .bearer_auth(KEY)
        .body("ping-pong")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["body"], "ping-pong");

    let pids: Vec<u32> = s
        .emu
        .snapshot()
        .endpoints
        .iter()
        .flat_map(|e| e.workers.iter().filter_map(|w| w.pid))
        .collect();
    assert!(!pids.is_empty());

    let found = undeploy::targets(&s.options, &UndeployTarget::All)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.1.len(), 2);
    let done = undeploy::undeploy(Some(&s.project), &s.options, &UndeployTarget::All)
        .await
        .unwrap();
    assert_eq!(done.deleted.len(), 2);
    assert!(s.emu.snapshot().endpoints.is_empty());
    let env = manage::env_get(&s.options).await.unwrap();
    assert!(env.endpoints.is_empty());
    let persisted = client(&s.emu)
        .get_persisted_manifest(&report.environment_id)
        .await
        .unwrap();
    assert!(persisted.manifest.resources_endpoints.unwrap().is_empty());
    let state = deploy::local_state::read(&s.project.state_path()).unwrap();
    assert!(state.environments["demo/dev"].resources.is_empty());

    // Every worker process is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while pids
        .iter()
        .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "workers {pids:?} still running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A deploy after undeploy creates the endpoints again.
    let again = deploy::deploy(&s.project, &s.options).await.unwrap();
    assert!(
        again
            .endpoints
            .iter()
            .all(|e| e.action == EndpointAction::Created)
    );
    s.emu.shutdown().await;
}

#[tokio::test]
async fn env_and_app_commands() {
    let s = setup().await;
    let o = |app: &str, env: &str| DeployOptions {
        app: app.to_owned(),
        env: env.to_owned(),
        ..s.options.clone()
    };
    assert!(manage::app_list(&o("", "")).await.unwrap().is_empty());
    let created = manage::app_create(&o("shop", "")).await.unwrap();
    assert_eq!(created.name.as_deref(), Some("shop"));
    assert!(manage::app_create(&o("shop", "")).await.is_err());
    let got = manage::app_get(&o("shop", "")).await.unwrap();
    assert_eq!(got.id, created.id);
    assert!(matches!(
        manage::app_get(&o("nope", "")).await.unwrap_err(),
        DeployError::AppNotFound { .. }
    ));

    let staging = manage::env_create(&o("shop", "staging")).await.unwrap();
    manage::env_create(&o("shop", "prod")).await.unwrap();
    let envs = manage::env_list(&o("shop", "")).await.unwrap();
    let mut names: Vec<_> = envs.iter().filter_map(|e| e.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["prod", "staging"]);
    assert_eq!(
        manage::env_get(&o("shop", "staging")).await.unwrap().id,
        staging.id
    );
    assert!(matches!(
        manage::env_get(&o("shop", "qa")).await.unwrap_err(),
        DeployError::EnvironmentNotFound { .. }
    ));

    // Deploy into `staging`, then delete it: its endpoints go with it.
    deploy::deploy(&s.project, &o("shop", "staging"))
        .await
        .unwrap();
    assert_eq!(s.emu.snapshot().endpoints.len(), 2);
    // Undeploy one resource by name; the other stays.
    let done = undeploy::undeploy(
        Some(&s.project),
        &o("shop", "staging"),
        &UndeployTarget::Resource("api".to_owned()),
    )
    .await
    .unwrap();
    assert_eq!(done.deleted.len(), 1);
    assert_eq!(done.deleted[0].name.as_deref(), Some("api"));
    let names: Vec<String> = s
        .emu
        .snapshot()
        .endpoints
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["worker"]);
    let deleted = manage::env_delete(&o("shop", "staging")).await.unwrap();
    assert_eq!(deleted.len(), 1);
    assert!(s.emu.snapshot().endpoints.is_empty());
    let envs = manage::env_list(&o("shop", "")).await.unwrap();
    assert_eq!(envs.len(), 1);

    // Delete the app (after deploying to its other environment).
    deploy::deploy(&s.project, &o("shop", "prod"))
        .await
        .unwrap();
    let deleted = manage::app_delete(&o("shop", "")).await.unwrap();
    assert_eq!(deleted.len(), 2);
    assert!(s.emu.snapshot().endpoints.is_empty());
    assert!(manage::app_list(&o("", "")).await.unwrap().is_empty());

    // No key: a clear error, no request.
    let no_key = DeployOptions {
        api_key: None,
        ..o("shop", "")
    };
    assert!(matches!(
        manage::app_list(&no_key).await.unwrap_err(),
        DeployError::MissingApiKey
    ));
    s.emu.shutdown().await;
}

fn help(args: &[&str]) -> String {
    let output = Command::new(support::flash_binary())
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!("deploy_help", help(&["deploy"]));
    insta::assert_snapshot!("undeploy_help", help(&["undeploy"]));
    insta::assert_snapshot!("env_help", help(&["env"]));
    insta::assert_snapshot!("env_delete_help", help(&["env", "delete"]));
    insta::assert_snapshot!("app_help", help(&["app"]));
    insta::assert_snapshot!("app_delete_help", help(&["app", "delete"]));
}

#[test]
fn cli_refuses_deletes_without_yes_or_terminal() {
    let output = Command::new(support::flash_binary())
        .args(["app", "delete", "shop"])
        .env("RUNPOD_API_KEY", "k")
        .env("RUNPOD_API_BASE_URL", "http://127.0.0.1:9")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(!stderr.contains("k\n"));
}

/// The `flash` binary end to end: `deploy --json` and `undeploy --all --yes --json`, configured
/// only through the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deploy_and_undeploy_json() {
    let s = setup().await;
    let run = |args: &[&str]| {
        Command::new(support::flash_binary())
            .args(args)
            .current_dir(s.dir.path())
            .env("RUNPOD_API_KEY", KEY)
            .env("RUNPOD_API_BASE_URL", s.emu.api_base_url())
            .env("RUNPOD_ENDPOINT_BASE_URL", s.emu.endpoint_base_url())
            .env("FLASH_LB_URL_TEMPLATE", s.emu.lb_url_template())
            .env("CI", "true")
            .output()
            .unwrap()
    };
    let output = tokio::task::block_in_place(|| run(&["deploy", "--env", "cli", "--json"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["app"], "demo",
        "app name from the manifest's project_name"
    );
    assert_eq!(report["environment"], "cli");
    assert_eq!(report["endpoints"].as_array().unwrap().len(), 2);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));

    let output = tokio::task::block_in_place(|| run(&["deploy", "--env", "cli"]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        text.contains("unchanged") && text.contains("curl"),
        "{text}"
    );
    assert!(!text.contains(KEY));

    let output = tokio::task::block_in_place(|| {
        run(&["undeploy", "--all", "--env", "cli", "--yes", "--json"])
    });
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["deleted"].as_array().unwrap().len(), 2);
    assert!(s.emu.snapshot().endpoints.is_empty());

    let output = tokio::task::block_in_place(|| run(&["env", "list", "--json"]));
    assert!(output.status.success());
    let envs: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(envs[0]["name"], "cli");
    s.emu.shutdown().await;
}

/// A GraphQL proxy in front of the emulator that fails `saveEndpoint` for one endpoint name and,
/// at that moment, records which resources a peer could find a URL for.
async fn failing_proxy(
    emu: &EmulatorHandle,
    fail_name: &'static str,
    env_id: String,
) -> (support::GraphqlProxy, Arc<Mutex<Option<Vec<String>>>>) {
    let lookup = client(emu);
    let seen: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
    let seen_in = Arc::clone(&seen);
    let hook: support::Hook = Arc::new(move |request: Value| {
        let (lookup, seen, env_id) = (lookup.clone(), Arc::clone(&seen_in), env_id.clone());
        Box::pin(async move {
            let is_target = request["query"]
                .as_str()
                .is_some_and(|q| q.contains("saveEndpoint"))
                && request["variables"]["input"]["name"] == fail_name;
            if !is_target {
                return support::Answer::Forward;
            }
            // The new build is active and its endpoints are being provisioned: a peer
            // looking URLs up now must still find every resource.
            let urls = lookup
                .resources_endpoints(&env_id)
                .await
                .unwrap_or_default();
            *seen.lock().unwrap() = Some(urls.keys().cloned().collect());
            support::Answer::Reply(json!({"errors": [{"message": "injected failure"}]}))
        })
    });
    let proxy = support::graphql_proxy(format!("{}/graphql", emu.api_base_url()), hook).await;
    (proxy, seen)
}

/// A deploy whose `saveEndpoint` fails part-way never leaves a peer without a URL: the new
/// build carries the running endpoints' URLs from activation on, and what was provisioned is
/// published even though the deploy fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_failing_part_way_keeps_every_url() {
    let s = setup().await;
    let first = deploy::deploy(&s.project, &s.options).await.unwrap();
    let old_worker_url = first.endpoint("worker").unwrap().url.clone();

    // Both resources change; the update of `worker` fails.
    let mut m = manifest();
    m["resources"]["worker"]["workersMax"] = json!(2);
    m["resources"]["api"]["workersMax"] = json!(2);
    support::write_build(s.dir.path(), &m);
    let (proxy, seen) = failing_proxy(&s.emu, "worker", first.environment_id.clone()).await;
    let options = DeployOptions {
        api_base_url: proxy.url.clone(),
        ..s.options.clone()
    };
    let error = deploy::deploy(&s.project, &options).await.unwrap_err();
    assert!(
        matches!(&error, DeployError::Provisioning { failures } if failures.iter().any(|f| f.contains("worker") && f.contains("injected failure"))),
        "{error}"
    );
    let during = seen.lock().unwrap().clone();
    let mut during = during.expect("the failing saveEndpoint was sent");
    during.sort();
    assert_eq!(
        during,
        ["api", "worker"],
        "URLs a peer could find mid-deploy"
    );

    let persisted = client(&s.emu)
        .get_persisted_manifest(&first.environment_id)
        .await
        .unwrap();
    assert_ne!(
        persisted.build_id, first.build_id,
        "the new build is active"
    );
    let urls = persisted.manifest.resources_endpoints.unwrap();
    assert_eq!(urls.get("worker"), Some(&old_worker_url));
    assert!(urls.contains_key("api"));

    // The next deploy (no failure) updates `worker` and leaves `api` alone.
    drop(proxy);
    let report = deploy::deploy(&s.project, &s.options).await.unwrap();
    let action = |r: &str| report.endpoint(r).unwrap().action;
    assert_eq!(action("worker"), EndpointAction::Updated);
    assert_eq!(action("api"), EndpointAction::Unchanged);
    s.emu.shutdown().await;
}

/// The env vars `names` as the worker of the queue endpoint at `url` sees them.
async fn worker_env(url: &str, names: &[&str]) -> Value {
    job_output(url, json!({"op": "env", "names": names})).await
}

/// The output of one job of the queue endpoint at `url` (the test worker's `op`s).
async fn job_output(url: &str, input: Value) -> Value {
    let response: Value = http()
        .post(format!("{url}/runsync"))
        .bearer_auth(KEY)
        .json(&json!({ "input": input }))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "COMPLETED", "{response}");
    response["output"].clone()
}

/// What the worker of the queue endpoint at `url` reports about the build it runs: the source
/// fingerprint in its env (the template's) and in the manifest its boot step unpacked (the
/// build's).
async fn worker_build(url: &str) -> (Value, Value) {
    let env = worker_env(url, &["_FLASH_SOURCE_FINGERPRINT"]).await;
    let manifest = job_output(url, json!({"op": "manifest"})).await;
    (
        env["_FLASH_SOURCE_FINGERPRINT"].clone(),
        manifest["source_fingerprint"].clone(),
    )
}

/// A code-only change (a new source fingerprint, nothing else) reaches the running endpoint:
/// the redeploy changes the worker's template, which rolls it, and the next call is answered by
/// a worker of the new build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_only_change_is_answered_by_the_new_build() {
    let s = setup().await;
    let mut m = manifest();
    m["source_fingerprint"] = json!("code-v1");
    support::write_build(s.dir.path(), &m);
    let first = deploy::deploy(&s.project, &s.options).await.unwrap();
    let url = first.endpoint("worker").unwrap().url.clone();
    assert_eq!(
        worker_build(&url).await,
        (json!("code-v1"), json!("code-v1"))
    );

    m["source_fingerprint"] = json!("code-v2");
    support::write_build(s.dir.path(), &m);
    let second = deploy::deploy(&s.project, &s.options).await.unwrap();
    assert_eq!(
        second.endpoint("worker").unwrap().action,
        EndpointAction::Updated
    );
    assert_ne!(first.build_id, second.build_id);
    // An old idle worker may take a job until the supervisor's next tick stops it (a rolling
    // release); a worker of the new version must run the new build, so (v2, v2) comes, and a
    // new template with an old build never would.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = worker_build(&url).await;
        if seen == (json!("code-v2"), json!("code-v2")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {seen:?} 30 s after the redeploy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.emu.shutdown().await;
}
