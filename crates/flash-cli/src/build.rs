//! `flash build`: compile the app, write its manifest, package the artifact.
//!
//! [`build`] runs these steps, and every failure is a [`BuildError`] naming the package, the file
//! and line, or the manifest field involved:
//!
//! 1. The target: [`BuildOptions::target`], by default `x86_64-unknown-linux-gnu`, what Runpod
//!    workers run. The host triple comes from `rustc -vV`; a target equal to it is built without
//!    `--target` (the same binary, from the host build cache), any other with `--target` (and
//!    its standard library must be installed). A Linux target on a non-Linux host needs
//!    `--zigbuild` (cargo-zigbuild), and is refused before compiling otherwise.
//! 2. `cargo build --profile <p> --message-format=json` of the app package (one binary target:
//!    `--bin` picks it when the package has several); for the `release` profile
//!    `cargo rustc ... -- -C strip=symbols` instead, which strips the executable and nothing
//!    else (every dependency keeps the artifacts and fingerprints of a plain
//!    `cargo build --release`). Compiler diagnostics are echoed to stderr as cargo renders them;
//!    the executable is taken from cargo's `compiler-artifact` message, so workspaces and custom
//!    target dirs need no guessing. Its header must be an executable of the target (for Linux:
//!    ELF, with the target's class and machine).
//! 3. The executable is run with `FLASH_DESCRIBE=1` (and no other `FLASH_*` or `RUNPOD_*`
//!    variable) and prints every compiled `#[remote]` function: the compiler's truth. An
//!    executable that cannot run here (another architecture or OS) is described by a host build
//!    of the same sources and profile instead.
//! 4. `src/**/*.rs` is scanned with syn and cross-checked: a `#[remote]` function in the sources
//!    but not in the binary (a file never declared with `mod`, say) is an error at its file and
//!    line.
//! 5. The manifest is assembled: resources from the functions' resource configs (functions of
//!    one resource must agree on every option), `makes_remote_calls` from a call graph over the
//!    sources, routes, registry, `source_fingerprint`, `entrypoint`, `runtime` and `target`;
//!    it is validated with [`Manifest::problems`] plus each resource's own checks. Every
//!    resource's `imageName` is resolved (its own image, else `FLASH_CPU_IMAGE`/`FLASH_GPU_IMAGE`
//!    or `cpu-image`/`gpu-image` in `[package.metadata.flash]`, else the default image under
//!    `FLASH_IMAGE_REGISTRY` or `image-registry`), so the manifest says exactly what deploys.
//! 6. `.flash/flash_manifest.json` is written, and `.flash/artifact.tar.gz` packs the manifest
//!    and `bin/<name>` reproducibly (sorted entries, mtime 0, owner 0, fixed modes).

mod callgraph;
mod cargo;
mod describe;
mod fingerprint;
mod images;
mod package;
mod plan;
mod scan;
mod triple;

pub use images::{ImageConfig, image_of, is_gpu};
pub use triple::{DEFAULT_TARGET, HOST_TARGET};

/// Whether an artifact built for `target` (a manifest's `target`) runs on Runpod's workers,
/// which are x86_64 Linux.
pub fn runs_on_runpod(target: &str) -> bool {
    triple::runs_on_runpod(target)
}

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flash_contract::artifact::{self, Member};
use flash_contract::files::MANIFEST_FILE;
use flash_contract::time;
use runpod_flash::manifest::Manifest;

use crate::project::Project;

