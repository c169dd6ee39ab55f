//! `flash init NAME`: a thin front end over [`flash_cli::init`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use flash_cli::init::{FlashDependency, init as run_init};

use super::finish;

/// `flash init NAME`.
pub(crate) fn run(name: &Path, flash_path: Option<PathBuf>) -> ExitCode {
    finish(init(name, flash_path))
}

fn init(name: &Path, flash_path: Option<PathBuf>) -> Result<String> {
    let dependency = flash_path.map_or_else(FlashDependency::detect, FlashDependency::Path);
    let output = run_init(name, &dependency)?;
    let mut report = format!("created {} ({}):\n", output.dir.display(), output.package);
    for file in &output.files {
        let _ = writeln!(report, "  {file}");
    }
    let from = match &dependency {
        FlashDependency::Path(path) => format!("at {}", path.display()),
        FlashDependency::Version(version) => format!("{version} from crates.io"),
    };
    let _ = writeln!(
        report,
        "depends on runpod-flash {from}\nnext: cd {} && flash build (or flash run)",
        output.dir.display()
    );
    Ok(report)
}
