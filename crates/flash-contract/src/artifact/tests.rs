use std::io::Read;

use super::*;

fn raw_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    build(&mut tar);
    let bytes = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&bytes).expect("gzip");
    gz.finish().expect("gzip")
}

fn good() -> Vec<u8> {
    pack(&[
        Member::file(
            MANIFEST_FILE,
            br#"{"entrypoint":"bin/app"}"#.to_vec(),
            0o644,
        ),
        Member::dir("bin/"),
        Member::file("bin/app", b"#!/bin/sh\n".to_vec(), 0o644),
    ])
    .expect("packs")
}

#[test]
fn pack_is_sorted_fixed_and_reproducible() {
    let make = || {
        pack(&[
            Member::file("z.json", b"{}".to_vec(), 0o644),
            Member::file("bin/app", b"\x7fELF".to_vec(), 0o755),
            Member::dir("bin/"),
        ])
        .expect("packs")
    };
    let bytes = make();
    assert_eq!(bytes, make());
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut seen = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        let header = entry.header().clone();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).expect("body");
        seen.push((
            entry.path().expect("path").display().to_string(),
            header.mode().expect("mode"),
            header.mtime().expect("mtime"),
            header.uid().expect("uid"),
            header.username().expect("utf8").map(str::to_owned),
        ));
    }
    let paths: Vec<_> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(paths, ["bin/", "bin/app", "z.json"]);
    assert_eq!(seen[1].1, 0o755);
    assert_eq!(seen[2].1, 0o644);
    assert!(seen.iter().all(|s| s.2 == 0 && s.3 == 0));
    assert!(seen.iter().all(|s| s.4.as_deref().unwrap_or("").is_empty()));
}

#[test]
fn unpacks_a_good_artifact_and_makes_the_entrypoint_executable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unpacked = unpack_from(
        good().as_slice(),
        &dir.path().join("app"),
        UnpackLimits::default(),
    )
    .expect("unpacks");
    assert!(unpacked.entrypoint.ends_with("bin/app"));
    assert_eq!(unpacked.target(), None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&unpacked.entrypoint)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
    }
}

#[test]
fn refuses_an_entrypoint_outside_or_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = pack(&[Member::file(
        MANIFEST_FILE,
        br#"{"entrypoint":"../../etc/passwd"}"#.to_vec(),
        0o644,
    )])
    .expect("packs");
    let e = unpack_from(
        outside.as_slice(),
        &dir.path().join("a"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ArtifactError::Entrypoint { .. }), "{e}");
    let missing = pack(&[Member::file(
        MANIFEST_FILE,
        br#"{"resources":{}}"#.to_vec(),
        0o644,
    )])
    .expect("packs");
    let e = unpack_from(
        missing.as_slice(),
        &dir.path().join("b"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("\"entrypoint\""), "{e}");
    let no_manifest = pack(&[Member::file("bin/app", b"x".to_vec(), 0o755)]).expect("packs");
    let e = unpack_from(
        no_manifest.as_slice(),
        &dir.path().join("c"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ArtifactError::Manifest { .. }), "{e}");
}