/// How to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Cargo profile: `"release"` (the default) or `"dev"` (or any custom profile).
    pub profile: String,
    /// Cargo's `--target-dir`; `None` uses cargo's own choice.
    pub target_dir: Option<PathBuf>,
    /// App name written as `project_name`; `None` uses the package name.
    pub app_name: Option<String>,
    /// The cargo executable (default `cargo`).
    pub cargo: PathBuf,
    /// The binary target to build when the package has several.
    pub bin: Option<String>,
    /// Build time recorded as `generated_at`. `None` uses `SOURCE_DATE_EPOCH` when set (the
    /// reproducible-builds convention), else the current time. Fix it to get byte-identical
    /// artifacts from identical sources.
    pub generated_at: Option<SystemTime>,
    /// Target triple of the executable, recorded as the manifest's `target` (default
    /// [`DEFAULT_TARGET`], what Runpod's workers run; [`HOST_TARGET`] for this machine's).
    pub target: String,
    /// Build with cargo-zigbuild (zig as the linker and C runtime), which cross-compiles a Linux
    /// executable on macOS or Windows. `--target` is always passed then.
    pub zigbuild: bool,
    /// Strip the symbols from the executable of a `release` build (default `true`): smaller
    /// artifacts, at the price of function names in backtraces. Other profiles keep them.
    pub strip: bool,
    /// Image settings from the environment, which win over the project's
    /// `[package.metadata.flash]`. `Default` reads them ([`ImageConfig::from_env`]); set
    /// `ImageConfig::default()` to ignore the environment.
    pub image_env: ImageConfig,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            profile: "release".to_owned(),
            target_dir: None,
            app_name: None,
            cargo: PathBuf::from("cargo"),
            bin: None,
            generated_at: None,
            target: DEFAULT_TARGET.to_owned(),
            zigbuild: false,
            strip: true,
            image_env: ImageConfig::from_env(),
        }
    }
}

impl BuildOptions {
    /// Whether the executable is stripped: a `release` build with [`strip`](Self::strip).
    pub fn strips(&self) -> bool {
        self.strip && self.profile == "release"
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The manifest written to [`BuildOutput::manifest_path`] and packed in the artifact.
    pub manifest: Manifest,
    /// `.flash/flash_manifest.json`.
    pub manifest_path: PathBuf,
    /// `.flash/artifact.tar.gz`.
    pub artifact_path: PathBuf,
    /// Size of the artifact in bytes.
    pub artifact_size: u64,
    /// The executable cargo built.
    pub binary: PathBuf,
    /// Size of the executable in bytes (as packed, uncompressed).
    pub binary_size: u64,
    /// The target triple it was built for (the manifest's `target`).
    pub target: String,
    /// Whether it has no symbol table (for an ELF executable, read from its section headers;
    /// otherwise whether stripping was asked for).
    pub stripped: bool,
    /// Things worth telling the user that do not stop the build.
    pub warnings: Vec<String>,
}

/// A place in the app's sources: a function and where it is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The function's name.
    pub function: String,
    /// Its file, relative to the package root when it is inside the package.
    pub file: String,
    /// Its 1-based line.
    pub line: u32,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}:{})", self.function, self.file, self.line)
    }
}

/// A problem at a file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file, relative to the package root (cargo's diagnostics: relative to the workspace
    /// root).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Lists located problems, one per line.
struct List<'a, T>(&'a [T]);

