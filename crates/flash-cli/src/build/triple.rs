//! Which machine the executable is for: the host's target triple (from `rustc -vV`), what cargo
//! is told for a requested target, and the check of the built executable's header against it.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::BuildError;

/// What Runpod workers run: every Flash worker image is x86_64 Linux.
pub const DEFAULT_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The target that means "this machine" (the host triple of `rustc -vV`): what `flash run` and
/// the local emulator, whose workers run here, build for.
pub const HOST_TARGET: &str = "host";

/// `requested`, with [`HOST_TARGET`] replaced by `host`.
pub(crate) fn resolve<'a>(requested: &'a str, host: &'a str) -> &'a str {
    if requested == HOST_TARGET {
        host
    } else {
        requested
    }
}

/// Whether an artifact built for `target` runs on Runpod's workers (x86_64 Linux).
pub(crate) fn runs_on_runpod(target: &str) -> bool {
    runs_on(DEFAULT_TARGET, base_triple(target))
}

/// The `rustc` that belongs to `cargo`: `$RUSTC` when set (cargo itself obeys it), else the
/// `rustc` beside a `cargo` given as a path (a toolchain's `bin/`), else `rustc` on `PATH`.
pub(crate) fn rustc_for(cargo: &Path, rustc_env: Option<OsString>) -> PathBuf {
    if let Some(rustc) = rustc_env.filter(|r| !r.is_empty()) {
        return PathBuf::from(rustc);
    }
    let exe = format!("rustc{}", std::env::consts::EXE_SUFFIX);
    cargo
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&exe))
        .filter(|rustc| rustc.is_file())
        .unwrap_or_else(|| PathBuf::from(exe))
}

/// The host triple of `rustc`: the `host:` line of `rustc -vV`.
pub(crate) fn host_triple(rustc: &Path) -> Result<String, BuildError> {
    let fail = |message: String| BuildError::Toolchain {
        program: rustc.to_owned(),
        message,
    };
    let output = Command::new(rustc)
        .arg("-vV")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: rustc.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(fail(format!(
            "`-vV` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse_host(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| fail("`-vV` printed no `host:` line".to_owned()))
}

/// The `host:` value of `rustc -vV` output.
pub(crate) fn parse_host(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("host:"))
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
}

/// `target` without the glibc version that cargo-zigbuild accepts after it
/// (`x86_64-unknown-linux-gnu.2.17` is `x86_64-unknown-linux-gnu`).
pub(crate) fn base_triple(target: &str) -> &str {
    match target.split_once('.') {
        Some((triple, version))
            if !version.is_empty()
                && version
                    .split('.')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            triple
        }
        _ => target,
    }
}

/// The architecture of a triple: its first component.
fn arch(triple: &str) -> &str {
    triple.split('-').next().unwrap_or_default()
}

/// The operating system a triple names (`linux`, `darwin`, `windows`, ...), as far as this
/// module needs to tell them apart.
fn os(triple: &str) -> &str {
    const KNOWN: [&str; 6] = ["linux", "darwin", "windows", "freebsd", "netbsd", "openbsd"];
    triple
        .split('-')
        .skip(1)
        .find(|part| KNOWN.contains(part))
        .unwrap_or("unknown")
}

/// Whether `triple` is a Linux target (what Runpod runs).
pub(crate) fn is_linux(triple: &str) -> bool {
    os(triple) == "linux"
}

/// Whether an executable built for `target` runs on `host` (same architecture and OS: an
/// `x86_64-unknown-linux-musl` binary runs on an `x86_64-unknown-linux-gnu` host).
pub(crate) fn runs_on(host: &str, target: &str) -> bool {
    arch(host) == arch(target) && os(host) == os(target)
}

/// How cargo is asked for `target` on `host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Pass `--target`. Not when the target is the host: cargo then builds the same binary
    /// into `target/<profile>/`, sharing the host build cache, where `--target` would compile
    /// every dependency again into `target/<triple>/<profile>/` (CI builds every example, and
    /// each would pay for it twice).
    pub(crate) pass_target: bool,
    /// The built executable cannot run here, so `flash build` asks a host build of the same
    /// sources for its functions.
    pub(crate) describe_with_host_build: bool,
}

