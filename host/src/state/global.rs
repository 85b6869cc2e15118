//! Global tables (Kafka Streams' GlobalKTable): every partition of each
//! global topic, materialized on every instance. Fully caught up before any
//! task runs, then followed by a background thread.

use super::checkpoint::{Checkpoint, Offsets};
use super::restore::{Source, restore};
use super::store::{GlobalStore, Write};
use super::{StateError, table_cf};
use crate::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The running global tables of this instance.
pub struct GlobalTables {
    store: Arc<GlobalStore>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GlobalTables {
    /// Opens the global store in `dir`, restores every partition of
    /// `topics` (name, partitions) up to its current end, and starts
    /// following them.
    pub fn start(settings: &KafkaSettings, dir: &Path, topics: &[(String, i32)]) -> Result<Self, StateError> {
        let names: Vec<String> = topics.iter().map(|(t, _)| t.clone()).collect();
        let store = Arc::new(GlobalStore::open(dir, &names)?);
        let checkpoint = Checkpoint::in_dir(dir);
        let done = checkpoint.read()?;
        let sources: Vec<Source> = topics
            .iter()
            .flat_map(|(topic, partitions)| {
                let done = &done;
                (0..*partitions).map(move |partition| Source {
                    topic: topic.clone(),
                    partition,
                    family: table_cf(topic),
                    from: done.get(&(topic.clone(), partition)).copied().unwrap_or(0),
                    // Global tables are bootstrapped to the end before any task
                    // runs, as Kafka Streams does.
                    until: None,
                })
            })
            .collect();
        let restored = restore(settings, &store.db, &sources, "global", &AtomicBool::new(false))?;
        checkpoint.write(&restored.reached)?;

        let stop = Arc::new(AtomicBool::new(false));
        let consumer: BaseConsumer = settings
            .reader()
            .create()
            .map_err(|e| follow_error(&names, e.to_string()))?;
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &restored.reached {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| follow_error(&names, e.to_string()))?;
        }
        consumer.assign(&tpl).map_err(|e| follow_error(&names, e.to_string()))?;
        let thread = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::Builder::new()
                .name("rill-global".into())
                .spawn(move || follow(consumer, &store, &stop, checkpoint, restored.reached))
                .map_err(|e| follow_error(&names, e.to_string()))?
        };
        Ok(GlobalTables {
            store,
            stop,
            thread: Some(thread),
        })
    }

    /// The store tasks look global tables up in.
    pub fn store(&self) -> Arc<GlobalStore> {
        self.store.clone()
    }
}

impl Drop for GlobalTables {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn follow_error(topics: &[String], message: String) -> StateError {
    StateError::Restore {
        topic: topics.join(","),
        partition: -1,
        message,
    }
}

/// Records read from the global topics and not yet written, and how far
/// they take each partition. Positions move only once the records behind
/// them are in the store, so a failed write is retried and the checkpoint
/// never claims records the store does not hold.
#[derive(Debug, Default)]
struct Pending {
    writes: Vec<Write>,
    reached: Offsets,
}

impl Pending {
    /// Adds one record read at `offset` (a keyless record only moves the
    /// position).
    fn push(&mut self, topic: &str, partition: i32, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        if let Some(key) = key {
            self.writes
                .push((table_cf(topic), key.to_vec(), value.map(<[u8]>::to_vec)));
        }
        self.reached.insert((topic.to_string(), partition), offset + 1);
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.reached.is_empty()
    }

    /// Writes the pending records with `write`; on success their positions
    /// move into `done`, on failure nothing moves and they stay pending.
    fn apply(
        &mut self,
        write: impl FnOnce(&[Write]) -> Result<(), StateError>,
        done: &mut Offsets,
    ) -> Result<(), StateError> {
        if !self.writes.is_empty() {
            write(&self.writes)?;
        }
        self.writes.clear();
        done.append(&mut self.reached);
        Ok(())
    }
}

/// Records per write batch while following.
const BATCH: usize = 1000;

/// How long to wait before retrying a failed write.
const RETRY: Duration = Duration::from_secs(1);

/// Applies new global-table records until stopped, then checkpoints what
/// is in the store.
fn follow(
    consumer: BaseConsumer,
    store: &GlobalStore,
    stop: &AtomicBool,
    checkpoint: Checkpoint,
    mut reached: Offsets,
) {
    let mut pending = Pending::default();
    let mut failing = false;
    while !stop.load(Ordering::Acquire) {
        // While a write is failing, read nothing more: retry it first.
        if !failing {
            let mut read = 0;
            while let Some(polled) = consumer.poll(if pending.is_empty() {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            }) {
                match polled {
                    Ok(message) => {
                        pending.push(
                            message.topic(),
                            message.partition(),
                            message.offset(),
                            message.key(),
                            message.payload(),
                        );
                        read += 1;
                        if read >= BATCH {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!("global table consumer: {e}"),
                }
            }
        }
        if pending.is_empty() {
            continue;
        }
        match pending.apply(|writes| store.db.write(writes), &mut reached) {
            Ok(()) => failing = false,
            Err(e) => {
                tracing::error!("global tables: {e}; retrying in {RETRY:?} (the position does not move past it)");
                failing = true;
                std::thread::sleep(RETRY);
            }
        }
    }
    let saved = store.db.flush().and_then(|()| checkpoint.write(&reached));
    if let Err(e) = saved {
        tracing::warn!("global tables: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> StateError {
        StateError::Checkpoint {
            path: "global".into(),
            source: std::io::Error::other("disk full"),
        }
    }

    #[test]
    fn a_failed_write_moves_no_position_and_is_retried() {
        let mut pending = Pending::default();
        let mut done = Offsets::new();
        pending.push("address_v2", 0, 7, Some(b"jihun"), Some(b"Seoul"));
        pending.push("address_v2", 1, 3, None, Some(b"keyless"));
        assert!(pending.apply(|_| Err(failure()), &mut done).is_err());
        assert!(done.is_empty(), "nothing the store lacks is checkpointed");

        let mut written = Vec::new();
        pending
            .apply(
                |w| {
                    written.extend_from_slice(w);
                    Ok(())
                },
                &mut done,
            )
            .unwrap();
        assert_eq!(written.len(), 1, "the failed write is retried, once");
        assert_eq!(done[&("address_v2".to_string(), 0)], 8);
        assert_eq!(done[&("address_v2".to_string(), 1)], 4);
        assert!(pending.is_empty());
    }
}