impl<T: fmt::Display> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in self.0 {
            write!(f, "\n  - {item}")?;
        }
        Ok(())
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A program (cargo, the app binary) could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `cargo metadata` failed or said something unexpected.
    #[error("cannot read the Cargo package at {}: {message}", manifest.display())]
    Metadata {
        /// The package's `Cargo.toml`.
        manifest: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The package has no binary target, or several and `--bin` did not pick one.
    #[error("package `{package}`: {message}")]
    Binary {
        /// The package.
        package: String,
        /// What is wrong, listing the binaries.
        message: String,
    },
    /// `cargo build` failed; its diagnostics were printed to stderr as well.
    #[error("cargo build of package `{package}` failed{}", List(errors))]
    Cargo {
        /// The package.
        package: String,
        /// Each compile error at its file and line (relative to the workspace root).
        errors: Vec<Located>,
    },
    /// The built binary did not describe its functions.
    #[error("{} did not describe its functions (does `main` start with `runpod_flash::worker::serve_if_worker()`?): {message}", binary.display())]
    Describe {
        /// The binary.
        binary: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A source file could not be parsed, or a `#[remote]` attribute is malformed.
    #[error("cannot read the app's sources{}", List(problems))]
    Source {
        /// Every problem at its file and line.
        problems: Vec<Located>,
    },
    /// `#[remote]` functions in the sources that the built binary does not contain.
    #[error(
        "#[remote] functions in the sources are not compiled into the binary (is their module declared with `mod`? is a library's module used by the binary?){}",
        List(functions)
    )]
    NotCompiled {
        /// Each function at its file and line.
        functions: Vec<Located>,
    },
    /// Two functions of one resource carry different resource options.
    #[error(
        "conflicting options among functions of one resource `{resource}`: {first} and {second} differ in `{field}` (declare the resource once, as one `const`, and use it everywhere)"
    )]
    Conflict {
        /// The resource name.
        resource: String,
        /// One function.
        first: Site,
        /// Another, whose resource config differs.
        second: Site,
        /// The first manifest field that differs.
        field: String,
    },
    /// The assembled manifest breaks the manifest rules.
    #[error("the manifest is invalid{}", List(problems))]
    Invalid {
        /// Every problem, naming its JSON path or resource (and file:line where known).
        problems: Vec<String>,
    },
    /// A key of `[package.metadata.flash]` has a value of the wrong type or form.
    #[error("{}: `{key}` {message}", manifest.display())]
    Config {
        /// The package's `Cargo.toml`.
        manifest: PathBuf,
        /// The key, as `package.metadata.flash.<key>`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A toolchain program (rustc, cargo-zigbuild) is missing or said something unexpected.
    #[error("{}: {message}", program.display())]
    Toolchain {
        /// The program.
        program: PathBuf,
        /// What went wrong, and what to do.
        message: String,
    },
    /// A Linux executable was asked for on a host whose cargo cannot link one.
    #[error(
        "cannot build for {target} on this {host} host with plain cargo: a Linux executable \
         needs a Linux linker and C library, which this host lacks. Either install cargo-zigbuild \
         (`cargo install cargo-zigbuild`; it needs zig, from ziglang.org or \
         `pip install ziglang`) and run `flash build --zigbuild`, or run `flash build` on Linux \
         (an x86_64 Linux machine, or a Linux container such as `docker run --platform \
         linux/amd64` of the `rust` image). Nothing was compiled."
    )]
    CrossCompile {
        /// The host triple.
        host: String,
        /// The requested target.
        target: String,
    },
    /// The standard library of the requested target is not installed.
    #[error(
        "the Rust standard library for {target} is not installed (no {}): run `rustup target \
         add {target}`",
        sysroot.join("lib").join("rustlib").join(target).display()
    )]
    TargetNotInstalled {
        /// The target triple.
        target: String,
        /// The toolchain's sysroot.
        sysroot: PathBuf,
    },
    /// The built executable is not one the requested target runs.
    #[error(
        "refusing to package {}: it is {found}, not an executable for {target} (is a \
         `build.target` in .cargo/config.toml or a linker setting overriding the target?)",
        binary.display()
    )]
    WrongExecutable {
        /// The executable.
        binary: PathBuf,
        /// What its header says it is.
        found: String,
        /// The requested target triple.
        target: String,
    },
}

impl BuildError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// Builds `project`: see the [module docs](self) for the steps.
///
/// # Errors
/// [`BuildError`], naming the package, file and line, or manifest field.
pub fn build(project: &Project, options: &BuildOptions) -> Result<BuildOutput, BuildError> {
    build_with_progress(project, options, &crate::progress::Silent)
}

