//! What our `flash deploy` sends, compared with what the official clients sent for the same
//! apps: `tests/fixtures/golden/{flash-1.21,runpod-2.0.0rc2}/<app>.json`, recorded by
//! `tools/golden/record.sh` from runpod-flash 1.21's and runpod 2.0.0rc2's own deploys of
//! three apps equivalent to ours (a GPU queue endpoint, a CPU queue endpoint, a load-balanced
//! CPU endpoint with a network volume and env).
//!
//! Our requests are recorded by a GraphQL proxy in front of the emulator. For every request:
//! an operation the official clients also send, with the same variable definitions; no explicit
//! null anywhere in the variables; no input key that neither client sends; and for
//! `saveEndpoint`, the same value as runpod-flash 1.21 wherever the configuration is the same,
//! except the differences listed (each with its reason) in [`DELIBERATE`].

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use flash_cli::deploy::{self, DeployOptions};
use flash_cli::project::Project;
use flash_emulator::Emulator;
use runpod_flash::ApiKey;
use runpod_flash::resource::{GpuGroup, Resource, Volume};
use serde_json::{Map, Value, json};

const KEY: &str = "golden-test-key";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/golden");

/// `saveEndpoint` input keys whose value differs from runpod-flash 1.21's on purpose.
const DELIBERATE: [(&str, &str); 6] = [
    (
        "template.name",
        "ours is flash-{app}-{env}-{resource}-{8 hex}, new on every create and update (1.21 \
         also renames per configuration): template names are unique and a template outlives \
         its endpoint, so a re-created endpoint must not reuse a name",
    ),
    (
        "template.imageName",
        "a Rust worker image, not Python Flash's runpod/flash* images",
    ),
    (
        "template.env",
        "our worker env (FLASH_ENVIRONMENT_ID, FLASH_ENDPOINT_TYPE, PORT/PORT_HEALTH for \
         load-balanced workers as runpod 2.0 sets them); RUNPOD_API_KEY only for resources \
         that make remote calls, where 1.21 gives it to every endpoint; checked separately",
    ),
    (
        "template.ports",
        "80/http for load-balanced workers, as runpod 2.0 sends it; 1.21 sends \"\" and relies \
         on the platform injecting PORT",
    ),
    (
        "flashEnvironmentId",
        "each recording has its own environment id",
    ),
    ("networkVolumeId", "each recording has its own volume id"),
];

/// Keys runpod-flash 1.21 sends that we leave out, with the reason.
const NOT_SENT: [(&str, &str); 5] = [
    (
        "workersPFBTarget",
        "always 0 in 1.21; runpod 2.0 leaves it out too",
    ),
    (
        "allowedCudaVersions",
        "always \"\" in 1.21; runpod 2.0 leaves it out too",
    ),
    (
        "template.advancedStart",
        "always false in 1.21; runpod 2.0 leaves it out",
    ),
    (
        "template.config",
        "always {} in 1.21; runpod 2.0 leaves it out",
    ),
    (
        "template.containerRegistryAuthId",
        "always \"\" in 1.21; runpod 2.0 leaves it out",
    ),
];

const GPU: Resource = Resource::queue("gpu_worker")
    .gpu(&[GpuGroup::Ada24])
    .workers(0, 1);
const CPU: Resource = Resource::queue("cpu_worker")
    .cpu(&["cpu3c-1-2"])
    .workers(0, 1);
const LB: Resource = Resource::load_balanced("load_balancer_cpu")
    .cpu(&["cpu3c-1-2"])
    .datacenters(&["EU-RO-1"])
    .volumes(&[Volume::new("flash-volume", 50, "EU-RO-1")])
    .env(&[("GREETING", "hello"), ("LOG_LEVEL", "info")])
    .workers(1, 3);

