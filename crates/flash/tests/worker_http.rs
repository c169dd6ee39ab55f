//! The load-balanced server and the queue worker's local test API over real HTTP on 127.0.0.1.

use std::time::Duration;

use runpod_flash::worker::{FunctionTable, Readiness, health_router, lb_router, local_api_router};
use runpod_flash::{Error, FlashError, Resource, remote};
use serde_json::{Value, json};

const LB: Resource = Resource::load_balanced("http-lb");
const QB: Resource = Resource::queue("http-qb");

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, thiserror::Error)]
enum ShopError {
    #[error("item {0} is sold out")]
    SoldOut(u64),
}

#[remote(LB, method = "GET", path = "/items/{id}")]
async fn get_item(id: u64, currency: Option<String>) -> Result<Value, Error<ShopError>> {
    Ok(json!({"id": id, "currency": currency.unwrap_or_else(|| "EUR".into())}))
}

#[remote(LB, method = "POST", path = "/items/{id}/buy")]
async fn buy(id: u64, quantity: u32, note: String) -> Result<Value, Error<ShopError>> {
    if id == 13 {
        return Err(Error::App(ShopError::SoldOut(id)));
    }
    Ok(json!({"id": id, "quantity": quantity, "note": note}))
}

#[remote(LB, method = "PUT", path = "/items/{id}")]
async fn put_item(id: String, name: String) -> Result<String, FlashError> {
    Ok(format!("{id}:{name}"))
}

#[remote(LB, method = "PATCH", path = "/items/{id}")]
async fn patch_item(id: u64, delta: i64) -> Result<i64, FlashError> {
    Ok(id as i64 + delta)
}

#[remote(LB, method = "DELETE", path = "/items/{id}")]
async fn delete_item(id: u64) -> Result<bool, FlashError> {
    Ok(id > 0)
}

#[remote(QB)]
async fn square(x: i64) -> Result<i64, FlashError> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(x * x)
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

async fn lb() -> (String, Readiness) {
    let readiness = Readiness::default();
    let table = FunctionTable::for_resource("http-lb");
    let base = serve(lb_router(&table).merge(health_router(readiness.clone()))).await;
    (base, readiness)
}

