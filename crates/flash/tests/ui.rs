//! Compile-time behaviour of `#[remote]`: programs that must compile (and run), and programs
//! that must fail with the error on the offending token (`tests/ui/fail/*.stderr`).
//!
//! Regenerate the snapshots with `TRYBUILD=overwrite cargo test -p runpod-flash --test ui`, then
//! read every changed `.stderr`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
