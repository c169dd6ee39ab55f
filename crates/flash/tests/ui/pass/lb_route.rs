//! Load-balanced functions with routes: GET with a path parameter, and the other methods.

use runpod_flash::registry::HttpMethod;
use runpod_flash::{FlashError, Resource, remote};

const API: Resource = Resource::load_balanced("api");

#[remote(API, method = "GET", path = "/items/{id}")]
async fn item(id: u64, verbose: bool) -> Result<String, FlashError> {
    Ok(format!("item {id} verbose={verbose}"))
}

#[remote(API, method = "POST", path = "/users/{user}/items/{id}")]
async fn put_item(user: String, id: u64, body: serde_json::Value) -> Result<(), FlashError> {
    let _ = (user, id, body);
    Ok(())
}

#[remote(resource = API, path = "/items/{id}", method = "DELETE")]
async fn delete_item(id: u64) -> Result<bool, FlashError> {
    Ok(id > 0)
}

#[remote(API, method = "PUT", path = "/put")]
async fn put() -> Result<(), FlashError> {
    Ok(())
}

#[remote(API, method = "PATCH", path = "/patch/")]
async fn patch() -> Result<(), FlashError> {
    Ok(())
}

fn main() {
    use runpod_flash::call::RemoteFunction;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(item(7, true)).unwrap(), "item 7 verbose=true");
    runtime
        .block_on(put_item("ann".into(), 1, serde_json::json!({"a": 1})))
        .unwrap();
    assert!(runtime.block_on(delete_item(3)).unwrap());
    runtime.block_on(put()).unwrap();
    runtime.block_on(patch()).unwrap();

    let route = <item as RemoteFunction>::META.route().unwrap();
    assert_eq!((route.method, route.path), (HttpMethod::Get, "/items/{id}"));
    let route = <delete_item as RemoteFunction>::META.route().unwrap();
    assert_eq!(route.method, HttpMethod::Delete);
    assert_eq!(<put as RemoteFunction>::META.route().unwrap().method, HttpMethod::Put);
    assert_eq!(<patch as RemoteFunction>::META.route().unwrap().method, HttpMethod::Patch);
    assert_eq!(<put_item as RemoteFunction>::META.route().unwrap().method, HttpMethod::Post);
}
