//! Restoring local state: read changelog (or table source) partitions
//! from the checkpointed offset up to their high watermark and write the
//! records into RocksDB. Where the records come from is a
//! [`ChangelogReader`]: Kafka when running ([`KafkaChangelogs`]), memory in
//! `rill test` (see `crate::testdriver`), so a stateful task opens with no
//! broker.

use super::StateError;
use super::checkpoint::Offsets;
use super::store::{Database, Write};
use crate::kafka::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One partition to bring up to date, and the column family it fills.
#[derive(Debug, Clone)]
pub struct Source {
    /// Changelog or table topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Column family its records go to.
    pub family: String,
    /// First offset not yet in the database (from the checkpoint; 0 when
    /// there is none).
    pub from: i64,
    /// Where to stop: `None` for the end of the partition (changelogs),
    /// the group's committed offset for a table read from its source topic.
    pub until: Option<i64>,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Records written into the database.
    pub records: u64,
    /// Offset reached per partition (the next one to read).
    pub reached: Offsets,
    /// Wall time.
    pub elapsed: Duration,
    /// Stopped early because the task was revoked; `reached` says how far
    /// it got (everything before is in the database).
    pub cancelled: bool,
}

/// How often a long restore logs how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How long a restore may see no progress before it fails.
const STALL: Duration = Duration::from_secs(60);

/// Where restores read changelog and table partitions from. The seam that
/// lets `rill test` open stateful tasks without a broker: it restores from
/// the changelog records its in-memory sink collected.
pub trait ChangelogReader: Send + Sync {
    /// Writes the records of `sources` into `db`, as [`restore`] does.
    fn restore(&self, db: &Database, sources: &[Source], label: &str, cancel: &AtomicBool)
    -> Result<Restored, StateError>;
}

/// Restores from Kafka through one consumer kept for the whole run (Kafka
/// Streams' restore consumer), created at the first restore. A librdkafka
/// client per restore cost about 100 ms each (destroying one waits for its
/// threads), so 24 stateful tasks took 2.5 s to open one after another
/// even with nothing to restore.
pub struct KafkaChangelogs {
    settings: KafkaSettings,
    /// Restores run one at a time on the state updater: the lock is never
    /// contended, it only makes the reader `Sync`.
    consumer: parking_lot::Mutex<Option<BaseConsumer>>,
}

impl KafkaChangelogs {
    /// A reader of the brokers of `settings`; connects at the first restore.
    pub fn new(settings: KafkaSettings) -> Self {
        KafkaChangelogs {
            settings,
            consumer: parking_lot::Mutex::new(None),
        }
    }
}

impl ChangelogReader for KafkaChangelogs {
    fn restore(
        &self,
        db: &Database,
        sources: &[Source],
        label: &str,
        cancel: &AtomicBool,
    ) -> Result<Restored, StateError> {
        let Some(first) = sources.first() else {
            return Ok(Restored::default());
        };
        let mut consumer = self.consumer.lock();
        if consumer.is_none() {
            let mut config = self.settings.reader();
            // A restore ends with a fetch at the changelog's end, which the
            // broker holds for fetch.wait.max.ms (500 ms by default) waiting
            // for data; the next restore's first fetch queues behind it, so
            // every restore after the first paid half a second (12 tasks
            // opened one after another: 6 s). The reader only fetches while
            // it restores, so a short wait costs no idle traffic.
            config.set("fetch.wait.max.ms", "10");
            *consumer = Some(config.create().map_err(|e| StateError::Restore {
                topic: first.topic.clone(),
                partition: first.partition,
                message: e.to_string(),
            })?);
        }
        let reader = consumer.as_ref().expect("created above");
        let outcome = restore_with(reader, db, sources, label, cancel);
        // Nothing is fetched between restores; the next one assigns afresh.
        if reader.unassign().is_err() {
            *consumer = None;
        }
        outcome
    }
}

