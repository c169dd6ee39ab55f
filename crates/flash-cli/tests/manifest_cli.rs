//! Runs the built `flash` binary on manifest fixtures.

use std::path::PathBuf;
use std::process::{Command, Output};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../flash/tests/fixtures/manifests"
);

fn fixture(kind: &str, name: &str) -> PathBuf {
    PathBuf::from(FIXTURES).join(kind).join(name)
}

fn flash(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let Output { status, stdout, .. } = Command::new(env!("CARGO_BIN_EXE_flash"))
        .args(args)
        .output()
        .unwrap();
    (status.code().unwrap(), String::from_utf8(stdout).unwrap())
}

#[test]
fn check_valid_manifest() {
    let valid = fixture("valid", "05_load_balancer.json");
    let (code, out) = flash(&["manifest".as_ref(), "check".as_ref(), valid.as_os_str()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, format!("ok: {}\n", valid.display()));
}

#[test]
fn check_reports_every_problem_and_fails() {
    let valid = fixture("valid", "01_hello_world.json");
    let invalid = fixture("invalid", "several_rules.json");
    let (code, out) = flash(&[
        "manifest".as_ref(),
        "check".as_ref(),
        valid.as_os_str(),
        invalid.as_os_str(),
    ]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("ok: {}", valid.display()));
    assert!(
        lines[1].starts_with("error: manifest ") && lines[1].contains("9 problems"),
        "{out}"
    );
    assert_eq!(lines.len(), 2 + 9, "{out}");
    assert!(out.contains(r#"  - $.resources["gpu-worker"].functions[1].name: function `orphan`"#));
    assert!(out.contains("  - $.resources_endpoints.api: "), "{out}");
}

#[test]
fn check_malformed_and_missing_files() {
    let malformed = fixture("malformed", "syntax_error.json");
    let missing = fixture("valid", "missing.json");
    let (code, out) = flash(&[
        "manifest".as_ref(),
        "check".as_ref(),
        malformed.as_os_str(),
        missing.as_os_str(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("line 4, column 3"), "{out}");
    assert!(
        out.contains("cannot read manifest") && out.contains("missing.json"),
        "{out}"
    );
}

#[test]
fn show_summarizes_a_deployed_manifest() {
    let file = fixture("valid", "minimal_deployed.json");
    let (code, out) = flash(&["manifest".as_ref(), "show".as_ref(), file.as_os_str()]);
    assert_eq!(code, 0, "{out}");
    let expected = "\
project: fixture
manifest version: 1.0
resources: 2

resource gpu
  kind: queue, GPU ADA_24
  workers: 0-3
  max_concurrency: 2
  makes remote calls: no
  endpoint: https://api.runpod.ai/v2/abc123
  functions: infer

resource api
  kind: load-balanced, CPU cpu3c-1-2
  workers: 1-3
  max_concurrency: n/a (load-balanced)
  makes remote calls: yes
  endpoint: https://def456.api.runpod.ai
  functions: classify, health
  routes:
    POST /classify -> classify
    GET /health -> health
";
    assert_eq!(out, expected);
}

#[test]
fn show_lists_problems_of_an_invalid_manifest() {
    let file = fixture("invalid", "reserved_path.json");
    let (code, out) = flash(&["manifest".as_ref(), "show".as_ref(), file.as_os_str()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("    GET /ping -> health\n"), "{out}");
    assert!(
        out.contains("  - $.resources.api.functions[1].http_path: function `health`"),
        "{out}"
    );
}
