//! Cross-endpoint routing, end to end on loopback.
//!
//! Starts a small State Manager (GraphQL over HTTP on 127.0.0.1) holding the deployed manifest of
//! the `03_mixed_workers` app, then shows, for each of the app's resources, where every function
//! call would go: run here, or go to which peer endpoint. Last, it fires 1000 concurrent cold
//! lookups at one registry and counts the State Manager requests they cause.
//!
//! Run it with `cargo run -p runpod-flash --example routing_demo`.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::State;
use runpod_flash::ApiKey;
use runpod_flash::error::ManifestOrigin;
use runpod_flash::manifest::Manifest;
use runpod_flash::registry::{RemoteKind, Route, ServiceRegistry};
use runpod_flash::state_manager::{StateManagerClient, StateManagerConfig};
use serde_json::{Value, json};

const MANIFEST: &str = include_str!("../tests/fixtures/manifests/valid/03_mixed_workers.json");
const KEY: &str = "demo-key";

struct StateManager {
    deployed: Value,
    requests: AtomicUsize,
}

/// Answers the two queries the registry makes: the environment's active build, and its manifest.
async fn graphql(State(state): State<Arc<StateManager>>, Json(body): Json<Value>) -> Json<Value> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let data = match body["operationName"].as_str() {
        Some("getFlashEnvironment") => json!({"flashEnvironment": {
            "id": body["variables"]["flashEnvironmentId"], "name": "production",
            "activeBuildId": "build-1", "endpoints": [], "networkVolumes": []}}),
        Some("getFlashBuild") => {
            json!({"flashBuild": {"id": "build-1", "manifest": state.deployed}})
        }
        other => {
            let message = format!("unsupported operation {other:?}");
            return Json(json!({"errors": [{"message": message}]}));
        }
    };
    Json(json!({"data": data}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = Manifest::from_json_str(MANIFEST, ManifestOrigin::Inline)?;

    // What `flash deploy` leaves in the State Manager: the manifest plus each endpoint's URL.
    let mut deployed = serde_json::to_value(&manifest)?;
    let endpoints: serde_json::Map<String, Value> = manifest
        .resources
        .iter()
        .enumerate()
        .map(|(i, (name, resource))| {
            let url = if resource.load_balanced() {
                format!("https://lb{i}.api.runpod.ai")
            } else {
                format!("https://api.runpod.ai/v2/qb{i}")
            };
            (name.clone(), Value::String(url))
        })
        .collect();
    deployed["resources_endpoints"] = Value::Object(endpoints);

    let state = Arc::new(StateManager {
        deployed,
        requests: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/graphql", axum::routing::post(graphql))
        .with_state(Arc::clone(&state));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("State Manager (GraphQL) listening at {base_url}/graphql\n");

    let registry_for = |identity: &str| -> Result<ServiceRegistry, Box<dyn std::error::Error>> {
        let client = StateManagerClient::new(StateManagerConfig {
            base_url: base_url.clone(),
            api_key: ApiKey::new(KEY),
            ..StateManagerConfig::default()
        })?;
        Ok(ServiceRegistry::builder()
            .manifest(manifest.clone())
            .identity(identity)
            .environment_id("env-production")
            .endpoint_source(Arc::new(client))
            .build()?)
    };

    for (identity, resource) in &manifest.resources {
        let registry = registry_for(identity)?;
        let calls = if resource.calls_remote() {
            "makes remote calls"
        } else {
            "makes no remote calls"
        };
        println!("as resource `{identity}` ({calls}):");
        for function in manifest.function_registry.keys() {
            let target = match registry.route(function).await {
                Ok(Route::Local) => "run here".to_owned(),
                Ok(Route::Remote(remote)) => match &remote.kind {
                    RemoteKind::Queue { .. } => format!("POST {}/runsync", remote.endpoint_url),
                    RemoteKind::LoadBalanced { method, path } => {
                        format!("{method} {}{path}", remote.endpoint_url)
                    }
                },
                Err(runpod_flash::FlashError::Routing(error))
                    if matches!(
                        error.kind(),
                        runpod_flash::error::RoutingErrorKind::RemoteCallsDisabled { .. }
                    ) =>
                {
                    "refused: this resource's manifest entry says it makes no remote calls"
                        .to_owned()
                }
                Err(error) => format!("error: {error}"),
            };
            println!("  {function:<22} -> {target}");
        }
        println!();
    }

    let before = state.requests.load(Ordering::SeqCst);
    let registry = Arc::new(registry_for("01_03_classify_pipeline")?);
    let lookups: Vec<_> = (0..1000)
        .map(|_| {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move { registry.route("gpu_inference").await })
        })
        .collect();
    for lookup in lookups {
        lookup.await??;
    }
    println!(
        "1000 concurrent cold lookups caused {} State Manager requests (one fetch: environment, then build)",
        state.requests.load(Ordering::SeqCst) - before
    );
    server.abort();
    Ok(())
}
