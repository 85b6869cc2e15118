//! Which instance of an application this process is: an id kept in its
//! state directory, so a restart on the same directory is the same
//! instance (Kafka Streams' process id in `kafka-streams-process-metadata`).
//!
//! Exactly-once names its transactional producer `<application-id>-<id>`:
//! the instance restarted after a crash fences the producer it replaces
//! (its open transaction is aborted), while two instances on different
//! directories never fence each other. The file stays locked while the
//! process runs, so a second process on the same directory is refused
//! instead of fencing the first.

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

/// This process's claim on an instance id; the lock is released on drop.
#[derive(Debug)]
pub struct Instance {
    id: String,
    _lock: File,
}

impl Instance {
    /// Reads (or, the first time, creates) the id in `root`
    /// (`<state-dir>/<application-id>`) and locks it for this process.
    pub fn claim(root: &Path) -> anyhow::Result<Instance> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let path = root.join(".instance");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "{} is locked: another rill process runs this application on the same --state-dir.\n  fix: give each instance its own --state-dir",
                path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        let mut id = String::new();
        file.read_to_string(&mut id)
            .with_context(|| format!("reading {}", path.display()))?;
        let id = id.trim().to_string();
        let id = if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            let fresh = new_id();
            file.set_len(0)?;
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            fresh
        } else {
            id
        };
        Ok(Instance { id, _lock: file })
    }

    /// The id: 16 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// An id no other instance has: a hash of the host, the process, the time
/// and a stack address.
fn new_id() -> String {
    let mut hasher = Sha256::new();
    let marker = 0u8;
    hasher.update(format!(
        "{:?} {} {:?} {:p}",
        std::env::var("HOSTNAME"),
        std::process::id(),
        std::time::SystemTime::now(),
        &marker
    ));
    hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_directory_is_the_same_instance_and_only_one_process_may_hold_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = Instance::claim(dir.path()).unwrap();
        assert_eq!(first.id().len(), 16);
        let second = Instance::claim(dir.path()).unwrap_err().to_string();
        assert!(second.contains("own --state-dir"), "{second}");
        let id = first.id().to_string();
        drop(first);
        assert_eq!(Instance::claim(dir.path()).unwrap().id(), id);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(Instance::claim(other.path()).unwrap().id(), id);
    }
}
