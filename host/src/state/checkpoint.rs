//! The checkpoint file: for each changelog or table partition, the offset up
//! to which the local database already holds its records.

use super::StateError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Offsets by (topic, partition).
pub type Offsets = BTreeMap<(String, i32), i64>;

/// A task's (or the global store's) checkpoint file.
pub struct Checkpoint {
    path: PathBuf,
}

impl Checkpoint {
    /// The checkpoint in directory `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Checkpoint {
            path: dir.join(".checkpoint"),
        }
    }

    /// The offsets written last; empty if there is no checkpoint (a new
    /// machine, or a state dir that was deleted).
    pub fn read(&self) -> Result<Offsets, StateError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Offsets::new()),
            Err(source) => return Err(self.error(source)),
        };
        let mut offsets = Offsets::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.rsplitn(3, ' ');
            let (Some(offset), Some(partition), Some(topic)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(self.error(std::io::Error::other(format!("malformed line {line:?}"))));
            };
            let (Ok(offset), Ok(partition)) = (offset.parse(), partition.parse()) else {
                return Err(self.error(std::io::Error::other(format!("malformed line {line:?}"))));
            };
            offsets.insert((topic.to_string(), partition), offset);
        }
        Ok(offsets)
    }

    /// Replaces the checkpoint atomically (write, then rename).
    pub fn write(&self, offsets: &Offsets) -> Result<(), StateError> {
        let text: String = offsets.iter().map(|((t, p), o)| format!("{t} {p} {o}\n")).collect();
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|source| self.error(source))
    }

    fn error(&self, source: std::io::Error) -> StateError {
        StateError::Checkpoint {
            path: self.path.display().to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_start_empty() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::in_dir(dir.path());
        assert!(checkpoint.read().unwrap().is_empty());
        let mut offsets = Offsets::new();
        offsets.insert(("app-counts-changelog".into(), 2), 17);
        offsets.insert(("address".into(), 2), 5);
        checkpoint.write(&offsets).unwrap();
        assert_eq!(checkpoint.read().unwrap(), offsets);
    }
}
