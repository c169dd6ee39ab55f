//! Conformance of the GraphQL control plane.

mod common;

use common::*;
use runpod_flash::ApiKey;
use runpod_flash::state_manager::{StateManagerClient, StateManagerConfig};
use serde_json::json;

#[tokio::test]
async fn auth_failure_is_401() {
    let emu = start().await;
    for key in [None, Some("wrong")] {
        let mut req = http()
            .post(emu.graphql_url())
            .json(&json!({"query": "{ myself { id } }"}));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["message"], "Unauthorized");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn apps_environments_builds_and_deploy() {
    let emu = start().await;
    let (app_id, env_id, build_id) = deploy(&emu, "demo").await;

    let dup = gql_raw(
        &emu,
        "mutation { createFlashApp(input: {name: \"demo\"}) { id } }",
        json!({}),
    )
    .await;
    assert!(
        dup["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let missing = gql_raw(&emu, "query getFlashAppByName($flashAppName: String!) { flashAppByName(flashAppName: $flashAppName) { id } }", json!({"flashAppName": "nope"})).await;
    assert!(
        missing["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("app not found")
    );

    let d = gql(&emu, "query getFlashAppByName($flashAppName: String!) { flashAppByName(flashAppName: $flashAppName) { id name flashEnvironments { id name state activeBuildId createdAt } flashBuilds { id objectKey createdAt } } }", json!({"flashAppName": "demo"})).await;
    let app = &d["flashAppByName"];
    assert_eq!(app["id"], app_id.as_str());
    assert_eq!(
        app["flashEnvironments"][0]["activeBuildId"],
        build_id.as_str()
    );
    assert_eq!(app["flashBuilds"][0]["id"], build_id.as_str());

    let d = gql(&emu, "query getFlashEnvironmentByName($input: FlashEnvironmentByNameInput!) { flashEnvironmentByName(input: $input) { id name state activeBuildId endpoints { id name } networkVolumes { id name } } }", json!({"input": {"flashAppId": app_id, "name": "production"}})).await;
    assert_eq!(d["flashEnvironmentByName"]["id"], env_id.as_str());

    let d = gql(&emu, "query getFlashApps { myself { flashApps { id name flashEnvironments { id name state createdAt activeBuildId } flashBuilds { id createdAt } } } }", json!({})).await;
    assert_eq!(d["myself"]["flashApps"].as_array().unwrap().len(), 1);

    // Finalize without an upload is an error naming the object key.
    let d = gql(&emu, "mutation($i: PrepareFlashArtifactUploadInput!) { prepareFlashArtifactUpload(input: $i) { objectKey } }", json!({"i": {"flashAppId": app_id, "tarballSize": 10}})).await;
    let key = d["prepareFlashArtifactUpload"]["objectKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = gql_raw(&emu, "mutation($i: FinalizeFlashArtifactUploadInput!) { finalizeFlashArtifactUpload(input: $i) { id } }", json!({"i": {"flashAppId": app_id, "objectKey": key, "manifest": {}}})).await;
    assert!(r["errors"][0]["message"].as_str().unwrap().contains(&key));

    // The State Manager client works against the emulator unchanged.
    let client = StateManagerClient::new(StateManagerConfig {
        base_url: emu.api_base_url().to_owned(),
        api_key: ApiKey::new(KEY),
        ..StateManagerConfig::default()
    })
    .unwrap();
    let env = client.flash_environment(&env_id).await.unwrap();
    assert_eq!(env.active_build_id.as_deref(), Some(build_id.as_str()));
    let build = client.flash_build(&build_id).await.unwrap();
    assert_eq!(build.manifest.unwrap()["entrypoint"], "bin/app");
    let updated = client
        .update_flash_build_manifest(
            &build_id,
            &json!({"resources": {}, "resources_endpoints": {"a": "http://x"}}),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.manifest.unwrap()["resources_endpoints"]["a"],
        "http://x"
    );
    let persisted = client.get_persisted_manifest(&env_id).await.unwrap();
    assert_eq!(persisted.build_id, build_id);

    let d = gql(
        &emu,
        "mutation($id: String!) { deleteFlashEnvironment(flashEnvironmentId: $id) }",
        json!({"id": env_id}),
    )
    .await;
    assert_eq!(d["deleteFlashEnvironment"], true);
    let d = gql(
        &emu,
        "mutation($id: String!) { deleteFlashApp(flashAppId: $id) }",
        json!({"id": app_id}),
    )
    .await;
    assert_eq!(d["deleteFlashApp"], true);
    emu.shutdown().await;
}

#[tokio::test]
async fn save_endpoint_create_update_template_and_delete() {
    let emu = start().await;
    let created = save_endpoint(&emu, json!({
        "name": "gateway", "type": "QB", "workersMin": 0, "workersMax": 2, "idleTimeout": 5,
        "scalerType": "QUEUE_DELAY", "scalerValue": 4, "executionTimeoutMs": 0, "workersPFBTarget": 0,
        "flashBootType": "FLASHBOOT", "instanceIds": ["cpu3c-1-2"],
        "template": {"name": "t", "imageName": "img", "containerDiskInGb": 10, "dockerArgs": "", "startScript": "",
                     "advancedStart": false, "containerRegistryAuthId": "", "ports": "", "config": {},
                     "env": [{"key": "FLASH_RESOURCE_NAME", "value": "gateway"}]}
    })).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let ai_key = created["aiKey"].as_str().unwrap().to_owned();
    assert!(!ai_key.is_empty());
    assert_eq!(created["type"], "QB");
    assert_eq!(created["workersPFBTarget"], 0);
    let template_id = created["templateId"].as_str().unwrap().to_owned();

    let updated = save_endpoint(&emu, json!({"id": id, "name": "gateway", "workersMax": 3})).await;
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(
        updated["aiKey"],
        ai_key.as_str(),
        "the key survives an update"
    );
    assert_eq!(updated["workersMax"], 3);
    assert_eq!(
        updated["version"], 0,
        "a scaling setting is applied in place, not a rolling release"
    );

    let bad = gql_raw(
        &emu,
        SAVE_ENDPOINT,
        json!({"input": {"name": "x", "workersMin": 3, "workersMax": 1, "template": template("x", &[])}}),
    )
    .await;
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("workersMin")
    );

    let d = gql(&emu, "query getTemplate($id: String!) { podTemplate(id: $id) { id containerDiskInGb dockerArgs env { key value } imageName name readme } }", json!({"id": template_id})).await;
    assert_eq!(d["podTemplate"]["env"][0]["key"], "FLASH_RESOURCE_NAME");
    let d = gql(&emu, "mutation saveTemplate($input: SaveTemplateInput) { saveTemplate(input: $input) { id env { key value } } }", json!({"input": {"id": template_id, "name": "t", "imageName": "img", "containerDiskInGb": 10, "dockerArgs": "", "env": [{"key": "A", "value": "1"}], "readme": "", "volumeInGb": 0}})).await;
    assert_eq!(
        d["saveTemplate"]["env"],
        json!([{"key": "A", "value": "1"}])
    );
    let d = gql(
        &emu,
        "query getEndpoint($id: String!) { myself { endpoint(id: $id) { version } } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        d["myself"]["endpoint"]["version"], 1,
        "a template change rolls the endpoint"
    );

    let d = gql(
        &emu,
        "query getEndpoint($id: String!) { myself { endpoint(id: $id) { id } } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(d["myself"]["endpoint"]["id"], id.as_str());
    let d = gql(
        &emu,
        "mutation deleteEndpoint($id: String!) { deleteEndpoint(id: $id) }",
        json!({"id": id}),
    )
    .await;
    assert!(d["deleteEndpoint"].is_null());
    let d = gql(
        &emu,
        "query getEndpoint($id: String!) { myself { endpoint(id: $id) { id } } }",
        json!({"id": id}),
    )
    .await;
    assert!(d["myself"]["endpoint"].is_null());
    let again = gql_raw(
        &emu,
        "mutation deleteEndpoint($id: String!) { deleteEndpoint(id: $id) }",
        json!({"id": id}),
    )
    .await;
    assert!(
        again["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn state_dir_persists_apps_and_endpoints() {
    let dir = std::env::temp_dir().join(format!("flash-emu-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let emu = start_with(flash_emulator::Emulator::builder().state_dir(&dir)).await;
    let (app_id, env_id, _) = deploy(&emu, "kept").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "e", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id,
               "template": template("e", &[])}),
    )
    .await;
    emu.shutdown().await;

    let emu = start_with(flash_emulator::Emulator::builder().state_dir(&dir)).await;
    let d = gql(&emu, "query($id: String!) { flashApp(flashAppId: $id) { name flashEnvironments { endpoints { id name } } } }", json!({"id": app_id})).await;
    assert_eq!(d["flashApp"]["name"], "kept");
    assert_eq!(
        d["flashApp"]["flashEnvironments"][0]["endpoints"][0]["id"],
        ep["id"]
    );
    let d = gql(
        &emu,
        "query getEndpoint($id: String!) { myself { endpoint(id: $id) { aiKey } } }",
        json!({"id": ep["id"]}),
    )
    .await;
    assert_eq!(d["myself"]["endpoint"]["aiKey"], ep["aiKey"]);
    let (code, _) = dp_get(&emu, ep["id"].as_str().unwrap(), "health").await;
    assert_eq!(code, 200);
    emu.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_upload_url_serves_one_artifact_until_its_build_exists() {
    let emu = start().await;
    let (app_id, _) = create_app_env(&emu, "once").await;
    let tar = artifact();
    let d = gql(
        &emu,
        "mutation PrepareArtifactUpload($input: PrepareFlashArtifactUploadInput!) { prepareFlashArtifactUpload(input: $input) { uploadUrl objectKey expiresAt } }",
        json!({"input": {"flashAppId": app_id, "tarballSize": tar.len()}}),
    )
    .await["prepareFlashArtifactUpload"]
        .clone();
    let url = d["uploadUrl"].as_str().unwrap().to_owned();
    let key = d["objectKey"].as_str().unwrap().to_owned();
    assert!(
        d["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{d}"
    );
    let put = |url: String, body: Vec<u8>| async move {
        http()
            .put(url)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let wrong = url.replace("token=", "token=x");
    assert_eq!(put(wrong, tar.clone()).await, 403, "a wrong token");
    assert_eq!(put(url.clone(), tar.clone()).await, 200);
    assert_eq!(
        put(url.clone(), tar.clone()).await,
        200,
        "replaced before finalize"
    );
    gql(
        &emu,
        "mutation FinalizeArtifactUpload($input: FinalizeFlashArtifactUploadInput!) { finalizeFlashArtifactUpload(input: $input) { id } }",
        json!({"input": {"flashAppId": app_id, "objectKey": key, "manifest": {}}}),
    )
    .await;
    assert_eq!(put(url, tar).await, 409, "a build's artifact is immutable");
    emu.shutdown().await;
}

#[tokio::test]
async fn debug_output_shows_no_secret() {
    let emu = start().await;
    let (_, env_id) = create_app_env(&emu, "secrets").await;
    let ep = save_endpoint(
        &emu,
        json!({"name": "s", "workersMin": 0, "workersMax": 1, "flashEnvironmentId": env_id,
               "template": template("s", &[("RUNPOD_API_KEY", "rpa_user_secret_123")])}),
    )
    .await;
    let debug = format!("{emu:?}");
    for secret in [KEY, ep["aiKey"].as_str().unwrap(), "rpa_user_secret_123"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn a_restart_on_another_port_keeps_the_key_and_moves_the_urls() {
    let dir = std::env::temp_dir().join(format!("flash-emu-restart-{}", std::process::id()));
    let first = flash_emulator::Emulator::builder()
        .state_dir(&dir)
        .start()
        .await
        .unwrap();
    let key = first.api_key().expose().to_owned();
    let old_base = first.api_base_url().to_owned();
    let query = |emu: &flash_emulator::EmulatorHandle, q: &str, v: serde_json::Value| {
        let (url, key) = (emu.graphql_url(), emu.api_key().expose().to_owned());
        let q = q.to_owned();
        async move {
            let r: serde_json::Value = http()
                .post(url)
                .bearer_auth(key)
                .json(&json!({"query": q, "variables": v}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(r.get("errors").is_none(), "{r}");
            r["data"].clone()
        }
    };
    let app = query(
        &first,
        "mutation($i: CreateFlashAppInput!) { createFlashApp(input: $i) { id } }",
        json!({"i": {"name": "moving"}}),
    )
    .await["createFlashApp"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prepared = query(&first, "mutation($i: PrepareFlashArtifactUploadInput!) { prepareFlashArtifactUpload(input: $i) { uploadUrl objectKey } }", json!({"i": {"flashAppId": app, "tarballSize": 10}})).await["prepareFlashArtifactUpload"].clone();
    let put = http()
        .put(prepared["uploadUrl"].as_str().unwrap())
        .body(artifact())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let manifest = json!({"resources_endpoints": {"worker": format!("{old_base}/v2/ep1")}});
    let build = query(&first, "mutation($i: FinalizeFlashArtifactUploadInput!) { finalizeFlashArtifactUpload(input: $i) { id } }", json!({"i": {"flashAppId": app, "objectKey": prepared["objectKey"], "manifest": manifest}})).await["finalizeFlashArtifactUpload"]["id"].as_str().unwrap().to_owned();
    first.shutdown().await;

    // Hold the old port so the restart cannot get it back.
    let _hold = std::net::TcpListener::bind(old_base.trim_start_matches("http://")).ok();
    let second = flash_emulator::Emulator::builder()
        .state_dir(&dir)
        .start()
        .await
        .unwrap();
    assert_ne!(second.api_base_url(), old_base);
    assert_eq!(second.api_key().expose(), key, "the persisted key is kept");
    let builds = query(
        &second,
        "query($id: String!) { flashApp(flashAppId: $id) { flashBuilds { id manifest } } }",
        json!({"id": app}),
    )
    .await;
    let found = builds["flashApp"]["flashBuilds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == build.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        found["manifest"]["resources_endpoints"]["worker"],
        format!("{}/v2/ep1", second.api_base_url())
    );
    second.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn deleting_an_app_deletes_its_artifacts() {
    let emu = start().await;
    let (app_id, _) = create_app_env(&emu, "gone").await;
    let (_, key) = upload_build(&emu, &app_id, artifact()).await;
    let file = flash_emulator::artifacts::upload_path(emu.state_dir(), &key);
    assert!(file.is_file());
    gql(
        &emu,
        "mutation deleteFlashApp($flashAppId: String!) { deleteFlashApp(flashAppId: $flashAppId) }",
        json!({"flashAppId": app_id}),
    )
    .await;
    assert!(!file.exists(), "{} outlived its app", file.display());
    emu.shutdown().await;
}

/// An upload with a bad token is refused before its body is read: the emulator does not take
/// in 200 MB (or 1.5 GB) from a client it would refuse anyway.
#[tokio::test]
async fn an_upload_with_a_bad_token_is_refused_before_its_body_is_read() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = start().await;
    let (app_id, _) = create_app_env(&emu, "early").await;
    let d = gql(
        &emu,
        "mutation PrepareArtifactUpload($input: PrepareFlashArtifactUploadInput!) { prepareFlashArtifactUpload(input: $input) { uploadUrl objectKey } }",
        json!({"input": {"flashAppId": app_id, "tarballSize": 10}}),
    )
    .await["prepareFlashArtifactUpload"]
        .clone();
    let url = d["uploadUrl"].as_str().unwrap();
    let (_, path_and_query) = url.split_once("127.0.0.1").unwrap();
    let (port, path) = path_and_query
        .trim_start_matches(':')
        .split_once('/')
        .unwrap();
    let bad = format!("/{}", path.split('?').next().unwrap());
    let mut conn = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    const TOTAL: usize = 200 << 20;
    conn.write_all(
        format!("PUT {bad}?token=wrong HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let (mut read, mut write) = conn.into_split();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x1f; 1 << 20];
        let mut sent = 0;
        while sent < TOTAL {
            match tokio::time::timeout(Duration::from_secs(2), write.write_all(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len(),
                _ => break,
            }
        }
        sent
    });
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), read.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let sent = writer.await.unwrap();
    assert!(
        sent < TOTAL / 4,
        "{sent} bytes were taken in before the refusal"
    );
    emu.shutdown().await;
}
