//! One task's local state (Kafka Streams' `ProcessorStateManager`): its
//! RocksDB database, restoring what the checkpoint lacks, table positions,
//! turning a batch's writes into one RocksDB write batch plus changelog
//! records, and the checkpoint written when the task closes.
//!
//! ```text
//! open ──► restore (state updater thread, cancellable) ──► task runs:
//!            tables: checkpoint .. committed offset          apply_table / take_writes
//!            changelogs: checkpoint .. end                   checkpoint on close
//! ```
//!
//! Changelog positions for the checkpoint come from the producer's delivery
//! acknowledgements of the records this task wrote (and, before it wrote
//! any, from where the restore ended), so closing needs no broker round trip.

use super::checkpoint::{Checkpoint, Offsets};
use super::restore::{ChangelogReader, Restored, Source};
use super::store::{GlobalStore, TaskStore, Write};
use super::{StateError, store_cf, table_cf};
use crate::record::InputRecord;
use crate::state::store::SharedTaskStore;
use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The end of one changelog partition as far as this task knows it: the
/// next offset after the last record it saw acknowledged (or restored).
pub type ChangelogEnd = Arc<AtomicI64>;

/// One record of a store's changelog, produced after its batch's writes
/// reached RocksDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The changelog topic.
    pub topic: String,
    /// The key written.
    pub key: Vec<u8>,
    /// The value written; `None` deletes.
    pub value: Option<Vec<u8>>,
}

/// A task's state: database, tables, changelogs, checkpoint.
pub struct StateManager {
    store: SharedTaskStore,
    dir: PathBuf,
    partition: i32,
    /// Next offset to apply per table topic; older records (already in the
    /// store) are skipped when the consumer delivers them again.
    tables: HashMap<String, i64>,
    /// Declared stores and their changelog topics.
    changelogs: Vec<(String, String)>,
    /// Where each changelog partition ends, by topic.
    ends: HashMap<String, ChangelogEnd>,
    /// What the checkpoint file said when the task opened.
    checkpointed: Offsets,
}

impl StateManager {
    /// Opens (creating if needed) the database in `dir` for partition
    /// `partition` with `changelogs` (store, topic) and `tables`. Restores
    /// nothing: see [`StateManager::restore`].
    pub fn open(
        dir: PathBuf,
        partition: i32,
        changelogs: &[(String, String)],
        tables: &[String],
        global: Option<Arc<GlobalStore>>,
    ) -> Result<Self, StateError> {
        let stores: Vec<String> = changelogs.iter().map(|(s, _)| s.clone()).collect();
        let store = TaskStore::open(&dir, &stores, tables, global)?;
        let checkpointed = Checkpoint::in_dir(&dir).read()?;
        Ok(Self::assemble(store, dir, partition, changelogs, tables, checkpointed))
    }

    /// A manager over an already open store with nothing checkpointed: for
    /// driving a task directly (tests, tools).
    pub fn from_store(
        store: TaskStore,
        dir: PathBuf,
        partition: i32,
        changelogs: &[(String, String)],
        tables: &[String],
    ) -> Self {
        Self::assemble(store, dir, partition, changelogs, tables, Offsets::new())
    }

    fn assemble(
        store: TaskStore,
        dir: PathBuf,
        partition: i32,
        changelogs: &[(String, String)],
        tables: &[String],
        checkpointed: Offsets,
    ) -> Self {
        let at = |topic: &str| checkpointed.get(&(topic.to_string(), partition)).copied().unwrap_or(0);
        StateManager {
            tables: tables.iter().map(|t| (t.clone(), at(t))).collect(),
            ends: changelogs
                .iter()
                .map(|(_, t)| (t.clone(), Arc::new(AtomicI64::new(at(t)))))
                .collect(),
            changelogs: changelogs.to_vec(),
            store: Arc::new(Mutex::new(store)),
            dir,
            partition,
            checkpointed,
        }
    }

