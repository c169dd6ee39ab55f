//! `flash-boot`: see the library docs. One line on stderr and exit code 1 on any failure.

#![allow(clippy::print_stderr)] // the boot step's only channel is stderr

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = flash_boot::BootConfig::from_env();
    let mut log = |line: &str| eprintln!("flash-boot: {line}");
    let error = match flash_boot::prepare(&config, &mut log) {
        Ok(unpacked) => flash_boot::exec(&unpacked),
        Err(error) => error,
    };
    eprintln!("flash-boot: {error}");
    ExitCode::FAILURE
}
