//! Interactive queries (issue 26): reading a running application's
//! key-value stores from outside, `GET /stores/<store>/keys/<key>` on
//! `--http` (served by `observe::store_queries` through the
//! [`StoreView`] this registry implements).
//!
//! [`Queryable`] is the task manager's record of which stores this instance
//! holds, per partition, and whether each is ready. A key belongs to the
//! partition Kafka's default partitioner gives it ([`partition_for`]:
//! murmur2 of the key bytes, what rill's producers and Kafka Streams'
//! `queryMetadataForKey` assume of a store keyed like its input), so an
//! answer is one of: the value, "no such key" (the owning partition is
//! here and running), or "not available here, retry" (restoring, or owned
//! by another instance, or moving in a rebalance); never an empty answer
//! passed off as real.
//!
//! Reads go to RocksDB, not through the task's open batch: at-least-once
//! that is every finished batch; exactly-once only what committed
//! transactions wrote (held writes are not there yet), so a query never
//! sees state a crash would roll back.
//!
//! A partition's slot moves as its task does:
//!
//! ```text
//! (absent) --assigned--> Restoring --restored--> Running --closed--> (absent)
//!              Restoring --closed (revoked while restoring)--> (absent)
//! ```

use super::StateError;
use super::store::SharedTaskStore;
use crate::observe::codec::Codec;
use crate::observe::store_queries::{Entry, KeyRange, Lookup, Scan, StoreView, WindowValue};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The stores this instance answers queries for.
#[derive(Default)]
pub struct Queryable {
    stores: RwLock<BTreeMap<String, StoreSlots>>,
    /// Who runs the tasks this instance does not (`--advertised-http`).
    owners: RwLock<Option<Arc<dyn Owners>>>,
}

/// Where the application's other instances serve queries: the membership
/// topic's entries, behind a trait so the registry is testable alone.
pub trait Owners: Send + Sync {
    /// The HTTP address of the instance running task `task` (the task's
    /// name) for `partition`, other than this one.
    fn owner(&self, task: &str, partition: i32) -> Option<String>;
}

impl Owners for crate::kafka::membership::Membership {
    fn owner(&self, task: &str, partition: i32) -> Option<String> {
        let (view, _) = self.view();
        let now = crate::observe::now_ms();
        view.live(now)
            .into_iter()
            .filter(|e| e.instance != self.instance())
            .find(|e| e.active.iter().any(|(t, p)| t == task && *p == partition))
            .and_then(|e| e.endpoint.clone())
    }
}

/// One declared store: how many partitions its input has, and its tasks
/// here.
#[derive(Default)]
struct StoreSlots {
    partitions: i32,
    kind: StoreKind,
    /// How its values read in answers (`[store-codecs]`).
    codec: Codec,
    /// The name of the tasks holding it (a task id's processor half).
    task: String,
    tasks: HashMap<i32, Slot>,
}

/// How a store lays out its keys, which decides the questions it answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreKind {
    /// A plugin's key-value store: key lookups, ranges and prefixes.
    #[default]
    KeyValue,
    /// A windowed store (`[windows.<name>]`, `state::window`'s layout):
    /// window fetches by key and time; `session` stores are fetched by
    /// overlap (Kafka Streams' `findSessions`), the others by start time.
    Windowed {
        /// Session windows.
        session: bool,
    },
    /// A join's buffer: internal, answers nothing by key.
    JoinBuffer,
}

/// Where one partition of a store is on this instance.
enum Slot {
    /// Its task is restoring the store: not answerable yet.
    Restoring,
    /// Its task runs: reads go to this store.
    Running(SharedTaskStore),
}

/// What a key lookup found.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    /// The partition owning the key.
    pub partition: i32,
    /// Its value; `None` when the store holds none.
    pub value: Option<Vec<u8>>,
}

/// Why a query got no answer from this instance.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The application declares no such key-value store.
    #[error("no store named {store:?}; the stores are: {}", known.join(", "))]
    UnknownStore {
        /// The name asked for.
        store: String,
        /// Every declared store.
        known: Vec<String>,
    },
    /// The question does not fit the store's layout (a key lookup of a
    /// windowed store, a window fetch of a key-value one).
    #[error("{store:?} is {is}; {fix}")]
    WrongKind {
        /// The store.
        store: String,
        /// What the store is.
        is: &'static str,
        /// What to ask instead.
        fix: &'static str,
    },
    /// The partition owning the key is not answerable here now.
    #[error("{store:?} partition {partition} is not available on this instance ({why}); retry")]
    Unavailable {
        /// The store.
        store: String,
        /// The partition owning the key.
        partition: i32,
        /// Why not.
        why: Unavailable,
        /// The instance that owns it, when known (`--advertised-http`).
        owner: Option<String>,
    },
    /// Reading RocksDB failed.
    #[error("reading {store:?}: {source}")]
    Storage {
        /// The store.
        store: String,
        /// What RocksDB said.
        source: StateError,
    },
}

