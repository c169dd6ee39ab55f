//! What the crates must agree on, checked across them: the `#[remote]` macro (flash-codegen)
//! and the manifest validator (runpod-flash) accept and refuse the same HTTP methods and paths.

use flash_contract::http::{METHODS, RESERVED_PATHS};
use runpod_flash::error::{ManifestError, ManifestOrigin, ManifestRule};
use runpod_flash::manifest::Manifest;

/// Whether `#[remote]` accepts the route.
fn macro_accepts(method: &str, path: &str) -> bool {
    let attr: proc_macro2::TokenStream = format!("API, method = {method:?}, path = {path:?}")
        .parse()
        .expect("attribute tokens");
    let item = quote::quote! { async fn f() -> Result<(), runpod_flash::FlashError> { Ok(()) } };
    flash_codegen::parse_remote(attr, item).is_ok()
}

/// Whether the manifest validator accepts the route, and if not, by which rule.
fn manifest_verdict(method: &str, path: &str) -> Result<(), Vec<ManifestRule>> {
    let text = serde_json::json!({
        "resources": {"api": {"is_load_balanced": true,
            "functions": [{"name": "f", "http_method": method, "http_path": path}]}},
        "function_registry": {"f": "api"}
    })
    .to_string();
    let manifest = Manifest::from_json_str(&text, ManifestOrigin::Inline).expect("parses");
    match manifest.validate(&ManifestOrigin::Inline) {
        Ok(()) => Ok(()),
        Err(ManifestError::Invalid { problems, .. }) => {
            Err(problems.iter().map(|p| p.rule).collect())
        }
        Err(other) => panic!("unexpected manifest error: {other}"),
    }
}

#[test]
fn macro_and_manifest_agree_on_methods() {
    let candidates = METHODS
        .iter()
        .map(|m| (*m).to_owned())
        .chain(["get", "Post", "HEAD", "OPTIONS", "CONNECT", "TRACE", ""].map(str::to_owned));
    for method in candidates {
        let by_macro = macro_accepts(&method, "/items");
        let by_manifest = manifest_verdict(&method, "/items");
        assert_eq!(
            by_macro,
            by_manifest.is_ok(),
            "method {method:?}: macro {by_macro}, manifest {by_manifest:?}"
        );
        assert_eq!(by_macro, METHODS.contains(&method.as_str()), "{method:?}");
    }
}

#[test]
fn macro_and_manifest_agree_on_reserved_paths() {
    let candidates = RESERVED_PATHS
        .iter()
        .flat_map(|p| [(*p).to_owned(), format!("{p}/"), format!("{p}//")])
        .chain(["/pings", "/execute2", "/p/ping", "/items", "/"].map(str::to_owned));
    for path in candidates {
        let by_macro = macro_accepts("POST", &path);
        let by_manifest = manifest_verdict("POST", &path);
        let reserved = flash_contract::http::is_reserved(&path);
        assert_eq!(
            by_macro,
            by_manifest.is_ok(),
            "path {path:?}: macro {by_macro}, manifest {by_manifest:?}"
        );
        if reserved {
            assert_eq!(
                by_manifest,
                Err(vec![ManifestRule::ReservedPath]),
                "{path:?}"
            );
        }
        assert_eq!(by_macro, !reserved, "{path:?}");
    }
}