/// Decides how to build `target` on `host`, before anything is compiled.
///
/// # Errors
/// [`BuildError::CrossCompile`] for a Linux target on a non-Linux host without cargo-zigbuild:
/// plain cargo has no Linux linker or C runtime there, and would fail only after compiling
/// every dependency.
pub(crate) fn plan(host: &str, target: &str, zigbuild: bool) -> Result<Plan, BuildError> {
    let triple = base_triple(target);
    if is_linux(triple) && !is_linux(host) && !zigbuild {
        return Err(BuildError::CrossCompile {
            host: host.to_owned(),
            target: target.to_owned(),
        });
    }
    Ok(Plan {
        pass_target: zigbuild || target != host,
        describe_with_host_build: !runs_on(host, triple),
    })
}

/// Checks that the standard library for `target` is installed in `rustc`'s sysroot (a target
/// not added with rustup fails late, with a long error, otherwise). Custom targets (a `.json`
/// spec) are left to cargo.
pub(crate) fn check_installed(rustc: &Path, target: &str) -> Result<(), BuildError> {
    let triple = base_triple(target);
    if triple.ends_with(".json") {
        return Ok(());
    }
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: rustc.to_owned(),
            source,
        })?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !output.status.success() || sysroot.as_os_str().is_empty() {
        // Nothing to check against; cargo will say what is wrong.
        return Ok(());
    }
    if sysroot.join("lib").join("rustlib").join(triple).is_dir() {
        Ok(())
    } else {
        Err(BuildError::TargetNotInstalled {
            target: triple.to_owned(),
            sysroot,
        })
    }
}

/// What an executable's header says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// An ELF file.
    Elf {
        /// 32 or 64.
        bits: u8,
        /// `e_machine`.
        machine: u16,
    },
    /// A Mach-O file (macOS).
    MachO,
    /// A PE file (Windows).
    Pe,
    /// Too short for any header.
    Truncated,
    /// None of the above.
    Unknown,
}

/// ELF `e_machine` of x86_64.
pub(crate) const EM_X86_64: u16 = 62;
/// ELF `e_machine` of aarch64.
pub(crate) const EM_AARCH64: u16 = 183;

/// Reads the header at the start of `bytes`.
pub(crate) fn header(bytes: &[u8]) -> Header {
    if bytes.len() < 4 {
        return Header::Truncated;
    }
    match bytes[..4] {
        [0x7f, b'E', b'L', b'F'] => {
            // e_ident[EI_CLASS] at 4, e_ident[EI_DATA] at 5, e_machine at 18..20.
            if bytes.len() < 20 {
                return Header::Truncated;
            }
            let bits = match bytes[4] {
                1 => 32,
                2 => 64,
                _ => 0,
            };
            let pair = [bytes[18], bytes[19]];
            let machine = if bytes[5] == 2 {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            };
            Header::Elf { bits, machine }
        }
        [0xcf, 0xfa, 0xed, 0xfe]
        | [0xce, 0xfa, 0xed, 0xfe]
        | [0xfe, 0xed, 0xfa, 0xcf]
        | [0xfe, 0xed, 0xfa, 0xce]
        | [0xca, 0xfe, 0xba, 0xbe] => Header::MachO,
        [b'M', b'Z', _, _] => Header::Pe,
        _ => Header::Unknown,
    }
}

/// The architecture name of an ELF machine, for messages.
fn machine_name(machine: u16) -> Option<&'static str> {
    Some(match machine {
        3 => "x86",
        40 => "arm",
        EM_X86_64 => "x86_64",
        EM_AARCH64 => "aarch64",
        243 => "riscv",
        _ => return None,
    })
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elf { bits, machine } => {
                let bits = if *bits == 0 {
                    "ELF".to_owned()
                } else {
                    format!("ELF {bits}-bit")
                };
                match machine_name(*machine) {
                    Some(name) => write!(f, "an {bits} {name} executable"),
                    None => write!(f, "an {bits} executable for ELF machine {machine}"),
                }
            }
            Self::MachO => f.write_str("a Mach-O executable (macOS)"),
            Self::Pe => f.write_str("a PE executable (Windows)"),
            Self::Truncated => f.write_str("too short to be an executable"),
            Self::Unknown => f.write_str("not an ELF, Mach-O or PE executable"),
        }
    }
}

