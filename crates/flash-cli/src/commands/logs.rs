//! `flash logs`: see [`flash_cli::logs`].

use std::process::ExitCode;

use anyhow::Result;
use flash_cli::logs::{LogReader, LogsOptions, parse_since, render};
use flash_emulator::worker_logs::LogEntry;

use super::{err, out, render_error, runtime};

/// Prints the kept lines, then with `follow` new ones until Ctrl-C or the emulator stops.
pub(crate) fn run(
    resource: Option<String>,
    follow: bool,
    as_json: bool,
    since: Option<&str>,
) -> ExitCode {
    let attempt = || -> Result<()> {
        let options = LogsOptions {
            api_base_url: std::env::var(flash_contract::env::RUNPOD_API_BASE_URL)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| runpod_flash::config::DEFAULT_API_BASE_URL.to_owned()),
            api_key: flash_cli::deploy::credentials::api_key(),
            resource,
            since: since.map(parse_since).transpose()?,
        };
        let mut reader = LogReader::new(&options)?;
        runtime()?.block_on(async {
            let mut stop = flash_cli::signals::StopSignals::listen();
            print(&reader.backlog().await?, as_json);
            if !follow {
                return Ok(());
            }
            loop {
                tokio::select! {
                    lines = reader.follow() => print(&lines?, as_json),
                    () = stop.requested() => return Ok(()),
                }
            }
        })
    };
    match attempt() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            err(&render_error(&error));
            ExitCode::FAILURE
        }
    }
}

fn print(lines: &[LogEntry], as_json: bool) {
    let mut text = String::new();
    for entry in lines {
        if as_json {
            text.push_str(&serde_json::to_string(entry).unwrap_or_default());
        } else {
            text.push_str(&render(entry));
        }
        text.push('\n');
    }
    out(&text);
}