#[test]
fn refuses_traversal_links_and_devices() {
    let dir = tempfile::tempdir().expect("tempdir");
    let traversal = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`; write the name into the header by hand as an attacker would.
        header.as_old_mut().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        tar.append(&header, &b"x"[..]).expect("append");
    });
    let e = unpack_from(
        traversal.as_slice(),
        &dir.path().join("t"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ArtifactError::Escapes { .. }), "{e}");
    assert!(!dir.path().join("escape").exists());

    let link = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        tar.append_link(&mut header, "bin/app", "/etc/passwd")
            .expect("link");
    });
    let e = unpack_from(
        link.as_slice(),
        &dir.path().join("l"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ArtifactError::MemberKind { .. }), "{e}");

    let device = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Char);
        header.set_cksum();
        tar.append_data(&mut header, "dev/null", &b""[..])
            .expect("device");
    });
    let e = unpack_from(
        device.as_slice(),
        &dir.path().join("d"),
        UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ArtifactError::MemberKind { .. }), "{e}");
}

#[test]
fn refuses_a_decompression_bomb_without_holding_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 8 MiB of zeros compresses to a few KiB; a 1 MiB budget must stop it part-way.
    let bomb = pack(&[Member::file("zeros", vec![0u8; 8 * 1024 * 1024], 0o644)]).expect("packs");
    assert!(bomb.len() < 64 * 1024);
    let limits = UnpackLimits {
        max_bytes: 1024 * 1024,
        max_members: 10,
    };
    let e = unpack_from(bomb.as_slice(), &dir.path().join("b"), limits).unwrap_err();
    assert!(
        matches!(
            e,
            ArtifactError::TooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{e}"
    );
    let written = std::fs::metadata(dir.path().join("b/zeros"))
        .expect("stat")
        .len();
    assert!(written <= 1024 * 1024 + 64 * 1024, "{written}");

    let many: Vec<_> = (0..20)
        .map(|i| Member::file(format!("f{i}"), b"x".to_vec(), 0o644))
        .collect();
    let e = unpack_from(
        pack(&many).expect("packs").as_slice(),
        &dir.path().join("m"),
        limits,
    )
    .unwrap_err();
    assert!(
        matches!(e, ArtifactError::TooManyMembers { limit: 10 }),
        "{e}"
    );
}

#[test]
fn a_truncated_artifact_is_incomplete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = pack(&[
        Member::file(
            MANIFEST_FILE,
            br#"{"entrypoint":"bin/app"}"#.to_vec(),
            0o644,
        ),
        Member::file(
            "bin/app",
            (0..200_000u32)
                .flat_map(u32::to_le_bytes)
                .collect::<Vec<_>>(),
            0o755,
        ),
    ])
    .expect("packs");
    let truncated = &big[..big.len() / 2];
    let e = unpack_from(truncated, &dir.path().join("t"), UnpackLimits::default()).unwrap_err();
    assert!(e.is_incomplete(), "{e}");
}

#[test]
fn extract_takes_an_artifact_without_an_entrypoint_with_the_same_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    // What Python Flash's `flash build` writes: `./` then `./<path>` members, no entrypoint.
    let python = raw_tar(|tar| {
        let mut root = tar::Header::new_gnu();
        root.set_size(0);
        root.set_entry_type(tar::EntryType::Directory);
        tar.append_data(&mut root, "./", &b""[..]).expect("root");
        for (path, body) in [
            ("./flash_manifest.json", &br#"{"resources":{}}"#[..]),
            ("./handler_w.py", &b"def handler(job): pass\n"[..]),
            ("./runpod_flash/__init__.py", &b""[..]),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, path, body).expect("file");
        }
    });
    let dest = dir.path().join("app");
    assert!(matches!(
        unpack_from(python.as_slice(), &dest, UnpackLimits::default()),
        Err(ArtifactError::Entrypoint { .. })
    ));
    extract_from(python.as_slice(), &dest, UnpackLimits::default()).expect("extracts");
    assert!(dest.join("handler_w.py").is_file());
    assert!(dest.join("runpod_flash/__init__.py").is_file());

    let link = raw_tar(|tar| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        tar.append_link(&mut header, "handler_w.py", "/etc/passwd")
            .expect("link");
    });
    let e = extract_from(link.as_slice(), &dest, UnpackLimits::default()).unwrap_err();
    assert!(matches!(e, ArtifactError::MemberKind { .. }), "{e}");
    let limits = UnpackLimits {
        max_bytes: 4,
        max_members: 100,
    };
    let e = extract_from(python.as_slice(), &dest, limits).unwrap_err();
    assert!(matches!(e, ArtifactError::TooLarge { .. }), "{e}");
}
