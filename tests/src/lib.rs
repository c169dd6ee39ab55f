//! System tests of runpod-flash for Rust: see the test targets beside this package's manifest
//! (`examples.rs`: every example deployed to the emulator and run; `contracts.rs`: what the
//! crates must agree on). Unit and crate-level integration tests live next to their code.