#[tokio::test]
async fn every_method_with_path_params_query_and_body() {
    let (base, _) = lb().await;
    let client = reqwest::Client::new();
    let got: Value = client
        .get(format!("{base}/items/7?currency=USD"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!({"id": 7, "currency": "USD"}));
    let got: Value = client
        .get(format!("{base}/items/8"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!({"id": 8, "currency": "EUR"}));
    let got: Value = client
        .post(format!("{base}/items/5/buy"))
        .json(&json!({"quantity": 2, "note": "gift"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!({"id": 5, "quantity": 2, "note": "gift"}));
    let got: Value = client
        .put(format!("{base}/items/007"))
        .json(&json!({"name": "bond"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got,
        json!("007:bond"),
        "a String path parameter keeps its text"
    );
    let got: Value = client
        .patch(format!("{base}/items/10"))
        .json(&json!({"delta": -3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!(7));
    let got: Value = client
        .delete(format!("{base}/items/1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!(true));
}

#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_parameter() {
    let (base, _) = lb().await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/items/5/buy"))
        .json(&json!({"note": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "ArgumentError");
    assert_eq!(
        body["error_message"],
        "argument `quantity` of `buy`: missing"
    );
    let response = client
        .get(format!("{base}/items/not-a-number"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .starts_with("argument `id` of `get_item`: wrong type"),
        "{body}"
    );
    let response = client
        .post(format!("{base}/items/5/buy"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .post(format!("{base}/items/5/buy"))
        .json(&json!({"quantity": 1, "note": "n", "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn function_errors_are_5xx_with_the_queue_error_shape() {
    let (base, _) = lb().await;
    let response = reqwest::Client::new()
        .post(format!("{base}/items/13/buy"))
        .json(&json!({"quantity": 1, "note": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "ShopError");
    assert_eq!(body["error_message"], "item 13 is sold out");
    assert_eq!(body["app_error"], json!({"SoldOut": 13}));
}

#[tokio::test]
async fn ping_is_204_until_ready_then_200_and_execute_does_not_exist() {
    let (base, readiness) = lb().await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    readiness.set_ready();
    assert_eq!(
        client
            .get(format!("{base}/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = client
            .request(method, format!("{base}/execute"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
}

#[tokio::test]
async fn local_test_api_runs_runsync_and_queues_run() {
    let base = serve(local_api_router(FunctionTable::for_resource("http-qb"), 1)).await;
    let client = reqwest::Client::new();
    let done: Value = client
        .post(format!("{base}/runsync"))
        .json(&json!({"input": {"x": 9}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["output"], 81);

    let queued: Value = client
        .post(format!("{base}/run"))
        .json(&json!({"input": {"x": 4}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["status"], "IN_QUEUE");
    let id = queued["id"].as_str().unwrap();
    let mut status = Value::Null;
    for _ in 0..100 {
        status = client
            .get(format!("{base}/status/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "COMPLETED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status["output"], 16, "{status}");

    let failed: Value = client
        .post(format!("{base}/runsync"))
        .json(&json!({"input": {"y": 1}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["status"], "FAILED");
    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["jobs"]["completed"], 2);
    assert_eq!(health["jobs"]["failed"], 1);
    assert_eq!(
        client
            .get(format!("{base}/status/unknown"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn boot_check_lists_every_difference_between_manifest_and_binary() {
    let table = FunctionTable::for_resource("http-lb");
    let manifest: runpod_flash::manifest::Manifest = serde_json::from_value(json!({
        "resources": {"http-lb": {"is_load_balanced": true, "functions": [
            {"name": "get_item", "http_method": "GET", "http_path": "/items/{id}"},
            {"name": "buy", "http_method": "POST", "http_path": "/purchase"},
            {"name": "gone", "http_method": "GET", "http_path": "/gone"}
        ]}},
        "function_registry": {"get_item": "http-lb", "buy": "http-lb", "gone": "http-lb"}
    }))
    .unwrap();
    let error = runpod_flash::worker::check_boot("http-lb", Some(&manifest), &table).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(
            "`buy` has route POST /purchase in the manifest but POST /items/{id}/buy in this binary"
        ),
        "{text}"
    );
    assert!(
        text.contains("`gone` is in the manifest but not compiled into this binary"),
        "{text}"
    );
    for missing in ["put_item", "patch_item", "delete_item"] {
        assert!(
            text.contains(&format!(
                "`{missing}` is compiled into this binary but not in the manifest"
            )),
            "{text}"
        );
    }
    assert_eq!(error.differences.len(), 5);
    let error = runpod_flash::worker::check_boot(
        "nobody",
        Some(&manifest),
        &FunctionTable::for_resource("nobody"),
    )
    .unwrap_err();
    assert_eq!(error.differences.len(), 2, "{error}");
    assert!(runpod_flash::worker::check_boot("http-lb", None, &table).is_ok());
}

#[test]
fn a_missing_system_dependency_stops_the_worker_with_a_clear_message() {
    let table = FunctionTable::for_resource("http-qb");
    let manifest: runpod_flash::manifest::Manifest = serde_json::from_value(json!({
        "resources": {"http-qb": {"functions": [{"name": "square"}],
                                  "system_dependencies": ["sh", "definitely-not-installed-xyz"]}},
        "function_registry": {"square": "http-qb"}
    }))
    .unwrap();
    let error = runpod_flash::worker::check_boot("http-qb", Some(&manifest), &table).unwrap_err();
    assert_eq!(
        error.differences,
        [
            "system dependency `definitely-not-installed-xyz` is not installed on this worker (not found on PATH)"
        ]
    );
}