    /// Brings the database up to date: each table from its source topic up
    /// to the group's committed offset in `committed_tables` (nothing past
    /// it: later records are input, processed in timestamp order), each
    /// changelog to its end. Stops early, keeping what it restored, once
    /// `cancel` is set (the task was revoked). Logs progress as `label`.
    pub fn restore(
        &mut self,
        reader: &dyn ChangelogReader,
        committed_tables: &HashMap<String, i64>,
        label: &str,
        cancel: &AtomicBool,
    ) -> Result<Restored, StateError> {
        let sources: Vec<Source> = self
            .tables
            .iter()
            .map(|(topic, from)| Source {
                topic: topic.clone(),
                partition: self.partition,
                family: table_cf(topic),
                from: *from,
                until: Some(committed_tables.get(topic).copied().unwrap_or(0)),
            })
            .chain(self.changelogs.iter().map(|(store, topic)| Source {
                topic: topic.clone(),
                partition: self.partition,
                family: store_cf(store),
                from: self.ends[topic].load(Ordering::Acquire),
                until: None,
            }))
            .collect();
        let restored = {
            let store = self.lock();
            reader.restore(&store.db, &sources, label, cancel)?
        };
        for ((topic, _), reached) in &restored.reached {
            if let Some(next) = self.tables.get_mut(topic) {
                *next = (*next).max(*reached);
            }
            if let Some(end) = self.ends.get(topic) {
                end.fetch_max(*reached, Ordering::AcqRel);
            }
        }
        // A table's consumer starts at the committed offset: nothing older
        // is applied again.
        for (topic, next) in &mut self.tables {
            if let Some(committed) = committed_tables.get(topic) {
                *next = (*next).max(*committed);
            }
        }
        if restored.cancelled {
            // Keep what was restored for the next owner of this directory.
            self.checkpoint()?;
        }
        Ok(restored)
    }

    /// The store the task's plugin instances reach.
    pub fn store(&self) -> SharedTaskStore {
        self.store.clone()
    }

    /// Whether `topic` is one of this task's tables.
    pub fn is_table(&self, topic: &str) -> bool {
        self.tables.contains_key(topic)
    }

    /// Applies a table record (latest value per key; a null value deletes),
    /// unless the store already holds it.
    pub fn apply_table(&mut self, record: &InputRecord) -> Result<(), StateError> {
        let Some(next) = self.tables.get_mut(&*record.topic) else {
            return Ok(());
        };
        if record.offset < *next {
            return Ok(());
        }
        *next = record.offset + 1;
        let Some(key) = &record.key else { return Ok(()) };
        let write: Write = (
            table_cf(&record.topic),
            key.to_vec(),
            record.value.as_deref().map(<[u8]>::to_vec),
        );
        self.lock().write_local(vec![write])
    }

    /// Makes the plugin's writes of the last call durable locally (one
    /// RocksDB write batch; under exactly-once, the open transaction's
    /// writes) and returns the changelog records to produce.
    pub fn take_writes(&mut self) -> Result<Vec<ChangelogRecord>, StateError> {
        let mut store = self.lock();
        let writes = store.take_writes();
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let local: Vec<Write> = writes
            .iter()
            .map(|(s, k, v)| (store_cf(s), k.clone(), v.clone()))
            .collect();
        store.write_local(local)?;
        drop(store);
        Ok(writes
            .into_iter()
            .map(|(s, key, value)| ChangelogRecord {
                topic: self.changelog_of(&s).to_string(),
                key,
                value,
            })
            .collect())
    }

    /// Forgets the plugin's writes of the last call (it trapped).
    pub fn discard_writes(&mut self) {
        self.lock().discard_writes();
    }

    /// Exactly-once: holds finished writes (plugin stores and tables) out
    /// of RocksDB until the transaction commits (see [`TaskStore::hold`]).
    pub fn hold_until_commit(&mut self) {
        self.lock().hold();
    }

    /// The transaction that holds this task's writes committed: they go to
    /// RocksDB, and the checkpoint moves to the committed changelog ends,
    /// so a crash from here on restores nothing before them.
    pub fn commit_held(&self) -> Result<usize, StateError> {
        let written = self.lock().commit_held()?;
        if written > 0 {
            self.checkpoint()?;
        }
        Ok(written)
    }

