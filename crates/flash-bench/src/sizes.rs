//! Group `sizes`: what every example ships. A release `flash build` of each app under
//! `examples/` (the library's [`flash_cli::build::build`], the CLI's defaults: target
//! `x86_64-unknown-linux-gnu`, stripped), all into one target dir (`CARGO_TARGET_DIR`, else the
//! workspace's `target/`), so the dependencies are compiled once for all of them. One row per
//! example: the artifact's size (compressed, what is uploaded), the executable's (unpacked, what
//! a worker holds), and whether the artifact meets the 10 MB target.

use std::path::{Path, PathBuf};
use std::time::Instant;

use flash_cli::build::{BuildOptions, ImageConfig, build};
use flash_cli::project::Project;

/// The artifact size every example should stay under: 10 MB (decimal), compressed.
const TARGET_BYTES: u64 = 10_000_000;

/// One example's sizes, or why it did not build.
struct Sizes {
    example: String,
    outcome: Result<Built, String>,
}

struct Built {
    artifact: u64,
    binary: u64,
    stripped: bool,
    target: String,
    seconds: f64,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example apps: every directory of `examples/` with a `Cargo.toml`, by name.
fn examples() -> Result<Vec<PathBuf>, String> {
    let dir = workspace().join("examples");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut apps: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    apps.sort();
    Ok(apps)
}

/// Builds every example and prints the table.
pub(crate) fn measure() {
    let apps = match examples() {
        Ok(apps) => apps,
        Err(error) => {
            eprintln!("sizes: skipped: {error}");
            return;
        }
    };
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from);
    let options = BuildOptions {
        target_dir: Some(target_dir),
        cargo: std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from),
        // The default images, whatever this shell sets: the sizes do not depend on them.
        image_env: ImageConfig::default(),
        ..BuildOptions::default()
    };
    let mut rows = Vec::new();
    for app in apps {
        let example = app
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        eprintln!("sizes: building {example} (release)");
        let started = Instant::now();
        let outcome = build(&Project::at(&app), &options)
            .map(|out| Built {
                artifact: out.artifact_size,
                binary: out.binary_size,
                stripped: out.stripped,
                target: out.target,
                seconds: started.elapsed().as_secs_f64(),
            })
            .map_err(|e| e.to_string());
        rows.push(Sizes { example, outcome });
    }
    print(&rows);
}

fn mb(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // Display only.
    let mb = bytes as f64 / 1_000_000.0;
    format!("{mb:.2} MB")
}

fn print(rows: &[Sizes]) {
    println!(
        "\n| example | artifact (compressed) | binary (unpacked) | stripped | target | build | ≤ 10 MB |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        match &row.outcome {
            Ok(built) => println!(
                "| {} | {} B ({}) | {} B ({}) | {} | {} | {:.0} s | {} |",
                row.example,
                built.artifact,
                mb(built.artifact),
                built.binary,
                mb(built.binary),
                if built.stripped { "yes" } else { "no" },
                built.target,
                built.seconds,
                if built.artifact <= TARGET_BYTES {
                    "yes"
                } else {
                    "NO"
                },
            ),
            Err(error) => println!(
                "| {} | build failed: {} | | | | | NO |",
                row.example,
                error.replace('\n', " ").replace('|', "/")
            ),
        }
    }
}
