//! `flash emulator`: a local Runpod until Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use flash_emulator::Emulator;
use runpod_flash::ApiKey;

/// Starts the emulator, prints where it is, serves until Ctrl-C, then stops every worker.
pub(crate) fn run(port: u16, api_key: Option<String>, state_dir: Option<PathBuf>) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let mut stop = flash_cli::signals::StopSignals::listen();
        let mut builder = Emulator::builder().bind(format!("127.0.0.1:{port}"));
        if let Some(boot) = boot_command() {
            builder = builder.boot_command(boot);
        }
        if let Some(key) = api_key.and_then(ApiKey::new) {
            builder = builder.api_key(key);
        }
        if let Some(dir) = state_dir {
            builder = builder.state_dir(dir);
        }
        let emulator = match builder.start().await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("cannot start the emulator: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        // The key is printed on purpose: it is the emulator's own local key, which the user
        // needs to point clients at it. It is never logged.
        let _ = writeln!(out, "GraphQL:    {}", emulator.graphql_url());
        let _ = writeln!(out, "RUNPOD_API_BASE_URL={}", emulator.api_base_url());
        let _ = writeln!(
            out,
            "RUNPOD_ENDPOINT_BASE_URL={}",
            emulator.endpoint_base_url()
        );
        let _ = writeln!(out, "RUNPOD_API_KEY={}", emulator.api_key().expose());
        let _ = writeln!(out, "State:      {}", emulator.state_dir().display());
        let _ = out.flush();
        drop(out);
        stop.requested().await;
        tracing::info!("stopping the emulator");
        emulator.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// This `flash` as the boot step of the Flash-for-Rust images (`flash boot`), so an installed
/// CLI needs no separate `flash-boot`.
pub(crate) fn boot_command() -> Option<flash_emulator::BootCommand> {
    std::env::current_exe()
        .ok()
        .map(|exe| flash_emulator::BootCommand::new(exe).arg("boot"))
}