/// Whether an ELF file has a section called `name` (`.symtab`: whether it keeps its symbols);
/// `None` when `bytes` is not an ELF file whose section headers can be read.
pub(crate) fn elf_has_section(bytes: &[u8], name: &str) -> Option<bool> {
    if !matches!(header(bytes), Header::Elf { .. }) {
        return None;
    }
    let wide = bytes.get(4)? == &2;
    let big = bytes.get(5)? == &2;
    let int = |at: usize, len: usize| -> Option<u64> {
        let field = bytes.get(at..at.checked_add(len)?)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if big { field[i] } else { field[len - 1 - i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    let usize_at = |at: usize, len: usize| int(at, len).and_then(|v| usize::try_from(v).ok());
    // e_shoff, e_shentsize, e_shnum, e_shstrndx; in a section header, sh_name at 0 and
    // sh_offset at 0x18 (ELF64) or 0x10 (ELF32).
    let (shoff, entsize, count, strndx, offset_at, word) = if wide {
        (
            usize_at(0x28, 8)?,
            usize_at(0x3a, 2)?,
            usize_at(0x3c, 2)?,
            usize_at(0x3e, 2)?,
            0x18,
            8,
        )
    } else {
        (
            usize_at(0x20, 4)?,
            usize_at(0x2e, 2)?,
            usize_at(0x30, 2)?,
            usize_at(0x32, 2)?,
            0x10,
            4,
        )
    };
    let section = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
    let strtab = usize_at(section(strndx)?.checked_add(offset_at)?, word)?;
    for i in 0..count {
        let start = strtab.checked_add(usize_at(section(i)?, 4)?)?;
        let rest = bytes.get(start..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        if &rest[..end] == name.as_bytes() {
            return Some(true);
        }
    }
    Some(false)
}

/// The ELF class and machine a Linux target's executables have, for the architectures whose
/// numbers this module knows.
fn expected_elf(triple: &str) -> Option<(u8, u16)> {
    match arch(triple) {
        "x86_64" => Some((64, EM_X86_64)),
        "aarch64" => Some((64, EM_AARCH64)),
        "i386" | "i586" | "i686" => Some((32, 3)),
        a if a.starts_with("riscv64") => Some((64, 243)),
        _ => None,
    }
}

/// Checks that `bytes`, the executable at `binary`, is one `target` runs: for a Linux target,
/// an ELF file of the target's class and machine (for unknown architectures: any ELF file).
/// Other targets are not checked.
///
/// # Errors
/// [`BuildError::WrongExecutable`] naming the binary, what it is, and the target.
pub(crate) fn check_executable(
    binary: &Path,
    bytes: &[u8],
    target: &str,
) -> Result<(), BuildError> {
    let triple = base_triple(target);
    if !is_linux(triple) {
        return Ok(());
    }
    let found = header(bytes);
    let matches = match (found, expected_elf(triple)) {
        (Header::Elf { bits, machine }, Some(expected)) => (bits, machine) == expected,
        (Header::Elf { .. }, None) => true,
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(BuildError::WrongExecutable {
            binary: binary.to_owned(),
            found: found.to_string(),
            target: triple.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF header: magic, class, data, version, and `e_machine` at 18.
    fn elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = class;
        bytes[5] = data;
        bytes[6] = 1;
        let m = if data == 2 {
            machine.to_be_bytes()
        } else {
            machine.to_le_bytes()
        };
        bytes[18..20].copy_from_slice(&m);
        bytes
    }

    #[test]
    fn headers_are_read_from_crafted_bytes() {
        assert_eq!(
            header(&elf(2, 1, 62)),
            Header::Elf {
                bits: 64,
                machine: EM_X86_64
            }
        );
        assert_eq!(
            header(&elf(2, 2, 183)),
            Header::Elf {
                bits: 64,
                machine: EM_AARCH64
            },
            "big-endian e_machine"
        );
        assert_eq!(
            header(&elf(1, 1, 3)),
            Header::Elf {
                bits: 32,
                machine: 3
            }
        );
        assert_eq!(header(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), Header::MachO);
        assert_eq!(header(b"MZ\x90\x00rest"), Header::Pe);
        assert_eq!(header(b"#!/bin/sh\n"), Header::Unknown);
        assert_eq!(header(b"\x7fEL"), Header::Truncated);
        assert_eq!(header(b"\x7fELF\x02\x01"), Header::Truncated);
        assert_eq!(
            header(&elf(2, 1, 62)).to_string(),
            "an ELF 64-bit x86_64 executable"
        );
        assert_eq!(
            header(&elf(2, 1, 183)).to_string(),
            "an ELF 64-bit aarch64 executable"
        );
        assert_eq!(
            header(&elf(2, 1, 999)).to_string(),
            "an ELF 64-bit executable for ELF machine 999"
        );
    }

    #[test]
    fn the_executable_must_match_a_linux_target() {
        let binary = Path::new("target/release/app");
        let x86 = elf(2, 1, EM_X86_64);
        let arm = elf(2, 1, EM_AARCH64);
        check_executable(binary, &x86, "x86_64-unknown-linux-gnu").expect("x86_64 matches");
        check_executable(binary, &x86, "x86_64-unknown-linux-musl").expect("musl too");
        check_executable(binary, &x86, "x86_64-unknown-linux-gnu.2.17").expect("zig suffix");
        check_executable(binary, &arm, "aarch64-unknown-linux-gnu").expect("aarch64 matches");
        check_executable(binary, &arm, "armv7-unknown-linux-gnueabihf")
            .expect("an unknown Linux arch only needs ELF");
        check_executable(binary, b"\xcf\xfa\xed\xfe....", "aarch64-apple-darwin")
            .expect("non-Linux targets are not checked");

        let error = check_executable(binary, &arm, "x86_64-unknown-linux-gnu").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("target/release/app"), "{text}");
        assert!(text.contains("an ELF 64-bit aarch64 executable"), "{text}");
        assert!(text.contains("x86_64-unknown-linux-gnu"), "{text}");
        let macho = check_executable(binary, b"\xcf\xfa\xed\xfe....", DEFAULT_TARGET)
            .unwrap_err()
            .to_string();
        assert!(macho.contains("a Mach-O executable (macOS)"), "{macho}");
        let thirty_two = check_executable(binary, &elf(1, 1, 3), DEFAULT_TARGET).unwrap_err();
        assert!(
            thirty_two.to_string().contains("ELF 32-bit x86"),
            "{thirty_two}"
        );
        assert!(check_executable(binary, b"", DEFAULT_TARGET).is_err());
    }

    /// An ELF64 file with the named sections (section 0 is the null one, the last `.shstrtab`).
    fn elf_with_sections(names: &[&str]) -> Vec<u8> {
        let mut bytes = elf(2, 1, EM_X86_64);
        let mut strtab = vec![0u8];
        let mut offsets = vec![0u32];
        for name in names.iter().chain([&".shstrtab"]) {
            offsets.push(u32::try_from(strtab.len()).expect("small"));
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
        }
        let strtab_at = bytes.len() as u64;
        bytes.extend_from_slice(&strtab);
        let shoff = bytes.len() as u64;
        for (i, name) in offsets.iter().enumerate() {
            let mut header = [0u8; 64];
            header[..4].copy_from_slice(&name.to_le_bytes());
            if i == offsets.len() - 1 {
                header[0x18..0x20].copy_from_slice(&strtab_at.to_le_bytes());
            }
            bytes.extend_from_slice(&header);
        }
        bytes[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        bytes[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        let count = u16::try_from(offsets.len()).expect("small");
        bytes[0x3c..0x3e].copy_from_slice(&count.to_le_bytes());
        bytes[0x3e..0x40].copy_from_slice(&(count - 1).to_le_bytes());
        bytes
    }

    #[test]
    fn symbol_tables_are_found_in_the_section_headers() {
        let kept = elf_with_sections(&[".text", ".symtab", ".strtab"]);
        assert_eq!(elf_has_section(&kept, ".symtab"), Some(true));
        let stripped = elf_with_sections(&[".text", ".dynsym"]);
        assert_eq!(elf_has_section(&stripped, ".symtab"), Some(false));
        assert_eq!(elf_has_section(&stripped, ".text"), Some(true));
        assert_eq!(elf_has_section(b"\xcf\xfa\xed\xfe....", ".symtab"), None);
        // Headers pointing past the end: unreadable, not a panic.
        let mut broken = stripped;
        broken[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_has_section(&broken, ".symtab"), None);
        assert_eq!(
            elf_has_section(&elf(2, 1, EM_X86_64)[..30], ".symtab"),
            None
        );
    }

    #[test]
    fn host_lines_and_triples() {
        let vv = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\n";
        assert_eq!(parse_host(vv).as_deref(), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(parse_host("rustc 1.0\nhost: \n"), None);
        assert_eq!(parse_host(""), None);
        assert_eq!(
            base_triple("x86_64-unknown-linux-gnu.2.17"),
            "x86_64-unknown-linux-gnu"
        );
        assert_eq!(
            base_triple("x86_64-unknown-linux-gnu"),
            "x86_64-unknown-linux-gnu"
        );
        assert_eq!(base_triple("custom.json"), "custom.json");
        assert!(is_linux("aarch64-unknown-linux-musl"));
        assert!(!is_linux("aarch64-apple-darwin"));
        assert!(runs_on(
            "x86_64-unknown-linux-gnu",
            "x86_64-unknown-linux-musl"
        ));
        assert!(!runs_on(
            "x86_64-unknown-linux-gnu",
            "aarch64-unknown-linux-gnu"
        ));
        assert!(!runs_on(
            "aarch64-apple-darwin",
            "aarch64-unknown-linux-gnu"
        ));
    }

    #[test]
    fn host_means_this_machine_and_runpod_means_x86_64_linux() {
        assert_eq!(
            resolve("host", "aarch64-apple-darwin"),
            "aarch64-apple-darwin"
        );
        assert_eq!(
            resolve(DEFAULT_TARGET, "aarch64-apple-darwin"),
            DEFAULT_TARGET
        );
        let mac = plan(
            "aarch64-apple-darwin",
            resolve("host", "aarch64-apple-darwin"),
            false,
        )
        .expect("a host build needs no cross-compiler");
        assert!(!mac.pass_target && !mac.describe_with_host_build);
        assert!(runs_on_runpod("x86_64-unknown-linux-gnu"));
        assert!(runs_on_runpod("x86_64-unknown-linux-musl"));
        assert!(runs_on_runpod("x86_64-unknown-linux-gnu.2.17"));
        assert!(!runs_on_runpod("aarch64-unknown-linux-gnu"));
        assert!(!runs_on_runpod("aarch64-apple-darwin"));
    }

    #[test]
    fn the_host_target_is_built_without_target() {
        let host = "x86_64-unknown-linux-gnu";
        let same = plan(host, DEFAULT_TARGET, false).expect("host build");
        assert!(!same.pass_target && !same.describe_with_host_build);
        let zig = plan(host, DEFAULT_TARGET, true).expect("zigbuild");
        assert!(zig.pass_target, "cargo zigbuild always gets --target");
        let musl = plan(host, "x86_64-unknown-linux-musl", false).expect("musl");
        assert!(musl.pass_target && !musl.describe_with_host_build);
        let arm = plan(host, "aarch64-unknown-linux-gnu", false).expect("cross arch");
        assert!(arm.pass_target && arm.describe_with_host_build);
    }

    #[test]
    fn a_linux_target_on_another_os_needs_zigbuild() {
        let mac = "aarch64-apple-darwin";
        let error = plan(mac, DEFAULT_TARGET, false).unwrap_err();
        assert!(
            matches!(error, BuildError::CrossCompile { .. }),
            "{error:?}"
        );
        let text = error.to_string();
        for needle in [
            "aarch64-apple-darwin",
            DEFAULT_TARGET,
            "cargo install cargo-zigbuild",
            "flash build --zigbuild",
            "Linux",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        let zig = plan(mac, DEFAULT_TARGET, true).expect("zigbuild cross-compiles");
        assert!(zig.pass_target && zig.describe_with_host_build);
        let native = plan(mac, mac, false).expect("a macOS build for macOS is allowed");
        assert!(!native.pass_target);
    }

    #[test]
    fn rustc_is_found_beside_cargo_or_from_the_environment() {
        assert_eq!(
            rustc_for(Path::new("cargo"), Some(OsString::from("/opt/rustc"))),
            PathBuf::from("/opt/rustc")
        );
        let exe = format!("rustc{}", std::env::consts::EXE_SUFFIX);
        assert_eq!(
            rustc_for(Path::new("cargo"), Some(OsString::new())),
            PathBuf::from(&exe),
            "an empty RUSTC is unset"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let beside = dir.path().join(&exe);
        assert_eq!(
            rustc_for(&dir.path().join("cargo"), None),
            PathBuf::from(&exe),
            "no rustc beside cargo: the one on PATH"
        );
        std::fs::write(&beside, b"").expect("write");
        assert_eq!(rustc_for(&dir.path().join("cargo"), None), beside);
    }
}
