//! The temporary state directory of an emulator started without a state dir, and the sweep of
//! the ones left behind by emulators that were killed (SIGKILL, OOM, a power cut) before they
//! could remove their own: each holds an `owner` file naming its process, and a starting
//! emulator removes every such directory whose process is gone.

use std::path::{Path, PathBuf};

/// Name prefix of the temporary state directories, in the system's temp dir.
const PREFIX: &str = "flash-emulator-";
/// The file naming a directory's owner: `PID START_TIME` (the start time tells a reused pid
/// from the original process).
const OWNER_FILE: &str = "owner";

/// A fresh temporary state directory, created, with its owner file.
pub(crate) fn create() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", crate::ids::short(12)));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join(OWNER_FILE),
        identity(std::process::id()).unwrap_or_default(),
    )?;
    Ok(dir)
}

/// Removes the temporary state directories in `parent` whose owner is no longer running.
/// Returns the ones removed. Directories without an owner file are left alone.
pub(crate) fn sweep(parent: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Ok(owner) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
            continue;
        };
        if !owner_alive(&owner) && std::fs::remove_dir_all(&dir).is_ok() {
            removed.push(dir);
        }
    }
    removed
}

/// `PID START_TIME` of a running process, from `/proc` (Linux); elsewhere `None`.
fn identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ... field 22 is the start time; comm may hold spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

fn owner_alive(owner: &str) -> bool {
    let owner = owner.trim();
    let Some(pid) = owner
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        // Written by a platform without /proc: nothing to check it against, so keep it.
        return true;
    };
    identity(pid).is_some_and(|now| now == owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_of_dead_owners_are_swept() {
        let parent = tempfile::tempdir().unwrap();
        let mine = parent.path().join(format!("{PREFIX}mine"));
        let dead = parent.path().join(format!("{PREFIX}dead"));
        let reused = parent.path().join(format!("{PREFIX}reused"));
        let unowned = parent.path().join(format!("{PREFIX}unowned"));
        let other = parent.path().join("something-else");
        for d in [&mine, &dead, &reused, &unowned, &other] {
            std::fs::create_dir_all(d.join("workers")).unwrap();
        }
        let me = identity(std::process::id()).unwrap();
        std::fs::write(mine.join(OWNER_FILE), &me).unwrap();
        std::fs::write(other.join(OWNER_FILE), "4194304 1").unwrap();
        // A pid above the kernel's maximum is never running.
        std::fs::write(dead.join(OWNER_FILE), "4194304 1").unwrap();
        // This process's pid with another start time: the pid was reused.
        std::fs::write(reused.join(OWNER_FILE), format!("{} 1", std::process::id())).unwrap();
        let mut removed = sweep(parent.path());
        removed.sort();
        assert_eq!(removed, [dead, reused]);
        assert!(mine.exists() && unowned.exists() && other.exists());
    }
}