/// [`restore_with`] through a consumer of its own, for a one-off restore
/// (the global tables at startup).
pub fn restore(
    settings: &KafkaSettings,
    db: &Database,
    sources: &[Source],
    label: &str,
    cancel: &AtomicBool,
) -> Result<Restored, StateError> {
    let Some(first) = sources.first() else {
        return Ok(Restored::default());
    };
    let consumer: BaseConsumer = settings.reader().create().map_err(|e| StateError::Restore {
        topic: first.topic.clone(),
        partition: first.partition,
        message: e.to_string(),
    })?;
    restore_with(&consumer, db, sources, label, cancel)
}

/// Reads every source up to the high watermark it has when the restore
/// starts (or its `until`) through `consumer` (whose assignment it
/// replaces), writing its records (a null value deletes) into `db`. Logs
/// start, progress and end with records/s, tagged with `label`. Returns
/// early, with what it wrote, once `cancel` is set.
fn restore_with(
    consumer: &BaseConsumer,
    db: &Database,
    sources: &[Source],
    label: &str,
    cancel: &AtomicBool,
) -> Result<Restored, StateError> {
    let started = Instant::now();
    let failed = |s: &Source, message: String| StateError::Restore {
        topic: s.topic.clone(),
        partition: s.partition,
        message,
    };
    let mut restored = Restored::default();
    if sources.is_empty() {
        return Ok(restored);
    }
    let mut tpl = TopicPartitionList::new();
    let mut ends: HashMap<(String, i32), (i64, String)> = HashMap::new();
    let mut behind = 0;
    // Every store gets its series, at zero when it has nothing to restore.
    let mut per_family: HashMap<String, u64> = sources.iter().map(|s| (s.family.clone(), 0)).collect();
    for source in sources {
        let (low, high) = consumer
            .fetch_watermarks(&source.topic, source.partition, Duration::from_secs(30))
            .map_err(|e| failed(source, format!("reading watermarks: {e}")))?;
        // A checkpoint past the end means the topic was recreated: start over.
        let start = if source.from > high { low } else { source.from.max(low) };
        let high = source.until.map_or(high, |until| until.min(high));
        if start < high {
            behind += high - start;
            *per_family.entry(source.family.clone()).or_default() += (high - start) as u64;
            tpl.add_partition_offset(&source.topic, source.partition, Offset::Offset(start))
                .map_err(|e| failed(source, e.to_string()))?;
            ends.insert((source.topic.clone(), source.partition), (high, source.family.clone()));
        } else {
            restored
                .reached
                .insert((source.topic.clone(), source.partition), high.max(start));
        }
    }
    let mut progress = Progress::start(label, behind as u64, per_family);
    if ends.is_empty() {
        tracing::info!(task = label, "state is up to date; nothing to restore");
        progress.publish(0, true);
        return Ok(restored);
    }
    tracing::info!(
        task = label,
        "restoring {behind} records from {} partition(s)",
        ends.len()
    );
    consumer.assign(&tpl).map_err(|e| failed(&sources[0], e.to_string()))?;
    let mut last_progress = Instant::now();
    let mut last_report = Instant::now();
    let mut writes: Vec<Write> = Vec::with_capacity(1024);
    while !ends.is_empty() {
        if cancel.load(Ordering::Acquire) {
            db.write(&writes)?;
            for ((topic, partition), _) in &ends {
                // Written up to where the last record took it (or not at all).
                restored.reached.entry((topic.clone(), *partition)).or_insert_with(|| {
                    sources
                        .iter()
                        .find(|s| s.topic == *topic && s.partition == *partition)
                        .map_or(0, |s| s.from)
                });
            }
            restored.cancelled = true;
            restored.elapsed = started.elapsed();
            tracing::info!(
                task = label,
                "restore stopped after {} records: the task was revoked",
                restored.records
            );
            return Ok(restored);
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                // Nothing more to read, yet short of the end: under
                // transactions the last offsets can be a commit or abort
                // marker (or aborted records), which a read_committed
                // consumer skips without handing them over, moving its
                // position past them.
                if let Ok(positions) = consumer.position() {
                    for element in positions.elements() {
                        let key = (element.topic().to_string(), element.partition());
                        if let (Some((end, _)), Some(at)) = (ends.get(&key), element.offset().to_raw())
                            && at >= *end
                        {
                            restored.reached.insert(key.clone(), *end);
                            ends.remove(&key);
                            last_progress = Instant::now();
                        }
                    }
                }
            }
            Some(Err(e)) => tracing::warn!(task = label, "restore consumer: {e}"),
            Some(Ok(message)) => {
                let key = (message.topic().to_string(), message.partition());
                if let Some((end, family)) = ends.get(&key) {
                    if message.offset() < *end {
                        if let Some(k) = message.key() {
                            writes.push((family.clone(), k.to_vec(), message.payload().map(<[u8]>::to_vec)));
                        }
                        restored.records += 1;
                        progress.record(family);
                        last_progress = Instant::now();
                    }
                    // A record past the end (after a compacted gap) is not
                    // written: the database then holds exactly up to the end.
                    let next = (message.offset() + 1).min(*end);
                    restored.reached.insert(key.clone(), next);
                    if next >= *end {
                        ends.remove(&key);
                    }
                }
            }
        }
        if writes.len() >= 1000 || (ends.is_empty() && !writes.is_empty()) {
            db.write(&writes)?;
            writes.clear();
            progress.publish(restored.records, false);
            if last_report.elapsed() >= PROGRESS_EVERY {
                tracing::info!(
                    task = label,
                    "restoring: {} of {behind} records ({:.0} records/s)",
                    restored.records,
                    restored.records as f64 / started.elapsed().as_secs_f64().max(1e-6)
                );
                last_report = Instant::now();
            }
        }
        if last_progress.elapsed() > STALL {
            let ((topic, partition), _) = ends.iter().next().expect("a partition is still behind");
            return Err(StateError::Restore {
                topic: topic.clone(),
                partition: *partition,
                message: format!("no progress for {STALL:?}"),
            });
        }
    }
    db.flush()?;
    progress.publish(restored.records, true);
    restored.elapsed = started.elapsed();
    tracing::info!(
        task = label,
        "restored {} records in {:.2}s ({:.0} records/s)",
        restored.records,
        restored.elapsed.as_secs_f64(),
        restored.records as f64 / restored.elapsed.as_secs_f64().max(1e-6)
    );
    Ok(restored)
}

