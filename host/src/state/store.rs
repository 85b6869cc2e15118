//! RocksDB-backed stores: one database per task (its stores and tables) and
//! one per instance for global tables.
//!
//! Plugin writes during a batch go to an overlay that reads see at once
//! (read-your-writes) and that is thrown away if the plugin traps; after the
//! batch the overlay becomes one RocksDB write batch plus changelog records.
//!
//! Under exactly-once a second level sits between the two: the writes of
//! the open transaction ([`TaskStore::hold`]). A finished batch's writes
//! move there instead of into RocksDB; they reach RocksDB in one write
//! batch when the transaction commits and are dropped when it aborts, so
//! the local store never gets ahead of what the brokers committed.
//!
//! ```text
//! plugin put ─► batch overlay ─(batch ends)─► transaction writes ─(commit)─► RocksDB
//!                    │ trap: dropped                 │ abort: dropped
//! reads: batch overlay, then transaction writes, then RocksDB
//! ```

use super::{StateError, store_cf, table_cf};
use rocksdb::{ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a plugin's state call failed; maps one to one onto the WIT
/// `state-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// Not a store or table the manifest declares.
    Undeclared(String),
    /// RocksDB failed.
    Storage(String),
}

/// One write: column family, key, value (`None` deletes).
pub type Write = (String, Vec<u8>, Option<Vec<u8>>);

/// A task's store as the task and its plugin instances share it: the task
/// writes table updates and commits, the instances' `state` imports read
/// and write during a call.
pub type SharedTaskStore = Arc<parking_lot::Mutex<TaskStore>>;

/// An open RocksDB database with named column families.
pub struct Database {
    db: DB,
    path: PathBuf,
    /// Declared last: released after `db` has closed.
    _open: OpenPath,
}

/// How long an open waits for the same directory to be released by a task
/// of this process that is still closing (a revocation on another worker).
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The database directories open in this process. RocksDB refuses a second
/// open of a directory while the first is open, and during a rebalance a
/// revoked task's store may still be closing on its worker when the new
/// owner opens it: an open waits here until the path is released, instead
/// of retrying on RocksDB's error text. (Other processes cannot share a
/// state directory: `state::instance` locks it.)
static OPEN: std::sync::LazyLock<(parking_lot::Mutex<HashSet<PathBuf>>, parking_lot::Condvar)> =
    std::sync::LazyLock::new(Default::default);

/// A claim on one directory of [`OPEN`], released on drop.
struct OpenPath(PathBuf);

impl OpenPath {
    fn claim(path: &Path, wait: Duration) -> Result<OpenPath, StateError> {
        let (open, released) = &*OPEN;
        let deadline = Instant::now() + wait;
        let mut paths = open.lock();
        while paths.contains(path) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StateError::StillOpen {
                    path: path.display().to_string(),
                    waited: wait,
                });
            }
            released.wait_for(&mut paths, left);
        }
        paths.insert(path.to_path_buf());
        Ok(OpenPath(path.to_path_buf()))
    }
}

impl Drop for OpenPath {
    fn drop(&mut self) {
        let (open, released) = &*OPEN;
        open.lock().remove(&self.0);
        released.notify_all();
    }
}

