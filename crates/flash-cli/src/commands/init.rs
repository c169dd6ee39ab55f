//! `flash init NAME`: a thin front end over [`flash_cli::init`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use flash_cli::init::{default_flash_path, init as run_init};

use super::finish;

/// `flash init NAME`.
pub(crate) fn run(name: &Path, flash_path: Option<PathBuf>) -> ExitCode {
    finish(init(name, flash_path))
}

fn init(name: &Path, flash_path: Option<PathBuf>) -> Result<String> {
    let flash_path = flash_path.unwrap_or_else(default_flash_path);
    let output = run_init(name, &flash_path)?;
    let mut report = format!("created {} ({}):\n", output.dir.display(), output.package);
    for file in &output.files {
        let _ = writeln!(report, "  {file}");
    }
    let _ = writeln!(
        report,
        "depends on runpod-flash at {}\nnext: cd {} && flash build (or flash run)",
        flash_path.display(),
        output.dir.display()
    );
    Ok(report)
}
