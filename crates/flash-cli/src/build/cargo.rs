//! Talking to cargo: `cargo metadata` for the package, `cargo build` (or `cargo rustc`, or
//! cargo-zigbuild's equivalents) for the executable.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{BuildError, BuildOptions, Located};
use crate::project::Project;

/// The app package, as `cargo metadata` describes it.
#[derive(Debug, Clone)]
pub(crate) struct Package {
    /// Package name.
    pub(crate) name: String,
    /// Its `Cargo.toml`.
    pub(crate) manifest_path: PathBuf,
    /// The workspace root (where `Cargo.lock` lives).
    pub(crate) workspace_root: PathBuf,
    /// Binary targets.
    pub(crate) bins: Vec<BinTarget>,
    /// `[package.metadata]` (null when the package has none).
    pub(crate) metadata: Value,
}

/// One binary target.
#[derive(Debug, Clone)]
pub(crate) struct BinTarget {
    /// Target name (the executable's name).
    pub(crate) name: String,
    /// Its root source file.
    pub(crate) src_path: PathBuf,
}

impl Package {
    /// Sources that belong to the package's other binaries, which the chosen one does not
    /// link: their root files, and their directories when they are `src/bin/<x>/main.rs`.
    pub(crate) fn other_bin_sources(&self, chosen: &str) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for bin in self.bins.iter().filter(|b| b.name != chosen) {
            paths.push(bin.src_path.clone());
            if bin.src_path.file_name().is_some_and(|n| n == "main.rs")
                && let Some(dir) = bin.src_path.parent()
                && dir
                    .parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "bin")
            {
                paths.push(dir.to_owned());
            }
        }
        paths
    }
}

/// Runs `cargo metadata --no-deps` for the package at `project.root`.
pub(crate) fn metadata(project: &Project, options: &BuildOptions) -> Result<Package, BuildError> {
    let manifest = project.root.join("Cargo.toml");
    let fail = |message: String| BuildError::Metadata {
        manifest: manifest.clone(),
        message,
    };
    let output = Command::new(&options.cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: options.cargo.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let meta: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("cargo metadata printed no JSON: {e}")))?;
    let wanted = canonical(&manifest);
    let package = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["manifest_path"]
                .as_str()
                .is_some_and(|m| canonical(Path::new(m)) == wanted)
        })
        .ok_or_else(|| fail("no [package] in this Cargo.toml".to_owned()))?;
    let bins = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| {
            Some(BinTarget {
                name: t["name"].as_str()?.to_owned(),
                src_path: PathBuf::from(t["src_path"].as_str()?),
            })
        })
        .collect();
    Ok(Package {
        name: package["name"].as_str().unwrap_or_default().to_owned(),
        manifest_path: manifest.clone(),
        workspace_root: meta["workspace_root"]
            .as_str()
            .map_or_else(|| project.root.clone(), PathBuf::from),
        bins,
        metadata: package["metadata"].clone(),
    })
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The binary to build: `--bin`, else the package's only one.
pub(crate) fn select_bin(package: &Package, bin: Option<&str>) -> Result<BinTarget, BuildError> {
    let names = || {
        package
            .bins
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fail = |message: String| BuildError::Binary {
        package: package.name.clone(),
        message,
    };
    match (bin, package.bins.as_slice()) {
        (_, []) => Err(fail(
            "has no binary target; a Flash app is a binary whose `main` starts with \
             `runpod_flash::worker::serve_if_worker()`"
                .to_owned(),
        )),
        (Some(name), bins) => bins
            .iter()
            .find(|b| b.name == name)
            .cloned()
            .ok_or_else(|| fail(format!("has no binary `{name}` (it has: {})", names()))),
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(fail(format!(
            "has several binaries ({}); pick one with --bin",
            names()
        ))),
    }
}

/// How one compile is run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Invocation<'a> {
    /// `--target`, when given.
    pub(crate) target: Option<&'a str>,
    /// Through cargo-zigbuild.
    pub(crate) zigbuild: bool,
    /// Strip the executable's symbols.
    pub(crate) strip: bool,
}

impl Invocation<'_> {
    /// The program and its subcommand.
    ///
    /// Stripping uses `rustc` with `-- -C strip=symbols`, which reaches the final crate's rustc
    /// call only: every dependency is built exactly as by a plain `cargo build` of the profile
    /// (same flags, same fingerprints, same artifacts), so only the app crate is compiled
    /// again. A profile override (`--config profile.release.strip=...`) would instead be part
    /// of every unit's fingerprint and rebuild every dependency.
    ///
    /// cargo-zigbuild is run as `cargo-zigbuild zigbuild` (what `cargo zigbuild` runs) or
    /// `cargo-zigbuild rustc` (its `cargo rustc`, which `cargo zigbuild` cannot reach).
    fn program(&self, cargo: &Path) -> (PathBuf, &'static str) {
        let subcommand = if self.strip { "rustc" } else { "build" };
        if self.zigbuild {
            let subcommand = if self.strip { "rustc" } else { "zigbuild" };
            (zigbuild_program(cargo), subcommand)
        } else {
            (cargo.to_owned(), subcommand)
        }
    }
}

