//! The `flash-boot` binary against good, missing, truncated, wrong-architecture and malicious
//! artifacts. Each run is a real process; the entrypoint is a shell script that prints what it
//! was started with.
#![allow(missing_docs)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use flash_contract::artifact::{Member, pack};
use flash_contract::files::MANIFEST_FILE;
use serde_json::json;

const ENTRYPOINT: &[u8] =
    b"#!/bin/sh\necho \"booted in $(pwd) with $FLASH_MANIFEST_PATH and ${FLASH_RESOURCE_NAME}\"\n";

fn artifact(manifest: &serde_json::Value) -> Vec<u8> {
    pack(&[
        Member::file(MANIFEST_FILE, manifest.to_string(), 0o644),
        Member::dir("bin/"),
        Member::file("bin/app", ENTRYPOINT.to_vec(), 0o644),
    ])
    .unwrap()
}

fn good() -> Vec<u8> {
    artifact(&json!({"entrypoint": "bin/app"}))
}

fn boot(dir: &Path, extra: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flash-boot"));
    command
        .env("FLASH_BUILD_ARTIFACT_PATH", dir.join("artifact.tar.gz"))
        .env("FLASH_APP_DIR", dir.join("app"))
        .env("FLASH_RESOURCE_NAME", "gpu_worker")
        .env("FLASH_BOOT_ATTEMPTS", "2");
    for (k, v) in extra {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last stderr line: the one the failure is reported on.
fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure: {output:?}");
    let text = stderr(output);
    let last = text.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("flash-boot: "), "{text}");
    last
}

#[test]
fn a_good_artifact_is_unpacked_and_its_entrypoint_execed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("artifact.tar.gz"), good()).unwrap();
    let output = boot(dir.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    let app = dir.path().join("app");
    assert!(
        out.contains(&format!("booted in {}", app.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}", app.join(MANIFEST_FILE).display())),
        "{out}"
    );
    assert!(
        out.contains("gpu_worker"),
        "the worker's env reaches the entrypoint: {out}"
    );
}

#[test]
fn a_missing_artifact_is_retried_then_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = boot(dir.path(), &[]);
    let line = failure(&output);
    assert!(
        line.contains("no build artifact at") && line.contains("after 2 tries"),
        "{line}"
    );
    assert!(stderr(&output).contains("try 1 of 2"), "a retry is logged");
}

#[test]
fn a_truncated_artifact_is_retried_then_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = artifact(&json!({"entrypoint": "bin/app", "padding": "x".repeat(200_000)}));
    let mut file = std::fs::File::create(dir.path().join("artifact.tar.gz")).unwrap();
    file.write_all(&bytes[..bytes.len() / 2]).unwrap();
    drop(file);
    let output = boot(dir.path(), &[]);
    let line = failure(&output);
    assert!(line.contains("not a complete tar.gz"), "{line}");
    assert!(stderr(&output).contains("incomplete"), "a retry is logged");
}

#[test]
fn an_artifact_for_another_platform_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = if cfg!(target_arch = "aarch64") {
        "x86_64-unknown-linux-gnu"
    } else {
        "aarch64-apple-darwin"
    };
    let bytes = artifact(&json!({"entrypoint": "bin/app", "target": foreign}));
    std::fs::write(dir.path().join("artifact.tar.gz"), bytes).unwrap();
    let line = failure(&boot(dir.path(), &[]));
    assert!(
        line.contains(foreign) && line.contains(&flash_boot::host()),
        "{line}"
    );
}

#[test]
fn an_artifact_for_this_platform_boots() {
    let dir = tempfile::tempdir().unwrap();
    let here = format!(
        "{}-unknown-{}-gnu",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    let bytes = artifact(&json!({"entrypoint": "bin/app", "target": here}));
    std::fs::write(dir.path().join("artifact.tar.gz"), bytes).unwrap();
    let output = boot(dir.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
}

fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    build(&mut tar);
    let bytes = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn malicious_artifacts_are_refused() {
    let traversal = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_old_mut().name[..12].copy_from_slice(b"../../escape");
        header.set_cksum();
        tar.append(&header, &b"x"[..]).unwrap();
    });
    let link = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        tar.append_link(&mut header, "bin/app", "/bin/sh").unwrap();
    });
    let device = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Block);
        header.set_cksum();
        tar.append_data(&mut header, "dev/sda", &b""[..]).unwrap();
    });
    let bomb = pack(&[
        Member::file(
            MANIFEST_FILE,
            json!({"entrypoint": "bin/app"}).to_string(),
            0o644,
        ),
        Member::file("zeros", vec![0u8; 8 * 1024 * 1024], 0o644),
    ])
    .unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("traversal", traversal, "escapes the artifact"),
        ("link", link, "links and devices are refused"),
        ("device", device, "links and devices are refused"),
        ("bomb", bomb, "unpacks to more than 1048576 bytes"),
    ];
    for (name, bytes, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("artifact.tar.gz"), bytes).unwrap();
        let line = failure(&boot(
            dir.path(),
            &[("FLASH_BOOT_MAX_UNPACKED_BYTES", "1048576")],
        ));
        assert!(line.contains(expected), "{name}: {line}");
        assert!(
            !dir.path().join("escape").exists()
                && !dir.path().parent().unwrap().join("escape").exists()
        );
    }
}

#[test]
fn an_entrypoint_outside_the_artifact_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = artifact(&json!({"entrypoint": "/bin/sh"}));
    std::fs::write(dir.path().join("artifact.tar.gz"), bytes).unwrap();
    let line = failure(&boot(dir.path(), &[]));
    assert!(
        line.contains("entrypoint") && line.contains("not a relative path"),
        "{line}"
    );
}
