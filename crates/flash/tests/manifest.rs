//! Manifest loading, saving, lookup and validation against fixture files.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use runpod_flash::error::{ManifestError, ManifestOrigin, ManifestRule};
use runpod_flash::manifest::{Manifest, discover_in};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");
/// Manifests written by Python `flash build` (runpod-flash 1.21), kept verbatim in `valid/`.
const PYTHON_FIXTURES: [&str; 3] = [
    "01_hello_world.json",
    "03_mixed_workers.json",
    "05_load_balancer.json",
];

fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(FIXTURES).join(kind).join(name)
}

fn read_value(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("flash-manifest-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn valid_fixtures_load_and_validate() {
    for entry in fs::read_dir(Path::new(FIXTURES).join("valid")).unwrap() {
        let path = entry.unwrap().path();
        let manifest =
            Manifest::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(manifest.problems().is_empty(), "{}", path.display());
        assert!(!manifest.resources.is_empty());
    }
}

#[test]
fn python_fixtures_round_trip_exactly() {
    let scratch = Scratch::new("round-trip");
    for name in PYTHON_FIXTURES {
        let source = fixture("valid", name);
        let manifest = Manifest::from_path(&source).unwrap();
        let target = scratch.path().join(name);
        manifest.save(&target).unwrap();
        assert_eq!(read_value(&target), read_value(&source), "{name}");
        // Python's `json.dumps(indent=2)` and ours agree byte for byte, key order included,
        // apart from our trailing newline.
        let original = fs::read_to_string(&source).unwrap();
        assert_eq!(
            manifest.to_json_pretty().trim_end(),
            original.trim_end(),
            "{name}"
        );
    }
}

#[test]
fn unknown_keys_survive_a_round_trip() {
    for name in PYTHON_FIXTURES {
        let mut value = read_value(&fixture("valid", name));
        value["x_future_top"] = serde_json::json!({"nested": [1, 2.5, null]});
        let resources = value["resources"].as_object_mut().unwrap();
        let (_, resource) = resources.iter_mut().next().unwrap();
        resource["x_future_resource"] = serde_json::json!("kept");
        resource["functions"][0]["x_future_function"] = serde_json::json!(true);

        let text = serde_json::to_string(&value).unwrap();
        let manifest = Manifest::from_json_str(&text, ManifestOrigin::Inline).unwrap();
        assert!(manifest.extra.contains_key("x_future_top"));
        let resource = manifest.resources.values().next().unwrap();
        assert!(resource.extra.contains_key("x_future_resource"));
        assert!(
            resource.functions[0]
                .extra
                .contains_key("x_future_function")
        );

        let back: Value = serde_json::from_str(&manifest.to_json_pretty()).unwrap();
        assert_eq!(back, value, "{name}");
    }
}

#[test]
fn save_replaces_the_file_and_leaves_no_temporary_behind() {
    let scratch = Scratch::new("save");
    let target = scratch.path().join("flash_manifest.json");
    fs::write(&target, "old contents").unwrap();
    let manifest = Manifest::from_path(&fixture("valid", "05_load_balancer.json")).unwrap();
    manifest.save(&target).unwrap();
    let text = fs::read_to_string(&target).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(text.starts_with("{\n  \"version\": \"1.0\","));
    let names: Vec<_> = fs::read_dir(scratch.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["flash_manifest.json"]);
}

#[test]
fn save_into_a_missing_directory_is_a_write_error() {
    let scratch = Scratch::new("save-missing");
    let target = scratch.path().join("no/such/dir/flash_manifest.json");
    let err = Manifest::default().save(&target).unwrap_err();
    assert!(
        matches!(&err, ManifestError::Write { origin: ManifestOrigin::File(p), .. } if *p == target),
        "{err:?}"
    );
}

/// Each invalid fixture and exactly the problems it must produce, in order.
fn expected_problems() -> Vec<(&'static str, Vec<(ManifestRule, &'static str)>)> {
    use ManifestRule::*;
    vec![
        (
            "registry_unknown_resource.json",
            vec![(RegistryUnknownResource, "$.function_registry.ghost_fn")],
        ),
        (
            "function_not_in_registry.json",
            vec![(FunctionNotInRegistry, "$.resources.gpu.functions[0].name")],
        ),
        (
            "registry_function_not_in_resource.json",
            vec![(RegistryFunctionNotInResource, "$.function_registry.extra")],
        ),
        (
            "duplicate_function.json",
            vec![(DuplicateFunction, "$.resources.gpu.functions[1].name")],
        ),
        (
            "missing_route.json",
            vec![(MissingRoute, "$.resources.api.functions[1]")],
        ),
        (
            "duplicate_route.json",
            vec![(DuplicateRoute, "$.resources.api.functions[1].http_path")],
        ),
        (
            "reserved_path.json",
            vec![(ReservedPath, "$.resources.api.functions[1].http_path")],
        ),
        (
            "invalid_method.json",
            vec![(InvalidMethod, "$.resources.api.functions[1].http_method")],
        ),
        (
            "invalid_path.json",
            vec![(InvalidPath, "$.resources.api.functions[1].http_path")],
        ),
        (
            "routes_mismatch.json",
            vec![
                (RoutesMismatch, r#"$.routes.api["GET /healthz"]"#),
                (RoutesMismatch, "$.routes.api"),
                (RoutesMismatch, "$.routes.ghost"),
            ],
        ),
        (
            "invalid_endpoint.json",
            vec![
                (InvalidEndpoint, "$.resources_endpoints.api"),
                (InvalidEndpoint, "$.resources_endpoints.ghost"),
            ],
        ),
        (
            "several_rules.json",
            vec![
                (
                    FunctionNotInRegistry,
                    r#"$.resources["gpu-worker"].functions[1].name"#,
                ),
                (ReservedPath, "$.resources.api.functions[1].http_path"),
                (MissingRoute, "$.resources.api.functions[2]"),
                (InvalidMethod, "$.resources.api.functions[2].http_method"),
                (DuplicateFunction, "$.resources.api.functions[3].name"),
                (DuplicateRoute, "$.resources.api.functions[3].http_path"),
                (RegistryUnknownResource, "$.function_registry.lost"),
                (RoutesMismatch, r#"$.routes["gpu-worker"]"#),
                (InvalidEndpoint, "$.resources_endpoints.api"),
            ],
        ),
    ]
}

#[test]
fn each_invalid_fixture_yields_exactly_its_problems() {
    for (name, expected) in expected_problems() {
        let path = fixture("invalid", name);
        let err = Manifest::from_path(&path).unwrap_err();
        let ManifestError::Invalid { origin, problems } = &err else {
            panic!("{name}: expected Invalid, got {err:?}");
        };
        assert_eq!(*origin, ManifestOrigin::File(path.clone()));
        let got: Vec<_> = problems
            .iter()
            .map(|p| (p.rule, p.json_path.as_str()))
            .collect();
        assert_eq!(got, expected, "{name}");
        // The rendered error lists every problem, one per line.
        assert_eq!(
            err.to_string().lines().count(),
            problems.len() + 1,
            "{name}"
        );
    }
}

#[test]
fn every_invalid_fixture_is_checked() {
    let mut on_disk: Vec<String> = fs::read_dir(Path::new(FIXTURES).join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = expected_problems()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn one_fixture_per_rule() {
    use ManifestRule::*;
    for rule in [
        RegistryUnknownResource,
        FunctionNotInRegistry,
        RegistryFunctionNotInResource,
        DuplicateFunction,
        MissingRoute,
        DuplicateRoute,
        ReservedPath,
        InvalidMethod,
        InvalidPath,
        RoutesMismatch,
        InvalidEndpoint,
    ] {
        let pure = expected_problems()
            .into_iter()
            .any(|(_, problems)| problems.iter().all(|(r, _)| *r == rule));
        assert!(pure, "no fixture breaks only {rule:?}");
    }
}

#[test]
fn messages_name_what_is_involved() {
    let problems = Manifest::from_path_unvalidated(&fixture("invalid", "several_rules.json"))
        .unwrap()
        .problems();
    let message = |rule| {
        problems
            .iter()
            .find(|p| p.rule == rule)
            .map(|p| p.message.clone())
            .unwrap()
    };
    let reserved = message(ManifestRule::ReservedPath);
    assert!(
        reserved.contains("`health`") && reserved.contains("`api`"),
        "{reserved}"
    );
    assert!(reserved.contains("GET /execute"), "{reserved}");
    let method = message(ManifestRule::InvalidMethod);
    assert!(
        method.contains("`get`") && method.contains("`GET`"),
        "{method}"
    );
    let duplicate = message(ManifestRule::DuplicateRoute);
    assert!(
        duplicate.contains("`classify`")
            && duplicate.contains("`infer`")
            && duplicate.contains("POST /classify"),
        "{duplicate}"
    );
    let function = message(ManifestRule::DuplicateFunction);
    assert!(
        function.contains("`gpu-worker`") && function.contains("`api`"),
        "{function}"
    );
    let endpoint = message(ManifestRule::InvalidEndpoint);
    assert!(endpoint.contains("api.runpod.ai"), "{endpoint}");
}

#[test]
fn malformed_json_reports_line_and_column() {
    let path = fixture("malformed", "syntax_error.json");
    let err = Manifest::from_path(&path).unwrap_err();
    let ManifestError::Parse {
        origin,
        line,
        column,
        message,
    } = &err
    else {
        panic!("expected Parse, got {err:?}");
    };
    assert_eq!(*origin, ManifestOrigin::File(path));
    assert_eq!((*line, *column), (4, 3), "{message}");
    assert!(!message.contains("at line"), "{message}");
    assert!(err.to_string().contains("line 4, column 3"), "{err}");
}

#[test]
fn wrong_shapes_name_the_field() {
    let err = Manifest::from_path(&fixture("malformed", "wrong_type.json")).unwrap_err();
    let ManifestError::Parse { message, line, .. } = &err else {
        panic!("expected Parse, got {err:?}");
    };
    assert!(
        message.starts_with("$.resources.gpu.workersMin: invalid type"),
        "{message}"
    );
    assert!(*line >= 1);

    let err = Manifest::from_path(&fixture("malformed", "function_without_name.json")).unwrap_err();
    let ManifestError::Parse { message, .. } = &err else {
        panic!("expected Parse, got {err:?}");
    };
    assert!(
        message.starts_with("$.resources.gpu.functions[1]: missing field `name`"),
        "{message}"
    );

    for (text, path) in [
        ("[]", "$"),
        (r#"{"resources": []}"#, "$.resources"),
        (r#"{"resources": {"01_x": 3}}"#, r#"$.resources["01_x"]"#),
        (
            r#"{"resources": {"a": {"functions": [3]}}}"#,
            "$.resources.a.functions[0]",
        ),
        (r#"{"function_registry": {"f": 1}}"#, "$.function_registry"),
    ] {
        let err = Manifest::from_json_str(text, ManifestOrigin::Inline).unwrap_err();
        let ManifestError::Parse { message, .. } = &err else {
            panic!("expected Parse, got {err:?}");
        };
        assert!(
            message.starts_with(&format!("{path}: ")),
            "{text}: {message}"
        );
    }
}

#[test]
fn missing_file_is_a_read_error_naming_it() {
    let path = Path::new(FIXTURES).join("does-not-exist.json");
    let err = Manifest::from_path(&path).unwrap_err();
    assert!(matches!(&err, ManifestError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("does-not-exist.json"), "{err}");
}

fn write_manifest(dir: &Path) -> PathBuf {
    let path = dir.join("flash_manifest.json");
    fs::copy(fixture("valid", "01_hello_world.json"), &path).unwrap();
    path
}

#[test]
fn discovery_order() {
    let scratch = Scratch::new("discover");
    let cwd = scratch.path().join("cwd");
    let exe = scratch.path().join("exe");
    let named = scratch.path().join("named");
    for dir in [&cwd, &exe, &named] {
        fs::create_dir_all(dir).unwrap();
    }
    let named_file = write_manifest(&named);
    let found = |explicit: Option<&Path>, env: Option<&str>| {
        discover_in(explicit, env.map(OsStr::new), &cwd, Some(&exe))
            .unwrap()
            .map(|loaded| loaded.path)
    };

    // Nothing anywhere.
    assert_eq!(found(None, None), None);
    assert!(discover_in(None, None, &cwd, None).unwrap().is_none());

    // Next to the executable.
    let exe_file = write_manifest(&exe);
    assert_eq!(found(None, None), Some(exe_file));

    // The working directory beats the executable's.
    let cwd_file = write_manifest(&cwd);
    assert_eq!(found(None, None), Some(cwd_file.clone()));

    // FLASH_MANIFEST_PATH beats both; an empty value counts as unset.
    assert_eq!(found(None, named_file.to_str()), Some(named_file.clone()));
    assert_eq!(found(None, Some("")), Some(cwd_file.clone()));

    // An explicit path beats everything; a relative one is taken from the working directory.
    let explicit = fixture("valid", "03_mixed_workers.json");
    let loaded = discover_in(
        Some(&explicit),
        named_file.to_str().map(OsStr::new),
        &cwd,
        None,
    )
    .unwrap()
    .unwrap();
    assert_eq!(loaded.path, explicit);
    assert_eq!(
        loaded.manifest.project_name.as_deref(),
        Some("03_mixed_workers")
    );
    assert_eq!(
        found(Some(Path::new("flash_manifest.json")), None),
        Some(cwd_file)
    );
}

#[test]
fn named_paths_that_do_not_exist_are_errors() {
    let scratch = Scratch::new("discover-missing");
    let cwd = scratch.path();
    write_manifest(cwd);
    let missing = cwd.join("nope.json");

    let err = discover_in(Some(&missing), None, cwd, None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::Read { origin: ManifestOrigin::File(p), .. } if *p == missing)
    );

    let err = discover_in(None, Some(missing.as_os_str()), cwd, None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::Read { origin: ManifestOrigin::File(p), .. } if *p == missing)
    );
}

#[test]
fn a_broken_default_candidate_is_reported_not_skipped() {
    let scratch = Scratch::new("discover-broken");
    let cwd = scratch.path().join("cwd");
    let exe = scratch.path().join("exe");
    fs::create_dir_all(&cwd).unwrap();
    fs::create_dir_all(&exe).unwrap();
    write_manifest(&exe);
    fs::copy(
        fixture("invalid", "reserved_path.json"),
        cwd.join("flash_manifest.json"),
    )
    .unwrap();
    let err = discover_in(None, None, &cwd, Some(&exe)).unwrap_err();
    assert!(matches!(err, ManifestError::Invalid { .. }), "{err:?}");
}
