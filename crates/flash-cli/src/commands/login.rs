//! `flash login`: see [`flash_cli::login`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use flash_cli::login::{LoginError, LoginOptions, login};

use super::{err, finish, runtime};

/// Runs the device flow and saves the key; prints where, never the key.
pub(crate) fn run(timeout_secs: u64) -> ExitCode {
    finish(attempt(timeout_secs))
}

fn attempt(timeout_secs: u64) -> Result<String> {
    let mut options = LoginOptions::from_env().ok_or(LoginError::NoHome)?;
    options.timeout = Duration::from_secs(timeout_secs);
    let path = runtime()?.block_on(login(&options, |url| {
        err(&format!(
            "Authorize flash in your browser:\n  {url}\n\nWaiting for authorization..."
        ));
    }))?;
    Ok(format!(
        "Logged in. Credentials saved to {}\n",
        path.display()
    ))
}
