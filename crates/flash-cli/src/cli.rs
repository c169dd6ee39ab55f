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
