//! Command-line syntax.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
        /// Path of the `runpod-flash` crate to depend on (it is not on crates.io yet).
        /// Default: the one this `flash` was built from.
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
    },
    /// Check and inspect flash_manifest.json files.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// Run a local Runpod (GraphQL, endpoint data plane, worker job plane) until Ctrl-C.
    Emulator {
        /// Port to listen on, on 127.0.0.1 (0 = any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// API key clients must send (default: a random key). Deliberately not read from
        /// RUNPOD_API_KEY: the emulator prints its key, and a real key must never be printed.
        #[arg(long)]
        api_key: Option<String>,
        /// Keep apps, builds and endpoints in this directory across restarts.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
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
