//! `flash run --watch`: on a change to the project's sources, rebuild and redeploy to the same
//! emulator (same URLs, same key), with the same deploy code as ever, so only the resources
//! whose build or configuration changed roll to new workers. A build that fails leaves the last
//! good one serving.
//!
//! Changes are found by polling (every [`POLL`]) the project's files for a new size or mtime,
//! not through OS notifications: no dependency, the same behaviour on every platform and on
//! mounts where notifications do not arrive (containers, network file systems, VMs), and a
//! Flash app's sources are few enough to look at twice a second. `target/`, `.flash/` and
//! `.git/` (and the build's own target directory) are never looked at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::progress::Progress;
use crate::run::LocalApp;

/// How often the sources are looked at.
pub const POLL: Duration = Duration::from_millis(500);
/// How long the sources must stay the same before a rebuild starts (an editor saving several
/// files, a `git checkout`).
pub const SETTLE: Duration = Duration::from_millis(300);

/// Directory names skipped wherever they are.
const SKIPPED_DIRS: [&str; 3] = ["target", ".flash", ".git"];

/// Each file under a project with its size and modification time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceSnapshot {
    files: BTreeMap<PathBuf, (u64, Option<SystemTime>)>,
}

/// What differs between two snapshots, as paths relative to the project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New files.
    pub added: Vec<PathBuf>,
    /// Files with a new size or mtime.
    pub modified: Vec<PathBuf>,
    /// Files gone.
    pub removed: Vec<PathBuf>,
}

impl Changes {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (word, paths) in [
            ("modified", &self.modified),
            ("added", &self.added),
            ("removed", &self.removed),
        ] {
            if !paths.is_empty() {
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                parts.push(format!("{word} {}", names.join(", ")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

impl SourceSnapshot {
    /// The files under `root`, skipping `target/`, `.flash/`, `.git/`, `also_skip` and editor
    /// scratch files. Unreadable entries are left out (a file being replaced, say).
    pub fn take(root: &Path, also_skip: Option<&Path>) -> Self {
        let mut files = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                // Not followed: a symlinked directory could lead back up (or anywhere).
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    if !SKIPPED_DIRS.contains(&name.as_ref())
                        && also_skip.is_none_or(|skip| skip != path)
                    {
                        pending.push(path);
                    }
                } else if !is_scratch(&name) {
                    let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                    files.insert(rel, (meta.len(), meta.modified().ok()));
                }
            }
        }
        Self { files }
    }

    /// What changed from `self` to `newer`.
    pub fn changes(&self, newer: &Self) -> Changes {
        let mut changes = Changes::default();
        for (path, stamp) in &newer.files {
            match self.files.get(path) {
                None => changes.added.push(path.clone()),
                Some(old) if old != stamp => changes.modified.push(path.clone()),
                Some(_) => {}
            }
        }
        changes.removed = self
            .files
            .keys()
            .filter(|path| !newer.files.contains_key(*path))
            .cloned()
            .collect();
        changes
    }
}

/// Editors' swap, backup and probe files: saving through them is not a change yet.
fn is_scratch(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.starts_with(".#")
        || name == "4913"
}

/// Watches `app`'s sources and rebuilds and redeploys on every change, reporting to `say`;
/// never returns (stop it by dropping the future, as `flash run` does on Ctrl-C).
pub async fn watch(
    app: &mut LocalApp,
    progress: Arc<dyn Progress + Send>,
    say: impl Fn(&str) + Send,
) {
    let root = app.project().root.clone();
    let skip = app.target_dir();
    let take = {
        let (root, skip) = (root.clone(), skip.clone());
        move || {
            let (root, skip) = (root.clone(), skip.clone());
            async move {
                tokio::task::spawn_blocking(move || SourceSnapshot::take(&root, skip.as_deref()))
                    .await
                    .unwrap_or_default()
            }
        }
    };
    let mut last = take().await;
    say(&format!(
        "watching {} for changes (target/, .flash/ and .git/ ignored)",
        root.display()
    ));
    loop {
        tokio::time::sleep(POLL).await;
        let mut now = take().await;
        if last.changes(&now).is_empty() {
            continue;
        }
        // Settle: wait until a look finds nothing new.
        loop {
            tokio::time::sleep(SETTLE).await;
            let again = take().await;
            if again == now {
                break;
            }
            now = again;
        }
        let changes = last.changes(&now);
        last = now;
        say(&format!("changed: {changes}; rebuilding"));
        match app.rebuild(Arc::clone(&progress)).await {
            Ok(report) => {
                let actions: Vec<String> = report
                    .endpoints
                    .iter()
                    .map(|e| format!("{} {}", e.resource, crate::deploy::action_word(e.action)))
                    .collect();
                say(&format!(
                    "redeployed build {}: {}",
                    report.build_id,
                    actions.join(", ")
                ));
            }
            Err(error) => say(&format!(
                "the new build failed; the last good build keeps serving:\n{error}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_changes_and_skips_build_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::fs::create_dir_all(root.join(".flash")).unwrap();
        std::fs::create_dir_all(root.join("build-out")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(root.join("Cargo.toml"), "[package]").unwrap();
        let before = SourceSnapshot::take(root, Some(&root.join("build-out")));
        for ignored in [
            "target/debug/app",
            ".flash/artifact.tar.gz",
            "build-out/x",
            "src/.main.rs.swp",
            "src/main.rs~",
        ] {
            std::fs::write(root.join(ignored), "x").unwrap();
        }
        let same = SourceSnapshot::take(root, Some(&root.join("build-out")));
        assert!(
            before.changes(&same).is_empty(),
            "{}",
            before.changes(&same)
        );

        std::fs::write(root.join("src/main.rs"), "fn main() { println!(); }").unwrap();
        std::fs::write(root.join("src/lib.rs"), "").unwrap();
        std::fs::remove_file(root.join("Cargo.toml")).unwrap();
        let after = SourceSnapshot::take(root, Some(&root.join("build-out")));
        let changes = before.changes(&after);
        assert_eq!(changes.modified, [PathBuf::from("src/main.rs")]);
        assert_eq!(changes.added, [PathBuf::from("src/lib.rs")]);
        assert_eq!(changes.removed, [PathBuf::from("Cargo.toml")]);
        assert_eq!(
            changes.to_string(),
            "modified src/main.rs; added src/lib.rs; removed Cargo.toml"
        );
    }
}