/// A restore's progress as the outside sees it: per store, restored-records
/// counters and remaining-records gauges; the task's line in `/status`;
/// and, when stderr is a terminal, a progress bar (Kafka Streams' restore
/// listener: start, batch, end).
struct Progress {
    task: String,
    total: u64,
    /// Per column family: records to restore, restored since the last
    /// publish, restored in all.
    stores: HashMap<String, (u64, u64, u64)>,
    bar: indicatif::ProgressBar,
}

impl Progress {
    fn start(task: &str, total: u64, families: HashMap<String, u64>) -> Self {
        use std::io::IsTerminal as _;
        let stores = families.into_iter().map(|(family, n)| (family, (n, 0, 0))).collect();
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix} restoring [{bar:30}] {pos}/{len} records, {per_sec}, eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(task.to_string());
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        crate::observe::telemetry().restore(task, total, 0, false);
        Progress {
            task: task.to_string(),
            total,
            stores,
            bar,
        }
    }

    fn record(&mut self, family: &str) {
        if let Some(counts) = self.stores.get_mut(family) {
            counts.1 += 1;
        }
    }

    /// Publishes what was restored since the last call.
    fn publish(&mut self, restored: u64, done: bool) {
        use crate::observe::metrics::{RESTORE_RECORDS, RESTORE_REMAINING};
        for (family, (total, fresh, sum)) in &mut self.stores {
            // `store.<name>` or `table.<topic>`: the store's (or table's) name.
            let store = family
                .split_once('.')
                .map_or(family.as_str(), |(_, name)| name)
                .to_string();
            let delta = std::mem::take(fresh);
            *sum += delta;
            let labels = [("task", self.task.clone()), ("store", store)];
            metrics::counter!(RESTORE_RECORDS, &labels).increment(delta);
            let remaining = if done { 0 } else { total.saturating_sub(*sum) };
            metrics::gauge!(RESTORE_REMAINING, &labels).set(remaining as f64);
        }
        crate::observe::telemetry().restore(&self.task, self.total, restored, done);
        self.bar.set_position(restored);
        if done {
            self.bar.finish_and_clear();
        }
    }
}
