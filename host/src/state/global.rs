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
                })
            })
            .collect();
        let restored = restore(settings, &store.db, &sources, "global")?;
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

/// Applies new global-table records until stopped, then checkpoints.
fn follow(
    consumer: BaseConsumer,
    store: &GlobalStore,
    stop: &AtomicBool,
    checkpoint: Checkpoint,
    mut reached: Offsets,
) {
    let mut writes: Vec<Write> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        while let Some(polled) = consumer.poll(if writes.is_empty() {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        }) {
            match polled {
                Ok(message) => {
                    if let Some(key) = message.key() {
                        writes.push((
                            table_cf(message.topic()),
                            key.to_vec(),
                            message.payload().map(<[u8]>::to_vec),
                        ));
                    }
                    reached.insert((message.topic().to_string(), message.partition()), message.offset() + 1);
                    if writes.len() >= 1000 {
                        break;
                    }
                }
                Err(e) => tracing::warn!("global table consumer: {e}"),
            }
        }
        if !writes.is_empty() {
            if let Err(e) = store.db.write(&writes) {
                tracing::error!("global tables: {e}");
            }
            writes.clear();
        }
    }
    let saved = store.db.flush().and_then(|()| checkpoint.write(&reached));
    if let Err(e) = saved {
        tracing::warn!("global tables: {e}");
    }
}