/// Why a partition cannot answer here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Its task here is restoring the store.
    Restoring,
    /// No task here owns it: another instance does, or a rebalance is
    /// moving it.
    NotHere,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unavailable::Restoring => "restoring",
            Unavailable::NotHere => "owned by another instance, or moving in a rebalance",
        })
    }
}

impl Queryable {
    /// Declares `store` of `kind`, held by the tasks named `task` which
    /// read inputs of `partitions` partitions, its values read by `codec`.
    pub fn declare(&self, store: &str, task: &str, partitions: i32, kind: StoreKind, codec: Codec) {
        let mut stores = self.stores.write();
        let slots = stores.entry(store.to_string()).or_default();
        slots.partitions = partitions.max(1);
        slots.kind = kind;
        slots.codec = codec;
        slots.task = task.to_string();
    }

    /// Names the other instances' owners of partitions not held here.
    pub fn set_owners(&self, owners: Arc<dyn Owners>) {
        *self.owners.write() = Some(owners);
    }

    /// The task owning `partition` of `store` started restoring it.
    pub fn restoring(&self, store: &str, partition: i32) {
        if let Some(slots) = self.stores.write().get_mut(store) {
            slots.tasks.insert(partition, Slot::Restoring);
        }
    }

    /// The task owning `partition` of `store` runs on `state`.
    pub fn running(&self, store: &str, partition: i32, state: SharedTaskStore) {
        if let Some(slots) = self.stores.write().get_mut(store) {
            slots.tasks.insert(partition, Slot::Running(state));
        }
    }

    /// The task owning `partition` of `store` closed here.
    pub fn closed(&self, store: &str, partition: i32) {
        if let Some(slots) = self.stores.write().get_mut(store) {
            slots.tasks.remove(&partition);
        }
    }

    /// Every declared store's name.
    pub fn names(&self) -> Vec<String> {
        self.stores.read().keys().cloned().collect()
    }

    /// The value of `key` in `store`, read from the partition owning it.
    pub fn get(&self, store: &str, key: &[u8]) -> Result<Found, QueryError> {
        let stores = self.stores.read();
        let slots = declared(&stores, store)?;
        if slots.kind != StoreKind::KeyValue {
            return Err(wrong_kind(store, slots.kind));
        }
        let (partition, state) = self.owned(store, slots, key)?;
        let value = state
            .lock()
            .db
            .get(&super::store_cf(store), key)
            .map_err(|source| storage(store, source))?;
        Ok(Found { partition, value })
    }

    /// Up to `limit` entries of key-value `store` with keys in `range`,
    /// from every partition running here, merged in key order; the
    /// partitions not running here are `missing`.
    pub fn scan(&self, store: &str, range: &KeyRange, limit: usize) -> Result<Scan, QueryError> {
        let stores = self.stores.read();
        let slots = declared(&stores, store)?;
        if slots.kind != StoreKind::KeyValue {
            return Err(wrong_kind(store, slots.kind));
        }
        let cf = super::store_cf(store);
        let mut scan = Scan::default();
        for partition in 0..slots.partitions {
            let Some(Slot::Running(state)) = slots.tasks.get(&partition) else {
                scan.missing.push(partition);
                continue;
            };
            // One more than asked, so the merge knows whether it cut.
            let read = state
                .lock()
                .db
                .range(
                    &cf,
                    range.start.as_deref(),
                    range.end.as_deref(),
                    limit.saturating_add(1),
                )
                .map_err(|source| storage(store, source))?;
            scan.entries
                .extend(read.into_iter().map(|(key, value)| Entry { key, value, partition }));
        }
        scan.entries.sort_by(|a, b| a.key.cmp(&b.key));
        scan.more = scan.entries.len() > limit;
        scan.entries.truncate(limit);
        Ok(scan)
    }