/// [`build`], reporting each step to `progress` (cargo prints its own progress and diagnostics
/// to stderr while it compiles).
///
/// # Errors
/// As [`build`].
pub fn build_with_progress(
    project: &Project,
    options: &BuildOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<BuildOutput, BuildError> {
    let step = |text: &str| progress.event(&crate::progress::Event::Step(text));
    step("reading the package");
    let package = cargo::metadata(project, options)?;
    let bin = cargo::select_bin(&package, options.bin.as_deref())?;
    let mut warnings = Vec::new();
    let project_images =
        images::from_metadata(&package.metadata, &package.manifest_path, &mut warnings)?;

    let rustc = triple::rustc_for(&options.cargo, std::env::var_os("RUSTC"));
    let host = triple::host_triple(&rustc)?;
    let requested = triple::resolve(&options.target, &host);
    let plan = triple::plan(&host, requested, options.zigbuild)?;
    if plan.pass_target {
        triple::check_installed(&rustc, requested)?;
    }
    let target = triple::base_triple(requested).to_owned();
    step(&format!(
        "compiling {} ({} profile, {target})",
        bin.name, options.profile
    ));
    let binary = cargo::compile(
        &package,
        &bin,
        options,
        &cargo::Invocation {
            target: plan.pass_target.then_some(requested),
            zigbuild: options.zigbuild,
            strip: options.strips(),
        },
    )?;
    let executable = std::fs::read(&binary).map_err(|e| BuildError::io("read", &binary, e))?;
    triple::check_executable(&binary, &executable, &target)?;
    step("reading the compiled functions");
    let described = if plan.describe_with_host_build {
        // The executable is for another machine: a host build of the same sources names the
        // same functions (unless a `#[cfg(target_...)]` tells them apart).
        let host_binary = cargo::compile(
            &package,
            &bin,
            options,
            &cargo::Invocation {
                target: None,
                zigbuild: false,
                strip: false,
            },
        )?;
        describe::describe(&host_binary, &project.root)?
    } else {
        describe::describe(&binary, &project.root)?
    };

    step("checking the sources");
    let sources = scan::read_sources(&project.root)?;
    let excluded = scan::relative_to(&project.root, &package.other_bin_sources(&bin.name));
    let scanned = scan::scan(&sources, &excluded);
    if !scanned.problems.is_empty() {
        return Err(BuildError::Source {
            problems: scanned.problems,
        });
    }
    let sites = plan::cross_check(&described, &scanned.remotes, &mut warnings)?;

    let resource_of: std::collections::BTreeMap<String, String> = described
        .iter()
        .map(|f| (f.name.clone(), f.resource.clone()))
        .collect();
    let graph = callgraph::CallGraph::from_files(scanned.files.iter().map(|f| &f.ast));
    let remote_calls = callgraph::makes_remote_calls(&graph, &resource_of);

    let generated_at = options
        .generated_at
        .or_else(time::source_date_epoch)
        .unwrap_or_else(SystemTime::now);
    let fingerprint = fingerprint::source_fingerprint(&project.root, &package, &sources)?;
    let mut manifest = plan::assemble(&plan::Inputs {
        described: &described,
        sites: &sites,
        remote_calls: &remote_calls,
        project_name: options.app_name.as_deref().unwrap_or(&package.name),
        binary_name: &bin.name,
        generated_at: time::rfc3339(generated_at),
        source_fingerprint: fingerprint,
        target: &target,
    })?;
    images::resolve(&mut manifest, &options.image_env.over(&project_images));

    step("writing the manifest and packaging the artifact");
    let flash_dir = project.flash_dir();
    std::fs::create_dir_all(&flash_dir).map_err(|e| BuildError::io("create", &flash_dir, e))?;
    let manifest_path = project.manifest_path();
    manifest.save(&manifest_path).map_err(|e| BuildError::Io {
        action: "write",
        path: manifest_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let binary_size = executable.len() as u64;
    // What the executable is, not what was asked for: a linker may strip on its own (zig's
    // does in release builds, even with --no-strip).
    let stripped =
        triple::elf_has_section(&executable, ".symtab").map_or(options.strips(), |kept| !kept);
    let artifact = artifact::pack(&[
        Member::dir("bin/"),
        Member::file(format!("bin/{}", bin.name), executable, 0o755),
        Member::file(MANIFEST_FILE, manifest.to_json_pretty(), 0o644),
    ])
    .map_err(|e| BuildError::io("pack", &project.artifact_path(), e))?;
    let artifact_path = project.artifact_path();
    package::write_atomically(&artifact_path, &artifact)
        .map_err(|e| BuildError::io("write", &artifact_path, e))?;

    Ok(BuildOutput {
        manifest,
        manifest_path,
        artifact_path,
        artifact_size: artifact.len() as u64,
        binary,
        binary_size,
        target,
        stripped,
        warnings,
    })
}
