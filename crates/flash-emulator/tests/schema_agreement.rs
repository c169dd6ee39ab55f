//! The emulator's SDL is the source of truth for `crates/flash/graphql/schema.graphql`, which the
//! State Manager client compiles its operations against. Run with `UPDATE_SCHEMA=1` to rewrite the
//! file.

use std::path::PathBuf;

const HEADER: &str = "\
# Runpod's GraphQL schema as far as runpod-flash uses it: the SDL of the local emulator
# (crates/flash-emulator), which implements every operation here.
#
# Generated: do not edit by hand. `UPDATE_SCHEMA=1 cargo test -p flash-emulator --test
# schema_agreement` rewrites it from the emulator; the same test fails when they differ.
# graphql_client compiles the State Manager operations in this directory against it.
";

fn strip(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn schema_file_matches_emulator_sdl() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flash/graphql/schema.graphql");
    let sdl = flash_emulator::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, format!("{HEADER}\n{}\n", sdl.trim())).unwrap();
    }
    let file = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        strip(&file),
        strip(&sdl),
        "schema.graphql differs from the emulator SDL; rerun with UPDATE_SCHEMA=1"
    );
}