    /// The windows of `key` in windowed `store` within `[from, to]` (by
    /// start time; sessions by overlap), oldest first, with the partition
    /// owning the key.
    pub fn fetch_windows(
        &self,
        store: &str,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<(i32, Vec<WindowValue>), QueryError> {
        let stores = self.stores.read();
        let slots = declared(&stores, store)?;
        let StoreKind::Windowed { session } = slots.kind else {
            return Err(wrong_kind(store, slots.kind));
        };
        let (partition, state) = self.owned(store, slots, key)?;
        let (start, end) = super::window::fetch_range(key, if session { i64::MIN } else { from }, to);
        let read = state
            .lock()
            .db
            .range(&super::store_cf(store), Some(&start), Some(&end), usize::MAX)
            .map_err(|source| storage(store, source))?;
        let windows = read
            .iter()
            .filter_map(|(k, v)| super::window::stored_window(key, k, v))
            .filter(|(bounds, _)| !session || bounds.end >= from)
            .map(|(bounds, value)| WindowValue {
                start: bounds.start,
                end: bounds.end,
                value,
            })
            .collect();
        Ok((partition, windows))
    }

    /// The partition owning `key` of `store` and its running store here,
    /// or why this instance cannot answer for it.
    fn owned(&self, store: &str, slots: &StoreSlots, key: &[u8]) -> Result<(i32, SharedTaskStore), QueryError> {
        let partition = partition_for(key, slots.partitions);
        let unavailable = |why| QueryError::Unavailable {
            store: store.to_string(),
            partition,
            why,
            owner: (why == Unavailable::NotHere)
                .then(|| self.owners.read().as_ref()?.owner(&slots.task, partition))
                .flatten(),
        };
        match slots.tasks.get(&partition) {
            None => Err(unavailable(Unavailable::NotHere)),
            Some(Slot::Restoring) => Err(unavailable(Unavailable::Restoring)),
            Some(Slot::Running(state)) => Ok((partition, state.clone())),
        }
    }
}

/// The slots of `store`, or the refusal naming the stores there are.
fn declared<'a>(stores: &'a BTreeMap<String, StoreSlots>, store: &str) -> Result<&'a StoreSlots, QueryError> {
    stores.get(store).ok_or_else(|| QueryError::UnknownStore {
        store: store.to_string(),
        known: stores.keys().cloned().collect(),
    })
}

/// The refusal of a question `store`'s layout cannot answer.
fn wrong_kind(store: &str, kind: StoreKind) -> QueryError {
    let (is, fix) = match kind {
        StoreKind::KeyValue => (
            "a key-value store",
            "ask /stores/<store>/keys/<key>, /range or /prefix/<p>",
        ),
        StoreKind::Windowed { .. } => (
            "a windowed store",
            "ask /stores/<store>/windows/<key>?from=<ms>&to=<ms>",
        ),
        StoreKind::JoinBuffer => ("a join's buffer", "query the stores the plugin declares"),
    };
    QueryError::WrongKind {
        store: store.to_string(),
        is,
        fix,
    }
}

fn storage(store: &str, source: StateError) -> QueryError {
    QueryError::Storage {
        store: store.to_string(),
        source,
    }
}

/// A [`QueryError`] as the HTTP side shows it.
fn shown(error: QueryError) -> Lookup {
    let message = error.to_string();
    match error {
        QueryError::UnknownStore { known, .. } => Lookup::UnknownStore { message, known },
        QueryError::WrongKind { .. } => Lookup::Refused { message },
        QueryError::Unavailable {
            partition, why, owner, ..
        } => Lookup::Unavailable {
            message,
            partition,
            owner,
            reason: match why {
                Unavailable::Restoring => "restoring",
                Unavailable::NotHere => "not-here",
            },
        },
        QueryError::Storage { .. } => Lookup::Failed { message },
    }
}

impl StoreView for Queryable {
    fn lookup(&self, store: &str, key: &[u8]) -> Lookup {
        match self.get(store, key) {
            Ok(Found {
                partition,
                value: Some(value),
            }) => Lookup::Found { partition, value },
            Ok(Found { partition, value: None }) => Lookup::Absent { partition },
            Err(error) => shown(error),
        }
    }

    fn codec(&self, store: &str) -> Codec {
        self.stores.read().get(store).map_or(Codec::Base64, |s| s.codec)
    }

    fn scan(&self, store: &str, range: &KeyRange, limit: usize) -> Result<Scan, Lookup> {
        Queryable::scan(self, store, range, limit).map_err(shown)
    }

    fn windows(&self, store: &str, key: &[u8], from: i64, to: i64) -> Result<(i32, Vec<WindowValue>), Lookup> {
        self.fetch_windows(store, key, from, to).map_err(shown)
    }
}

