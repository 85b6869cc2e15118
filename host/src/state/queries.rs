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
use crate::observe::store_queries::{Lookup, StoreView};
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
    windowed: bool,
    /// The name of the tasks holding it (a task id's processor half).
    task: String,
    tasks: HashMap<i32, Slot>,
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
    /// A windowed store: keys there are (key, window), served elsewhere.
    #[error("{store:?} is a windowed store; key lookups serve key-value stores (window fetches are not served yet)")]
    Windowed {
        /// The store.
        store: String,
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
    /// Declares `store`, held by the tasks named `task` which read
    /// inputs of `partitions` partitions; `windowed` stores are known but
    /// not served by key.
    pub fn declare(&self, store: &str, task: &str, partitions: i32, windowed: bool) {
        let mut stores = self.stores.write();
        let slots = stores.entry(store.to_string()).or_default();
        slots.partitions = partitions.max(1);
        slots.windowed = windowed;
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
        let Some(slots) = stores.get(store) else {
            return Err(QueryError::UnknownStore {
                store: store.to_string(),
                known: stores.keys().cloned().collect(),
            });
        };
        if slots.windowed {
            return Err(QueryError::Windowed {
                store: store.to_string(),
            });
        }
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
            Some(Slot::Running(state)) => {
                let value =
                    state
                        .lock()
                        .db
                        .get(&super::store_cf(store), key)
                        .map_err(|source| QueryError::Storage {
                            store: store.to_string(),
                            source,
                        })?;
                Ok(Found { partition, value })
            }
        }
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
            Err(error) => {
                let message = error.to_string();
                match error {
                    QueryError::UnknownStore { known, .. } => Lookup::UnknownStore { message, known },
                    QueryError::Windowed { .. } => Lookup::Refused { message },
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
        }
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
        q.declare("counts", "count-task", 4, false);
        q.declare("per-minute", "count-task", 4, true);
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
        assert!(matches!(q.get("per-minute", key), Err(QueryError::Windowed { .. })));
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
}
