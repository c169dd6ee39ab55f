//! `flash-boot`: see the library docs. One line on stderr and exit code 1 on any failure.

fn main() -> std::process::ExitCode {
    flash_boot::run()
}