/// The partition Kafka's default partitioner (and librdkafka's
/// `murmur2_random`, rill's) gives a keyed record among `partitions`.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`).
fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::TaskStore;

    #[test]
    fn murmur2_matches_kafkas_own_test_vectors() {
        for (key, want) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key) as i32, want, "{}", String::from_utf8_lossy(key));
        }
    }

    fn store_with(dir: &std::path::Path, key: &[u8], value: &[u8]) -> SharedTaskStore {
        let store = TaskStore::open(dir, &["counts".to_string()], &[], None).unwrap();
        store
            .db
            .write(&[(crate::state::store_cf("counts"), key.to_vec(), Some(value.to_vec()))])
            .unwrap();
        Arc::new(parking_lot::Mutex::new(store))
    }

    #[test]
    fn a_key_is_answered_only_by_the_running_task_of_its_partition() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queryable::default();
        q.declare("counts", "count-task", 4, StoreKind::KeyValue, Codec::U64Be);
        q.declare(
            "per-minute",
            "count-task",
            4,
            StoreKind::Windowed { session: false },
            Codec::Base64,
        );
        let key = b"k1";
        let p = partition_for(key, 4);

        let unavailable = |e: QueryError| match e {
            QueryError::Unavailable {
                partition, why, owner, ..
            } => {
                assert_eq!(owner, None, "no other instance is known");
                (partition, why)
            }
            other => panic!("unexpected {other}"),
        };
        assert_eq!(
            unavailable(q.get("counts", key).unwrap_err()),
            (p, Unavailable::NotHere)
        );
        q.restoring("counts", p);
        assert_eq!(
            unavailable(q.get("counts", key).unwrap_err()),
            (p, Unavailable::Restoring)
        );
        q.running("counts", p, store_with(dir.path(), key, b"7"));
        assert_eq!(
            q.get("counts", key).unwrap(),
            Found {
                partition: p,
                value: Some(b"7".to_vec())
            }
        );
        // Another key of the same partition: here, running, absent.
        let other = (0..)
            .map(|i| format!("other{i}").into_bytes())
            .find(|k| partition_for(k, 4) == p)
            .unwrap();
        assert_eq!(q.get("counts", &other).unwrap().value, None);
        q.closed("counts", p);
        assert_eq!(
            unavailable(q.get("counts", key).unwrap_err()),
            (p, Unavailable::NotHere)
        );

        match q.get("nope", key).unwrap_err() {
            QueryError::UnknownStore { known, .. } => assert_eq!(known, ["counts", "per-minute"]),
            other => panic!("unexpected {other}"),
        }
        assert!(matches!(q.get("per-minute", key), Err(QueryError::WrongKind { .. })));
        assert!(matches!(q.lookup("per-minute", key), Lookup::Refused { .. }));
        assert!(matches!(
            q.lookup("counts", key),
            Lookup::Unavailable { reason: "not-here", .. }
        ));

        // Another instance advertises it: the answer names that instance.
        struct There;
        impl Owners for There {
            fn owner(&self, task: &str, partition: i32) -> Option<String> {
                (task == "count-task").then(|| format!("10.0.0.9:{}", 9000 + partition))
            }
        }
        q.set_owners(Arc::new(There));
        match q.lookup("counts", key) {
            Lookup::Unavailable { owner, partition, .. } => {
                assert_eq!(owner, Some(format!("10.0.0.9:{}", 9000 + p)));
                assert_eq!(partition, p);
            }
            other => panic!("unexpected {other:?}"),
        }
        q.restoring("counts", p);
        assert!(
            matches!(
                q.lookup("counts", key),
                Lookup::Unavailable {
                    owner: None,
                    reason: "restoring",
                    ..
                }
            ),
            "a partition restoring here is owned here"
        );
    }

    fn store_of(dir: &std::path::Path, store: &str, entries: &[(Vec<u8>, Vec<u8>)]) -> SharedTaskStore {
        let task = TaskStore::open(dir, &[store.to_string()], &[], None).unwrap();
        let writes: Vec<_> = entries
            .iter()
            .map(|(k, v)| (crate::state::store_cf(store), k.clone(), Some(v.clone())))
            .collect();
        task.db.write(&writes).unwrap();
        Arc::new(parking_lot::Mutex::new(task))
    }

    #[test]
    fn a_scan_merges_the_running_partitions_in_key_order_and_names_the_others() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let q = Queryable::default();
        q.declare("counts", "count-task", 3, StoreKind::KeyValue, Codec::U64Be);
        let kv = |k: &str| (k.as_bytes().to_vec(), k.len().to_be_bytes().to_vec());
        q.running("counts", 0, store_of(dirs[0].path(), "counts", &[kv("b"), kv("d")]));
        q.running(
            "counts",
            1,
            store_of(dirs[1].path(), "counts", &[kv("a"), kv("c"), kv("ca")]),
        );
        q.restoring("counts", 2);

        let everything = KeyRange::default();
        let scan = q.scan("counts", &everything, 100).unwrap();
        let keys: Vec<_> = scan.entries.iter().map(|e| (e.key.clone(), e.partition)).collect();
        assert_eq!(
            keys,
            [
                (b"a".to_vec(), 1),
                (b"b".to_vec(), 0),
                (b"c".to_vec(), 1),
                (b"ca".to_vec(), 1),
                (b"d".to_vec(), 0)
            ]
        );
        assert_eq!((scan.missing, scan.more), (vec![2], false), "the restoring partition");
        let cut = q.scan("counts", &everything, 2).unwrap();
        assert_eq!(cut.entries.len(), 2);
        assert!(cut.more, "the limit cut it");
        let b_to_c = KeyRange {
            start: Some(b"b".to_vec()),
            end: Some(b"c\0".to_vec()),
        };
        let keys: Vec<_> = q
            .scan("counts", &b_to_c, 100)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, [b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(q.codec("counts"), Codec::U64Be);
        assert!(matches!(
            q.scan("nope", &everything, 1),
            Err(QueryError::UnknownStore { .. })
        ));
    }

    /// A stored window of `key` in `state::window`'s layout: `W | key
    /// length | key | start | end` to `latest record time | aggregate`.
    fn window_entry(key: &[u8], start: i64, end: i64, aggregate: &[u8]) -> (Vec<u8>, Vec<u8>) {
        use crate::state::window::ord;
        let mut k = vec![b'W'];
        k.extend_from_slice(&(key.len() as u32).to_be_bytes());
        k.extend_from_slice(key);
        k.extend_from_slice(&ord(start));
        k.extend_from_slice(&ord(end));
        let mut v = ord(end - 1).to_vec();
        v.extend_from_slice(aggregate);
        (k, v)
    }

    #[test]
    fn a_window_fetch_reads_the_keys_windows_by_start_time_or_sessions_by_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queryable::default();
        q.declare(
            "per-minute",
            "count-task",
            1,
            StoreKind::Windowed { session: false },
            Codec::Json,
        );
        q.declare(
            "visits",
            "count-task",
            1,
            StoreKind::Windowed { session: true },
            Codec::Json,
        );
        let entries = [
            window_entry(b"k", 0, 60_000, b"1"),
            window_entry(b"k", 60_000, 120_000, b"2"),
            window_entry(b"k", 120_000, 180_000, b"3"),
            // Another key whose bytes start with "k", and the store's other keys.
            window_entry(b"kk", 60_000, 120_000, b"9"),
            (b"M".to_vec(), vec![0; 16]),
        ];
        let state = store_of(dir.path(), "per-minute", &entries);
        q.running("per-minute", 0, state);
        let starts = |from, to| -> Vec<(i64, i64, Vec<u8>)> {
            let (partition, windows) = q.fetch_windows("per-minute", b"k", from, to).unwrap();
            assert_eq!(partition, 0);
            windows.into_iter().map(|w| (w.start, w.end, w.value)).collect()
        };
        assert_eq!(
            starts(i64::MIN, i64::MAX),
            [
                (0, 60_000, b"1".to_vec()),
                (60_000, 120_000, b"2".to_vec()),
                (120_000, 180_000, b"3".to_vec())
            ]
        );
        assert_eq!(starts(60_000, 120_000).len(), 2, "both ends inclusive");
        assert_eq!(starts(1, 59_999), []);
        assert!(matches!(q.get("per-minute", b"k"), Err(QueryError::WrongKind { .. })));

        let dir = tempfile::tempdir().unwrap();
        let sessions = [
            window_entry(b"k", 0, 50_000, b"4"),
            window_entry(b"k", 100_000, 130_000, b"2"),
        ];
        q.running("visits", 0, store_of(dir.path(), "visits", &sessions));
        let overlapping = |from, to| q.fetch_windows("visits", b"k", from, to).unwrap().1.len();
        assert_eq!(
            overlapping(40_000, 100_000),
            2,
            "a session overlapping the times counts"
        );
        assert_eq!(overlapping(60_000, 90_000), 0);
        assert_eq!(overlapping(120_000, i64::MAX), 1);
    }
}