/// The manifest our `flash build` writes for one resource with one function.
fn manifest(app: &str, resource: &Resource, function: &str, route: Option<(&str, &str)>) -> Value {
    let mut entry = serde_json::to_value(resource.manifest_entry()).unwrap();
    let mut f = json!({"name": function, "module": "app", "is_async": true, "is_class": false});
    if let Some((method, path)) = route {
        f["http_method"] = json!(method);
        f["http_path"] = json!(path);
    }
    entry["functions"] = json!([f]);
    entry["makes_remote_calls"] = json!(false);
    let name = resource.name();
    let mut m = json!({
        "version": "1.0",
        "project_name": app,
        "entrypoint": "bin/app",
        "source_fingerprint": "golden",
        "resources": {name: entry},
        "function_registry": {function: name},
    });
    if let Some((method, path)) = route {
        m["routes"] = json!({name: {format!("{method} {path}"): function}});
    }
    m
}

fn fixture(client: &str, app: &str) -> Vec<Value> {
    let path = format!("{FIXTURES}/{client}/{app}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let requests: Vec<Value> = serde_json::from_str(&text).unwrap();
    requests
        .into_iter()
        .filter(|r| r["path"] == "/graphql")
        .map(|r| r["body"].clone())
        .collect()
}

fn operation(body: &Value) -> String {
    support::operation_name(body["query"].as_str().unwrap_or_default()).unwrap_or_default()
}

fn save_endpoint_input(bodies: &[Value]) -> Map<String, Value> {
    bodies
        .iter()
        .find(|b| operation(b) == "saveEndpoint")
        .and_then(|b| b["variables"]["input"].as_object().cloned())
        .expect("a saveEndpoint")
}

/// Dotted paths of every key in `value` (arrays of objects by their items' keys).
fn key_paths(prefix: &str, value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, member) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                // Env items are key/value pairs of the template, not input fields.
                if !(key == "env" && prefix.ends_with("template")) {
                    key_paths(&path, member, out);
                }
                out.insert(path);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| key_paths(prefix, item, out)),
        _ => {}
    }
}

fn nulls(prefix: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(prefix.to_owned()),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| nulls(&format!("{prefix}.{k}"), v, out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| nulls(&format!("{prefix}[{i}]"), v, out)),
        _ => {}
    }
}

fn lookup<'a>(input: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = input.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

async fn ours(app: &str, manifest: &Value) -> Vec<Value> {
    let emu = Emulator::builder()
        .api_key(ApiKey::new(KEY).unwrap())
        .take_timeout(Duration::from_secs(1))
        .start()
        .await
        .expect("emulator starts");
    let proxy = support::graphql_proxy(
        format!("{}/graphql", emu.api_base_url()),
        support::forward_all(),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"golden\"\n",
    )
    .unwrap();
    support::write_build(dir.path(), manifest);
    let options = DeployOptions {
        app: app.to_owned(),
        env: "production".to_owned(),
        api_base_url: proxy.url.clone(),
        endpoint_base_url: emu.endpoint_base_url(),
        lb_url_template: emu.lb_url_template(),
        rest_api_url: emu.rest_api_url(),
        api_key: ApiKey::new(KEY),
    };
    deploy::deploy(&Project::at(dir.path()), &options)
        .await
        .unwrap_or_else(|e| panic!("{app}: {e}"));
    let requests = proxy.requests.lock().unwrap().clone();
    drop(proxy);
    emu.shutdown().await;
    requests
}