    /// Where the acknowledgements of `changelog`'s records are counted.
    pub fn changelog_end(&self, changelog: &str) -> &ChangelogEnd {
        &self.ends[changelog]
    }

    /// Writes the checkpoint: every table's and changelog's position, which
    /// the database holds everything before. Call after the task's outputs
    /// are flushed, so the changelog ends are acknowledged ones.
    pub fn checkpoint(&self) -> Result<(), StateError> {
        let mut offsets = self.checkpointed.clone();
        for (topic, next) in &self.tables {
            offsets.insert((topic.clone(), self.partition), *next);
        }
        for (topic, end) in &self.ends {
            offsets.insert((topic.clone(), self.partition), end.load(Ordering::Acquire));
        }
        self.lock().db.flush()?;
        Checkpoint::in_dir(&self.dir).write(&offsets)
    }

    /// Each changelog partition of this state and the offset it is
    /// complete up to: where a standby follows them from.
    pub fn changelog_positions(&self) -> Vec<(String, i32, i64)> {
        self.changelogs
            .iter()
            .map(|(_, topic)| (topic.clone(), self.partition, self.ends[topic].load(Ordering::Acquire)))
            .collect()
    }

    /// A standby follows its changelogs: applies `records` (key, value;
    /// `None` deletes) read from `changelog` and moves its position to
    /// `next`, so a checkpoint covers them.
    pub fn apply_followed(
        &self,
        changelog: &str,
        records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        next: i64,
    ) -> Result<(), StateError> {
        let Some((store, _)) = self.changelogs.iter().find(|(_, t)| t == changelog) else {
            return Ok(());
        };
        let family = store_cf(store);
        let writes: Vec<Write> = records.into_iter().map(|(k, v)| (family.clone(), k, v)).collect();
        if !writes.is_empty() {
            self.lock().write_local(writes)?;
        }
        self.ends[changelog].fetch_max(next, Ordering::AcqRel);
        Ok(())
    }

    fn changelog_of(&self, store: &str) -> &str {
        self.changelogs
            .iter()
            .find(|(s, _)| s == store)
            .map(|(_, t)| t.as_str())
            .expect("writes go to declared stores only")
    }

    fn lock(&self) -> MutexGuard<'_, TaskStore> {
        self.store.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followed_records_reach_the_store_and_the_checkpoint_a_promoted_task_opens() {
        let dir = tempfile::tempdir().unwrap();
        let changelogs = [("counts".to_string(), "app-counts-changelog".to_string())];
        let standby = StateManager::open(dir.path().into(), 3, &changelogs, &[], None).unwrap();
        assert_eq!(
            standby.changelog_positions(),
            [("app-counts-changelog".to_string(), 3, 0)]
        );
        standby
            .apply_followed(
                "app-counts-changelog",
                vec![
                    (b"a".to_vec(), Some(b"1".to_vec())),
                    (b"b".to_vec(), Some(b"2".to_vec())),
                ],
                7,
            )
            .unwrap();
        standby
            .apply_followed("app-counts-changelog", vec![(b"a".to_vec(), None)], 9)
            .unwrap();
        // A changelog the state does not have moves nothing.
        standby
            .apply_followed("other", vec![(b"c".to_vec(), None)], 99)
            .unwrap();
        standby.checkpoint().unwrap();
        drop(standby);
        // The active task opens the same directory: it resumes at 9.
        let active = StateManager::open(dir.path().into(), 3, &changelogs, &[], None).unwrap();
        assert_eq!(
            active.changelog_positions(),
            [("app-counts-changelog".to_string(), 3, 9)]
        );
        let store = active.store();
        let store = store.lock();
        assert_eq!(store.get("counts", b"a").unwrap(), None, "a followed delete");
        assert_eq!(store.get("counts", b"b").unwrap(), Some(b"2".to_vec()));
    }
}
