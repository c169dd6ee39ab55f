//! Command-line syntax.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Flash for Rust: distributed serverless functions on Runpod.
#[derive(Debug, Parser)]
#[command(name = "flash", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a new Flash app: a GPU queue worker, a CPU queue worker and a load-balanced
    /// endpoint that calls both.
    Init {
        /// Directory to create; its name is the package name.
        #[arg(value_name = "NAME")]
        name: PathBuf,
        /// Path of the `runpod-flash` crate to depend on. Default: the checkout this `flash`
        /// was built from, while it exists; else (a `flash` installed from a registry) a
        /// version dependency on this `flash`'s version.
        #[arg(long, value_name = "PATH")]
        flash_path: Option<PathBuf>,
    },
    /// Compile the app, write .flash/flash_manifest.json and package .flash/artifact.tar.gz.
    Build {
        /// Cargo profile.
        #[arg(long, default_value = "release", value_name = "PROFILE")]
        profile: String,
        /// App name recorded in the manifest (default: the package name).
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// Cargo target directory.
        #[arg(long, value_name = "DIR")]
        target_dir: Option<PathBuf>,
        /// The binary to build, when the package has several.
        #[arg(long, value_name = "NAME")]
        bin: Option<String>,
        /// Target triple of the executable (`host`: this machine's). Runpod workers are x86_64
        /// Linux; a target equal to the host's is built without cargo's `--target`, sharing the
        /// host build cache.
        #[arg(long, value_name = "TRIPLE", default_value = flash_cli::build::DEFAULT_TARGET)]
        target: String,
        /// Build with cargo-zigbuild (`cargo install cargo-zigbuild`, needs zig): cross-compiles
        /// the Linux executable on macOS or Windows.
        #[arg(long)]
        zigbuild: bool,
        /// Keep the symbols of a release build's executable (stripped by default).
        #[arg(long)]
        no_strip: bool,
    },
    /// Build the app, deploy it to an embedded local Runpod and stream its workers' logs.
    ///
    /// The same deploy code as `flash deploy`, pointed at an emulator on 127.0.0.1 that starts
    /// real worker processes. With arguments after `--`, runs the app's binary as a caller with
    /// them, then stops everything and exits with the caller's status; without, serves until
    /// Ctrl-C.
    Run {
        /// The app's directory (default: the current directory).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Cargo profile (default dev: quick to compile).
        #[arg(long, default_value = "dev", value_name = "PROFILE")]
        profile: String,
        /// App name (default: the package name).
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// Environment name.
        #[arg(long, default_value = "local", value_name = "NAME")]
        env: String,
        /// Emulator port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Do not stream worker logs.
        #[arg(long)]
        quiet: bool,
        /// On every change to the project's sources (target/, .flash/ and .git/ aside),
        /// rebuild and redeploy to the same local Runpod (same URLs and key); only resources
        /// whose build or configuration changed roll. A failed build keeps the last good one
        /// serving.
        #[arg(long, conflicts_with = "command")]
        watch: bool,
        /// Arguments for the app's binary, run as a caller of the deployed endpoints.
        #[arg(last = true, value_name = "ARGS")]
        command: Vec<String>,
    },
    /// Log in to Runpod in the browser and save the API key to ~/.runpod/config.toml.
    ///
    /// Python Flash's device flow against RUNPOD_API_BASE_URL: prints a console URL to approve
    /// (RUNPOD_CONSOLE_URL, default `https://console.runpod.io`), waits for the approval, and
    /// saves the key as `[default] api_key` (mode 0600), where `flash deploy` and the Python
    /// tools find it. The key is never printed.
    Login {
        /// Give up after this many seconds without approval.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
    },
    /// Print what an app's workers printed, from the local Runpod emulator.
    ///
    /// Reads RUNPOD_API_BASE_URL (the emulator's base URL, as `flash run` prints it) with
    /// RUNPOD_API_KEY (its key). Each worker's most recent lines are kept; Runpod itself has no
    /// public API for worker logs.
    Logs {
        /// Only this resource (endpoint name) or endpoint id.
        #[arg(value_name = "RESOURCE")]
        resource: Option<String>,
        /// Keep printing new lines as workers print them, until Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
        /// One JSON object per line (seq, time, unixMs, endpointId, endpointName, workerId,
        /// stream, line).
        #[arg(long)]
        json: bool,
        /// Only lines from this long ago or later: 30s, 10m, 2h, 1d.
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
    },
    /// Check and inspect flash_manifest.json files.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// Upload the build in .flash/ and create, update or delete endpoints to match its manifest.
    ///
    /// Needs `flash build` first. Talks to RUNPOD_API_BASE_URL (default Runpod); the key comes
    /// from RUNPOD_API_KEY, else ~/.runpod/config.toml. Deploying twice without changes touches
    /// no endpoint.
    Deploy {
        #[command(flatten)]
        target: Target,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete endpoints of an environment, as the platform lists them.
    Undeploy {
        /// The resource (endpoint name) to undeploy.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Undeploy every endpoint of the environment.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        target: Target,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List, show, create and delete the environments of an app.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
        /// Flash app name [default: the manifest's project_name, else the project directory name].
        #[arg(long, value_name = "NAME", global = true)]
        app: Option<String>,
        /// Print the result as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// List, show, create and delete Flash apps.
    App {
        #[command(subcommand)]
        command: AppCommand,
        /// Print the result as JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Run a local Runpod (GraphQL, endpoint data plane, worker job plane) until Ctrl-C.
    Emulator {
        /// Port to listen on, on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// API key clients must send (default: the key persisted in --state-dir, else a random
        /// key). Prefer FLASH_EMULATOR_API_KEY: a command line is visible to every user of the
        /// machine (ps, /proc). Deliberately not read from RUNPOD_API_KEY: the emulator prints
        /// its key, and a real key must never be printed.
        #[arg(long, env = "FLASH_EMULATOR_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Keep apps, builds and endpoints in this directory across restarts.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// The worker image's boot step (what `flash-boot` does): unpack FLASH_BUILD_ARTIFACT_PATH
    /// into FLASH_APP_DIR and exec the resource's entrypoint. The emulator starts Flash-for-Rust
    /// workers with it.
    #[command(hide = true)]
    Boot,
}

/// Which app and environment a command works on.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// Flash app name [default: the manifest's project_name, else the project directory name].
    #[arg(long, value_name = "NAME")]
    pub(crate) app: Option<String>,
    /// Environment name.
    #[arg(long, value_name = "NAME", default_value = "production")]
    pub(crate) env: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EnvCommand {
    /// List the environments of the app.
    List,
    /// Show an environment and its endpoints.
    Get {
        /// Environment name.
        name: String,
    },
    /// Create an environment (and the app, if it does not exist).
    Create {
        /// Environment name.
        name: String,
    },
    /// Delete an environment: its endpoints, then the environment.
    Delete {
        /// Environment name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AppCommand {
    /// List every Flash app.
    List,
    /// Show an app, its environments and builds.
    Get {
        /// App name.
        name: String,
    },
    /// Create an app.
    Create {
        /// App name.
        name: String,
    },
    /// Delete an app: the endpoints of its environments, then the app.
    Delete {
        /// App name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ManifestCommand {
    /// Load and validate each manifest; print `ok: FILE` or every problem found.
    ///
    /// Exits with 0 when every file is valid, 1 otherwise.
    Check {
        /// Manifest files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Summarize a manifest: its resources, their hardware, scaling, endpoints and routes.
    ///
    /// A manifest that parses but breaks rules is still shown, followed by its problems, and the
    /// exit code is 1.
    Show {
        /// Manifest file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_args(args: &[&str]) -> (String, bool, bool) {
        let cli = Cli::try_parse_from(["flash", "build"].iter().chain(args)).expect("parses");
        match cli.command {
            Command::Build {
                target,
                zigbuild,
                no_strip,
                ..
            } => (target, zigbuild, no_strip),
            other => panic!("not build: {other:?}"),
        }
    }

    #[test]
    fn build_targets_runpod_and_strips_by_default() {
        assert_eq!(
            build_args(&[]),
            ("x86_64-unknown-linux-gnu".to_owned(), false, false)
        );
        assert_eq!(
            build_args(&[
                "--target",
                "aarch64-unknown-linux-gnu",
                "--zigbuild",
                "--no-strip"
            ]),
            ("aarch64-unknown-linux-gnu".to_owned(), true, true)
        );
    }
}