async fn compare(app: &str, manifest: Value) {
    let official: Vec<Vec<Value>> = ["flash-1.21", "runpod-2.0.0rc2"]
        .iter()
        .map(|client| fixture(client, app))
        .collect();
    let ours = ours(app, &manifest).await;
    assert!(!ours.is_empty());

    // Every operation is one an official client sends, with the same variable definitions.
    for body in &ours {
        let name = operation(body);
        let theirs: Vec<&Value> = official
            .iter()
            .flatten()
            .filter(|b| operation(b) == name)
            .collect();
        let official_names: BTreeSet<String> = official.iter().flatten().map(operation).collect();
        assert!(
            !theirs.is_empty() || KNOWN_ELSEWHERE.contains(&name.as_str()),
            "{app}: `{name}` is sent by no official client in this flow ({official_names:?})"
        );
        let mine = support::variable_definitions(body["query"].as_str().unwrap_or_default());
        if let Some(first) = theirs.first() {
            assert_eq!(
                mine,
                support::variable_definitions(first["query"].as_str().unwrap_or_default()),
                "{app}: variable definitions of `{name}`"
            );
        }
        let mut found = Vec::new();
        nulls("$", &body["variables"], &mut found);
        assert!(
            found.is_empty(),
            "{app}: `{name}` sends explicit nulls at {found:?}"
        );
    }

    // saveEndpoint: only keys the official clients send, and 1.21's values where configured alike.
    let flash = save_endpoint_input(&official[0]);
    let successor = save_endpoint_input(&official[1]);
    let mine = save_endpoint_input(&ours);
    let (mut theirs_keys, mut my_keys) = (BTreeSet::new(), BTreeSet::new());
    key_paths("", &Value::Object(flash.clone()), &mut theirs_keys);
    key_paths("", &Value::Object(successor), &mut theirs_keys);
    key_paths("", &Value::Object(mine.clone()), &mut my_keys);
    let extra: Vec<&String> = my_keys.difference(&theirs_keys).collect();
    assert!(
        extra.is_empty(),
        "{app}: saveEndpoint keys no official client sends: {extra:?}"
    );
    let mut flash_keys = BTreeSet::new();
    key_paths("", &Value::Object(flash.clone()), &mut flash_keys);
    for key in &flash_keys {
        if DELIBERATE.iter().any(|(k, _)| k == key) {
            continue;
        }
        match lookup(&mine, key) {
            Some(value) => {
                if value.is_object() {
                    continue;
                }
                assert_eq!(
                    Some(value),
                    lookup(&flash, key),
                    "{app}: saveEndpoint `{key}`"
                );
            }
            None => assert!(
                NOT_SENT.iter().any(|(k, _)| k == key),
                "{app}: saveEndpoint leaves out `{key}`, which runpod-flash 1.21 sends"
            ),
        }
    }
    // The env: the resource's own variables and the Flash ones both clients set, and the source
    // fingerprint that rolls the workers on a code-only change.
    let env: Vec<String> = mine["template"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    for key in [
        "FLASH_RESOURCE_NAME",
        "FLASH_APP",
        "FLASH_ENV",
        "_FLASH_SOURCE_FINGERPRINT",
    ] {
        assert!(
            env.iter().any(|k| k == key),
            "{app}: env has no {key}: {env:?}"
        );
    }
    for (key, _) in LB
        .manifest_entry()
        .env
        .iter()
        .flatten()
        .filter(|_| app == "lb_volume")
    {
        assert!(env.contains(key), "{app}: env has no {key}");
    }
}

/// Operations of our flow that these recordings do not show but an official client sends in
/// another flow (cited in crates/flash/graphql/runpod.graphql).
const KNOWN_ELSEWHERE: [&str; 1] = [
    // runpod-flash 1.21 reads the previous build's manifest through it (deployment.py) only on
    // a redeploy; we read the active build's before every deploy.
    "getFlashBuild",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_queue_endpoint_matches_the_official_clients() {
    compare("gpu_queue", manifest("gpu_queue", &GPU, "gpu_hello", None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_queue_endpoint_matches_the_official_clients() {
    compare("cpu_queue", manifest("cpu_queue", &CPU, "cpu_info", None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balanced_endpoint_with_volume_and_env_matches_the_official_clients() {
    compare(
        "lb_volume",
        manifest("lb_volume", &LB, "transform", Some(("POST", "/transform"))),
    )
    .await;
}