/// `cargo-zigbuild`: beside `cargo`, else in `$CARGO_HOME/bin` (`~/.cargo/bin`), where
/// `cargo install` puts it, else on `PATH`.
fn zigbuild_program(cargo: &Path) -> PathBuf {
    let exe = format!("cargo-zigbuild{}", std::env::consts::EXE_SUFFIX);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".cargo"))
        });
    cargo
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&exe))
        .into_iter()
        .chain(cargo_home.map(|home| home.join("bin").join(&exe)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(exe))
}

/// Builds `bin` and returns the executable's path. Diagnostics go to stderr as cargo renders
/// them; compile errors are also collected into [`BuildError::Cargo`].
pub(crate) fn compile(
    package: &Package,
    bin: &BinTarget,
    options: &BuildOptions,
    how: &Invocation<'_>,
) -> Result<PathBuf, BuildError> {
    let mut stderr = std::io::stderr();
    let format = if stderr.is_terminal() {
        "json-diagnostic-rendered-ansi"
    } else {
        "json"
    };
    let (program, subcommand) = how.program(&options.cargo);
    let mut command = Command::new(&program);
    command
        .arg(subcommand)
        .arg("--manifest-path")
        .arg(&package.manifest_path)
        .args(["--profile", &options.profile])
        .arg(format!("--message-format={format}"))
        .args(["--bin", &bin.name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(target) = how.target {
        command.args(["--target", target]);
    }
    if let Some(dir) = &options.target_dir {
        command.arg("--target-dir").arg(dir);
    }
    if how.zigbuild && options.cargo.components().count() > 1 {
        // cargo-zigbuild drives `$CARGO`: the same cargo as every other step.
        command.env("CARGO", &options.cargo);
    }
    if how.strip {
        command.args(["--", "-C", "strip=symbols"]);
    }
    let mut child = command.spawn().map_err(|source| {
        if how.zigbuild && source.kind() == std::io::ErrorKind::NotFound {
            BuildError::Toolchain {
                program: program.clone(),
                message: "not found: install it with `cargo install cargo-zigbuild` (it needs \
                          zig: from ziglang.org, or `pip install ziglang`)"
                    .to_owned(),
            }
        } else {
            BuildError::Spawn {
                program: program.clone(),
                source,
            }
        }
    })?;
    let wanted = canonical(&package.manifest_path);
    let mut executable = None;
    let mut errors = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match message["reason"].as_str() {
                Some("compiler-message") => {
                    let diagnostic = &message["message"];
                    if let Some(rendered) = diagnostic["rendered"].as_str() {
                        // Diagnostics are the user's to read; a closed stderr is not ours to fix.
                        let _ = stderr.write_all(rendered.as_bytes());
                    }
                    if diagnostic["level"].as_str() == Some("error") {
                        errors.push(located(diagnostic));
                    }
                }
                Some("compiler-artifact") => {
                    let is_bin = message["target"]["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"));
                    let ours = message["manifest_path"]
                        .as_str()
                        .is_some_and(|m| canonical(Path::new(m)) == wanted);
                    if is_bin
                        && ours
                        && message["target"]["name"].as_str() == Some(bin.name.as_str())
                        && let Some(path) = message["executable"].as_str()
                    {
                        executable = Some(PathBuf::from(path));
                    }
                }
                _ => {}
            }
        }
    }
    let status = child.wait().map_err(|source| BuildError::Spawn {
        program: program.clone(),
        source,
    })?;
    let cargo_failed = |errors: Vec<Located>| BuildError::Cargo {
        package: package.name.clone(),
        errors,
    };
    if !status.success() {
        return Err(cargo_failed(errors));
    }
    executable.ok_or_else(|| {
        cargo_failed(vec![Located {
            file: package.manifest_path.display().to_string(),
            line: 1,
            message: format!("cargo reported no executable for binary `{}`", bin.name),
        }])
    })
}

/// A compiler diagnostic at its primary span.
fn located(diagnostic: &Value) -> Located {
    let spans = diagnostic["spans"].as_array();
    let primary = spans
        .into_iter()
        .flatten()
        .find(|s| s["is_primary"].as_bool() == Some(true))
        .or_else(|| spans.and_then(|s| s.first()));
    Located {
        file: primary
            .and_then(|s| s["file_name"].as_str())
            .unwrap_or("(no file)")
            .to_owned(),
        line: primary
            .and_then(|s| s["line_start"].as_u64())
            .and_then(|l| u32::try_from(l).ok())
            .unwrap_or(0),
        message: diagnostic["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}