impl Database {
    /// Opens (creating if needed) the database at `path` with `families`.
    /// Waits while a task of this process still has it open, up to 30 s.
    pub fn open(path: &Path, families: &[String]) -> Result<Database, StateError> {
        std::fs::create_dir_all(path).map_err(|source| StateError::Checkpoint {
            path: path.display().to_string(),
            source,
        })?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let open = OpenPath::claim(path, LOCK_WAIT)?;
        // RocksDB opens a database only with every column family it has:
        // one a new version no longer declares (a store an accepted
        // breaking upgrade gave up) is opened too and left unused, its
        // data kept (a version that declares it again finds it).
        let mut all: Vec<String> = families.to_vec();
        for existing in DB::list_cf(&options, path).unwrap_or_default() {
            if existing != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !all.contains(&existing) {
                tracing::info!("{}: column family {existing} is no longer declared; kept unused", path.display());
                all.push(existing);
            }
        }
        let descriptors = all
            .iter()
            .map(|f| ColumnFamilyDescriptor::new(f, Options::default()));
        let db = DB::open_cf_descriptors(&options, path, descriptors).map_err(|source| StateError::Db {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Database {
            db,
            path: path.to_path_buf(),
            _open: open,
        })
    }

    fn error(&self, source: rocksdb::Error) -> StateError {
        StateError::Db {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The value of `key` in column family `cf`.
    pub fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let handle = self.db.cf_handle(cf).ok_or_else(|| self.missing(cf))?;
        self.db.get_cf(handle, key).map_err(|e| self.error(e))
    }

    /// Up to `limit` entries of `cf` with `start <= key < end`.
    pub fn range(
        &self,
        cf: &str,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
        let handle = self.db.cf_handle(cf).ok_or_else(|| self.missing(cf))?;
        let mode = start.map_or(IteratorMode::Start, |s| IteratorMode::From(s, Direction::Forward));
        let mut out = Vec::new();
        // An upper bound lets RocksDB stop at `end` instead of stepping
        // over deleted entries past it.
        let mut read = ReadOptions::default();
        if let Some(end) = end {
            read.set_iterate_upper_bound(end.to_vec());
        }
        for item in self.db.iterator_cf_opt(handle, read, mode) {
            let (key, value) = item.map_err(|e| self.error(e))?;
            if end.is_some_and(|end| &*key >= end) || out.len() >= limit {
                break;
            }
            out.push((key.to_vec(), value.to_vec()));
        }
        Ok(out)
    }

    /// Applies `writes` atomically.
    pub fn write(&self, writes: &[Write]) -> Result<(), StateError> {
        let mut batch = WriteBatch::default();
        for (cf, key, value) in writes {
            let handle = self.db.cf_handle(cf).ok_or_else(|| self.missing(cf))?;
            match value {
                Some(value) => batch.put_cf(handle, key, value),
                None => batch.delete_cf(handle, key),
            }
        }
        self.db.write(batch).map_err(|e| self.error(e))
    }

    /// Flushes memtables so the checkpoint written next is backed by files.
    pub fn flush(&self) -> Result<(), StateError> {
        self.db.flush_wal(true).map_err(|e| self.error(e))
    }

    /// Drops a column family: lets tests make storage fail under a task.
    #[cfg(test)]
    pub(crate) fn drop_family(&mut self, cf: &str) {
        self.db.drop_cf(cf).expect("dropping a column family");
    }

    fn missing(&self, cf: &str) -> StateError {
        StateError::Family {
            path: self.path.display().to_string(),
            family: cf.to_string(),
        }
    }
}

/// The global tables of this instance, shared by every task.
pub struct GlobalStore {
    /// The database; RocksDB is safe to share between threads.
    pub db: Database,
    topics: HashSet<String>,
}

impl GlobalStore {
    /// Opens the global store for `topics` under `dir`.
    pub fn open(dir: &Path, topics: &[String]) -> Result<Self, StateError> {
        let families: Vec<String> = topics.iter().map(|t| table_cf(t)).collect();
        Ok(GlobalStore {
            db: Database::open(dir, &families)?,
            topics: topics.iter().cloned().collect(),
        })
    }

    /// Whether `topic` is one of the global tables.
    pub fn has(&self, topic: &str) -> bool {
        self.topics.contains(topic)
    }
}

/// The state of one task, as its plugin instance sees it.
pub struct TaskStore {
    /// The task's database.
    pub db: Database,
    stores: HashSet<String>,
    tables: HashSet<String>,
    global: Option<Arc<GlobalStore>>,
    /// Writes of the batch in progress, by (store, key).
    overlay: BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>,
    /// Windowed stores: the host's (`state::window`), never the plugin's
    /// to read or write directly.
    hidden: HashSet<String>,
    /// Under exactly-once, the writes of the open transaction by (column
    /// family, key), held out of RocksDB until it commits; `None` when
    /// every write goes to RocksDB at once (at-least-once).
    held: Option<BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>>,
}

impl TaskStore {
    /// Opens the task's database at `dir` with `stores` and `tables`.
    pub fn open(
        dir: &Path,
        stores: &[String],
        tables: &[String],
        global: Option<Arc<GlobalStore>>,
    ) -> Result<Self, StateError> {
        let families: Vec<String> = stores
            .iter()
            .map(|s| store_cf(s))
            .chain(tables.iter().map(|t| table_cf(t)))
            .collect();
        Ok(TaskStore {
            db: Database::open(dir, &families)?,
            stores: stores.iter().cloned().collect(),
            tables: tables.iter().cloned().collect(),
            global,
            overlay: BTreeMap::new(),
            hidden: HashSet::new(),
            held: None,
        })
    }

    /// From now on, holds finished writes out of RocksDB until
    /// [`Self::commit_held`] (exactly-once: the open transaction's writes).
    pub fn hold(&mut self) {
        self.held.get_or_insert_with(BTreeMap::new);
    }

    /// Writes `writes` (column family, key, value) locally: into the open
    /// transaction's writes when holding, else into RocksDB at once.
    pub fn write_local(&mut self, writes: Vec<Write>) -> Result<(), StateError> {
        match &mut self.held {
            Some(held) => {
                for (cf, key, value) in writes {
                    held.insert((cf, key), value);
                }
                Ok(())
            }
            None => self.db.write(&writes),
        }
    }

    /// The transaction committed: its writes go to RocksDB in one atomic
    /// write batch. Returns how many.
    pub fn commit_held(&mut self) -> Result<usize, StateError> {
        let Some(held) = &mut self.held else { return Ok(0) };
        if held.is_empty() {
            return Ok(0);
        }
        let writes: Vec<Write> = std::mem::take(held)
            .into_iter()
            .map(|((cf, k), v)| (cf, k, v))
            .collect();
        self.db.write(&writes)?;
        Ok(writes.len())
    }

    /// The transaction aborted: its writes are forgotten. Returns how many.
    pub fn discard_held(&mut self) -> usize {
        self.held.as_mut().map_or(0, |held| std::mem::take(held).len())
    }

    /// A value of column family `cf` as the open transaction sees it.
    fn read(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if let Some(value) = self.held.as_ref().and_then(|h| h.get(&(cf.to_string(), key.to_vec()))) {
            return Ok(value.clone());
        }
        self.db.get(cf, key)
    }

    /// Keeps `store` (a windowed store) from the plugin's state calls.
    pub fn hide(&mut self, store: &str) {
        self.hidden.insert(store.to_string());
    }

    /// The host's access to a store the plugin cannot see: the same
    /// overlay, so its writes join the batch's changelog and roll back
    /// with it.
    pub fn host(&mut self) -> HostView<'_> {
        HostView(self)
    }

    fn check_store(&self, store: &str) -> Result<(), AccessError> {
        if self.stores.contains(store) && !self.hidden.contains(store) {
            Ok(())
        } else {
            Err(AccessError::Undeclared(store.to_string()))
        }
    }

    /// A store value, including this batch's writes.
    pub fn get(&self, store: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AccessError> {
        self.check_store(store)?;
        if let Some(value) = self.overlay.get(&(store.to_string(), key.to_vec())) {
            return Ok(value.clone());
        }
        self.read(&store_cf(store), key).map_err(storage)
    }

    /// Buffers a put for the end of the batch.
    pub fn put(&mut self, store: &str, key: Vec<u8>, value: Vec<u8>) -> Result<(), AccessError> {
        self.check_store(store)?;
        self.overlay.insert((store.to_string(), key), Some(value));
        Ok(())
    }

    /// Buffers a delete for the end of the batch.
    pub fn delete(&mut self, store: &str, key: Vec<u8>) -> Result<(), AccessError> {
        self.check_store(store)?;
        self.overlay.insert((store.to_string(), key), None);
        Ok(())
    }

    /// Entries with `start <= key < end` in key order, including this
    /// batch's writes, at most `limit`.
    pub fn range(
        &self,
        store: &str,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, AccessError> {
        self.check_store(store)?;
        // Both maps are sorted by (store or family, key): read only the
        // slice in range, not the store's whole batch or transaction.
        fn slice<'m>(
            map: &'m BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>,
            name: &str,
            start: Option<&[u8]>,
            end: Option<&[u8]>,
        ) -> Vec<(&'m Vec<u8>, &'m Option<Vec<u8>>)> {
            use std::ops::Bound;
            let lo = Bound::Included((name.to_string(), start.map_or_else(Vec::new, <[u8]>::to_vec)));
            let hi = end.map_or(Bound::Unbounded, |e| Bound::Excluded((name.to_string(), e.to_vec())));
            map.range((lo, hi))
                .take_while(|((n, _), _)| n == name)
                .map(|((_, k), v)| (k, v))
                .collect()
        }
        if start.zip(end).is_some_and(|(s, e)| s >= e) {
            return Ok(Vec::new());
        }
        let pending = slice(&self.overlay, store, start, end);
        let cf = store_cf(store);
        let held = self.held.as_ref().map_or_else(Vec::new, |held| slice(held, &cf, start, end));
        // Pending deletes can hide at most that many stored entries.
        let deletes = pending.iter().chain(&held).filter(|(_, v)| v.is_none()).count();
        let stored = self.db.range(&cf, start, end, limit + deletes).map_err(storage)?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored.into_iter().collect();
        // The transaction's writes over RocksDB, the batch's over both.
        for (key, value) in held.into_iter().chain(pending) {
            match value {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    /// The current value of `key` in a table or global table input.
    pub fn lookup(&self, topic: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AccessError> {
        if self.tables.contains(topic) {
            return self.read(&table_cf(topic), key).map_err(storage);
        }
        match &self.global {
            Some(global) if global.has(topic) => global.db.get(&table_cf(topic), key).map_err(storage),
            _ => Err(AccessError::Undeclared(topic.to_string())),
        }
    }

    /// Whether `topic` is one of this task's (co-partitioned) tables.
    pub fn is_table(&self, topic: &str) -> bool {
        self.tables.contains(topic)
    }

    /// Takes the batch's writes as (store, key, value), leaving none.
    pub fn take_writes(&mut self) -> Vec<(String, Vec<u8>, Option<Vec<u8>>)> {
        std::mem::take(&mut self.overlay)
            .into_iter()
            .map(|((s, k), v)| (s, k, v))
            .collect()
    }

    /// Forgets the batch's writes (the plugin trapped).
    pub fn discard_writes(&mut self) {
        self.overlay.clear();
    }
}

/// [`TaskStore`] without the plugin's name check: for windowed stores.
pub struct HostView<'a>(&'a mut TaskStore);

impl HostView<'_> {
    fn with<T>(&mut self, store: &str, f: impl FnOnce(&mut TaskStore) -> T) -> T {
        let hidden = self.0.hidden.remove(store);
        let out = f(self.0);
        if hidden {
            self.0.hidden.insert(store.to_string());
        }
        out
    }

    /// A value, including the batch's writes.
    pub fn get(&mut self, store: &str, key: &[u8]) -> Result<Option<Vec<u8>>, AccessError> {
        self.with(store, |s| s.get(store, key))
    }

    /// Buffers a put.
    pub fn put(&mut self, store: &str, key: Vec<u8>, value: Vec<u8>) -> Result<(), AccessError> {
        self.with(store, |s| s.put(store, key, value))
    }

    /// Buffers a delete.
    pub fn delete(&mut self, store: &str, key: Vec<u8>) -> Result<(), AccessError> {
        self.with(store, |s| s.delete(store, key))
    }

    /// Entries in `[start, end)`, including the batch's writes.
    pub fn range(&mut self, store: &str, start: &[u8], end: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, AccessError> {
        self.with(store, |s| s.range(store, Some(start), Some(end), usize::MAX / 2))
    }
}

fn storage(error: StateError) -> AccessError {
    AccessError::Storage(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> TaskStore {
        TaskStore::open(dir, &["counts".into()], &["address".into()], None).unwrap()
    }

    /// A store a new version no longer declares does not keep the task's
    /// database from opening, and its data is still there for a version
    /// that declares it again.
    #[test]
    fn a_database_opens_without_a_store_it_no_longer_declares() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        s.db.write(&[(store_cf("counts"), b"a".to_vec(), Some(b"1".to_vec()))]).unwrap();
        drop(s);
        let other = TaskStore::open(dir.path(), &["totals".into()], &[], None).unwrap();
        assert!(matches!(other.get("counts", b"a"), Err(AccessError::Undeclared(_))));
        drop(other);
        assert_eq!(store(dir.path()).get("counts", b"a").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn batch_writes_are_visible_at_once_and_durable_after_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.put("counts", b"a".to_vec(), b"1".to_vec()).unwrap();
        assert_eq!(s.get("counts", b"a").unwrap(), Some(b"1".to_vec()));
        let writes: Vec<Write> = s
            .take_writes()
            .into_iter()
            .map(|(st, k, v)| (store_cf(&st), k, v))
            .collect();
        s.db.write(&writes).unwrap();
        drop(s);
        let s = store(dir.path());
        assert_eq!(s.get("counts", b"a").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn range_merges_pending_writes_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let cf = store_cf("counts");
        s.db.write(&[
            (cf.clone(), b"a".to_vec(), Some(b"1".to_vec())),
            (cf.clone(), b"b".to_vec(), Some(b"2".to_vec())),
            (cf, b"d".to_vec(), Some(b"4".to_vec())),
        ])
        .unwrap();
        s.delete("counts", b"a".to_vec()).unwrap();
        s.put("counts", b"c".to_vec(), b"3".to_vec()).unwrap();
        let got = s.range("counts", None, Some(b"d"), 10).unwrap();
        assert_eq!(
            got,
            vec![(b"b".to_vec(), b"2".to_vec()), (b"c".to_vec(), b"3".to_vec())]
        );
        assert_eq!(s.range("counts", Some(b"b"), None, 2).unwrap().len(), 2);
        s.discard_writes();
        assert_eq!(s.get("counts", b"a").unwrap(), Some(b"1".to_vec()));
    }

    #[test]
    fn held_writes_are_read_but_reach_rocksdb_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let cf = store_cf("counts");
        s.db.write(&[(cf.clone(), b"a".to_vec(), Some(b"1".to_vec()))]).unwrap();
        s.hold();
        // A finished batch: into the transaction's writes, not RocksDB.
        s.write_local(vec![
            (cf.clone(), b"a".to_vec(), None),
            (cf.clone(), b"b".to_vec(), Some(b"2".to_vec())),
            (table_cf("address"), b"k".to_vec(), Some(b"v".to_vec())),
        ])
        .unwrap();
        assert_eq!(s.get("counts", b"a").unwrap(), None);
        assert_eq!(s.get("counts", b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.lookup("address", b"k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.db.get(&cf, b"a").unwrap(), Some(b"1".to_vec()));
        // The next batch sees both levels; its own writes win.
        s.put("counts", b"c".to_vec(), b"3".to_vec()).unwrap();
        let all = s.range("counts", None, None, 10).unwrap();
        assert_eq!(
            all,
            vec![(b"b".to_vec(), b"2".to_vec()), (b"c".to_vec(), b"3".to_vec())]
        );
        // Aborted: RocksDB is as it was.
        assert_eq!(s.discard_held(), 3);
        assert_eq!(s.get("counts", b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.lookup("address", b"k").unwrap(), None);
        // Committed: RocksDB gets them in one write.
        s.write_local(vec![(cf.clone(), b"b".to_vec(), Some(b"2".to_vec()))])
            .unwrap();
        assert_eq!(s.commit_held().unwrap(), 1);
        assert_eq!(s.db.get(&cf, b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.commit_held().unwrap(), 0);
    }

    #[test]
    fn only_declared_names_are_reachable() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        assert_eq!(s.get("other", b"k"), Err(AccessError::Undeclared("other".into())));
        assert_eq!(s.lookup("nope", b"k"), Err(AccessError::Undeclared("nope".into())));
        assert_eq!(s.lookup("address", b"k"), Ok(None));
    }
}
