//! Running one case on the real host without a broker: the application's
//! plugins compiled once, then per case a fresh [`TaskManager`] (workers,
//! tasks, partition groups, batching, RocksDB in a temp dir) over a
//! [`MemorySink`], fed run by run, with changelogs (and table topics)
//! restored from memory, global tables in a store of their own, and a
//! [`ManualClock`] for wall-clock time.

use super::spec::{Action, Feed};
use crate::app::Connection;
use crate::kafka::member::{CommitError, Offset, OffsetCommitter, TopicPartition, Watermarks};
use crate::kafka::memory_sink::{MemorySink, SentRecord};
use crate::manifest::Manifest;
use crate::record::{Header, InputRecord};
use crate::runtime::ProcessorDef;
use crate::state::StateError;
use crate::state::restore::{ChangelogReader, Restored, Source};
use crate::state::store::{Database, GlobalStore, TaskStore, Write};
use crate::state::{store_cf, table_cf};
use crate::task::clock::{Clock, ManualClock};
use crate::task::manager::{FeedOptions, TaskManager};
use crate::task::spec::{ProcessorSpec, StateConfig, TaskSpec};
use crate::topology::Topology;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Why a case could not run to its end (not a mismatch: those are diffs).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Worker threads could not start.
    #[error("starting worker threads: {0}")]
    Workers(#[from] std::io::Error),
    /// A task stopped on a failure.
    #[error("a task failed: {0}")]
    Task(String),
    /// The state directory or a store could not be used.
    #[error("state: {0}")]
    State(StateError),
    /// The tasks did not finish within the time limit.
    #[error("the tasks did not finish within {0:?} (still {1})")]
    Timeout(Duration, &'static str),
}

/// How long a case's tasks may take to process one run of records.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Restores from the changelog records the sink collected and the table
/// records fed: the offset of a record is its index among the records of
/// its topic partition.
struct MemoryChangelogs {
    sink: Arc<MemorySink>,
    /// Every record fed to a table topic, in feeding order (a table is
    /// restored from its own topic, as in Kafka Streams).
    fed: Arc<Mutex<Vec<SentRecord>>>,
}

impl ChangelogReader for MemoryChangelogs {
    fn restore(&self, db: &Database, sources: &[Source], _: &str, _: &AtomicBool) -> Result<Restored, StateError> {
        let started = Instant::now();
        let mut sent = self.sink.records();
        sent.extend(self.fed.lock().iter().cloned());
        let mut restored = Restored::default();
        let mut writes: Vec<Write> = Vec::new();
        for source in sources {
            let records: Vec<&SentRecord> = sent
                .iter()
                .filter(|r| r.topic == source.topic && r.partition == Some(source.partition))
                .collect();
            let end = source
                .until
                .map_or(records.len() as i64, |u| u.min(records.len() as i64));
            let from = source.from.max(0);
            for record in records.iter().take(end.max(0) as usize).skip(from as usize) {
                if let Some(key) = &record.key {
                    writes.push((source.family.clone(), key.clone(), record.value.clone()));
                }
                restored.records += 1;
            }
            restored
                .reached
                .insert((source.topic.clone(), source.partition), end.max(from));
        }
        db.write(&writes)?;
        db.flush()?;
        restored.elapsed = started.elapsed();
        Ok(restored)
    }
}

/// Offsets are not kept anywhere: each case starts from nothing.
struct Nowhere {
    /// One past the last record fed, per partition: the "broker's" end.
    ends: Mutex<HashMap<TopicPartition, i64>>,
}

impl OffsetCommitter for Nowhere {
    fn commit(&self, _: &[Offset]) -> Result<(), CommitError> {
        Ok(())
    }
}

impl Watermarks for Nowhere {
    fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        Some(
            self.ends
                .lock()
                .get(&TopicPartition::new(topic, partition))
                .copied()
                .unwrap_or(0),
        )
    }

    fn low(&self, _: &str, _: i32) -> Option<i64> {
        Some(0)
    }
}

/// What a case left behind: every record the tasks sent (changelogs
/// included) in sending order, and the contents of every declared store.
#[derive(Debug, Default)]
pub struct Observed {
    /// Records sent, in order.
    pub records: Vec<SentRecord>,
    /// Store entries after the case: (processor, store) → (partition,
    /// key, value) in key order per partition.
    pub stores: BTreeMap<(String, String), Vec<(i32, Vec<u8>, Vec<u8>)>>,
}

/// The application under test, loaded and compiled once for all cases.
pub struct Application {
    /// Its processors' manifests.
    pub manifests: Vec<Arc<Manifest>>,
    /// In-memory connections between them (an app file).
    pub connections: Vec<Connection>,
    /// The processors with their compiled plugins.
    pub processors: Vec<ProcessorDef>,
    /// The application id (changelog topic prefix).
    pub application_id: String,
}

impl Application {
    /// The plan `rill run` would make of it.
    pub fn topology(&self) -> Topology {
        Topology::build(&self.application_id, &self.manifests, &self.connections)
    }

    /// Topics it reads as input (streams and tables), global tables not
    /// included.
    pub fn partitioned_topics(&self) -> Vec<String> {
        let topics: BTreeSet<String> = self
            .topology()
            .subtopologies
            .iter()
            .flat_map(|s| s.sources.iter().map(|s| s.topic.clone()))
            .collect();
        topics.into_iter().collect()
    }

    /// Its global tables' topics.
    pub fn global_topics(&self) -> Vec<String> {
        let topics: BTreeSet<String> = self
            .manifests
            .iter()
            .flat_map(|m| m.global_topics().map(str::to_string))
            .collect();
        topics.into_iter().collect()
    }

    /// Every topic a spec may feed: streams, tables and global tables.
    pub fn input_topics(&self) -> Vec<String> {
        let mut topics = self.partitioned_topics();
        topics.extend(self.global_topics());
        topics.sort();
        topics
    }

    /// Runs `actions` on fresh tasks with their state under `state_dir`,
    /// each processor covered by `interceptors[i]` (in processor order,
    /// loaded for this run); returns every record the tasks sent and what
    /// their stores hold at the end.
    pub fn run(
        &self,
        actions: &[Action],
        state_dir: &Path,
        interceptors: &[Vec<Arc<crate::intercept::InterceptorSpec>>],
    ) -> Result<Observed, DriverError> {
        let sink = Arc::new(MemorySink::default());
        let fed: Arc<Mutex<Vec<SentRecord>>> = Arc::default();
        let root = state_dir.join(&self.application_id);
        let globals = self.global_topics();
        // Global tables live outside the tasks' state: a restart wipes the
        // tasks' local state, and the host would bootstrap the same table
        // again from its topic.
        let global = if globals.is_empty() {
            None
        } else {
            Some(Arc::new(
                GlobalStore::open(&state_dir.join("global"), &globals).map_err(DriverError::State)?,
            ))
        };
        let state = Arc::new(StateConfig {
            root: root.clone(),
            application_id: self.application_id.clone(),
            changelogs: Arc::new(MemoryChangelogs {
                sink: sink.clone(),
                fed: fed.clone(),
            }),
            global: global.clone(),
            exactly_once: false,
        });
        let specs: Vec<Arc<ProcessorSpec>> = self
            .processors
            .iter()
            .zip(interceptors.iter().chain(std::iter::repeat(&Vec::new())))
            .map(|(p, interceptors)| {
                Arc::new(
                    ProcessorSpec::new(&p.manifest, p.factory.clone(), Some(state.clone()))
                        .with_interceptors(interceptors.clone()),
                )
            })
            .collect();
        let subtopologies: Vec<Arc<TaskSpec>> = self
            .topology()
            .subtopologies
            .iter()
            .map(|sub| Arc::new(TaskSpec::of_subtopology(sub, &specs)))
            .collect();
        // Every input topic gets as many partitions as the case uses
        // (co-partitioned, as `rill run` requires of a task's inputs).
        let partitions = actions
            .iter()
            .filter_map(|a| match a {
                Action::Record(feed) if !globals.contains(&feed.topic) => Some(feed.partition + 1),
                Action::Rebalance(Some(p)) | Action::StreamTime(_, Some(p)) => Some(p + 1),
                _ => None,
            })
            .max()
            .unwrap_or(1);
        let assignment: Vec<TopicPartition> = self
            .partitioned_topics()
            .iter()
            .flat_map(|t| (0..partitions).map(move |p| TopicPartition::new(t.as_str(), p)))
            .collect();
        let marks = Nowhere { ends: Mutex::default() };
        let shutdown = Arc::new(AtomicBool::new(false));
        let clock = Arc::new(ManualClock::new(0));
        let start = |marks: &Nowhere| -> Result<TaskManager, DriverError> {
            let mut manager = TaskManager::with_clock(
                &subtopologies,
                2,
                sink.clone(),
                FeedOptions::default(),
                shutdown.clone(),
                clock.clone(),
            )?;
            let committed: HashMap<TopicPartition, i64> = marks.ends.lock().clone();
            manager.handle_assignment(&assignment, &committed);
            settle(&mut manager, marks, "restoring")?;
            // The host's workers tick from the start: wall-clock schedules
            // begin at the time the tasks start.
            manager.tick();
            settle(&mut manager, marks, "ticking")?;
            Ok(manager)
        };
        // Global-table records before the first task starts are the
        // bootstrap; later ones are applied between runs, as the host's
        // follower thread applies them.
        let bootstrap = actions
            .iter()
            .take_while(|a| matches!(a, Action::Record(f) if globals.contains(&f.topic)))
            .count();
        for action in &actions[..bootstrap] {
            if let (Action::Record(feed), Some(global)) = (action, &global) {
                write_global(global, feed)?;
            }
        }
        let internal = Internal {
            sink: sink.clone(),
            seen: std::cell::Cell::new(0),
            topics: self
                .topology()
                .subtopologies
                .iter()
                .flat_map(|s| &s.sources)
                .filter(|s| matches!(s.kind, "subscription" | "response"))
                .map(|s| s.topic.clone())
                .collect(),
            partitions,
        };
        let mut manager = start(&marks)?;
        internal.feed(&mut manager, &marks, &fed, &[])?;
        let mut run: Vec<&Feed> = Vec::new();
        for action in &actions[bootstrap..] {
            if let Action::Record(feed) = action {
                if let Some(global) = global.as_ref().filter(|_| globals.contains(&feed.topic)) {
                    internal.feed(&mut manager, &marks, &fed, &run)?;
                    run.clear();
                    write_global(global, feed)?;
                    continue;
                }
                if run.last().is_some_and(|last| last.partition != feed.partition) {
                    internal.feed(&mut manager, &marks, &fed, &run)?;
                    run.clear();
                }
                run.push(feed);
                continue;
            }
            internal.feed(&mut manager, &marks, &fed, &run)?;
            run.clear();
            match action {
                Action::Record(_) => unreachable!("handled above"),
                Action::Restart => {
                    close(manager, &marks)?;
                    // The local state is lost; the changelogs are not.
                    let _ = std::fs::remove_dir_all(&root);
                    manager = start(&marks)?;
                }
                Action::Rebalance(partition) => {
                    let moved: Vec<TopicPartition> = assignment
                        .iter()
                        .filter(|tp| partition.is_none_or(|p| p == tp.partition))
                        .cloned()
                        .collect();
                    manager.handle_revocation(&moved, &marks);
                    failed(&manager)?;
                    let committed: HashMap<TopicPartition, i64> = marks.ends.lock().clone();
                    manager.handle_assignment(&moved, &committed);
                    settle(&mut manager, &marks, "restoring after a rebalance")?;
                }
                Action::StreamTime(to, partition) => {
                    manager.advance_stream_time(*to, *partition);
                    settle(&mut manager, &marks, "advancing stream time")?;
                    internal.feed(&mut manager, &marks, &fed, &[])?;
                }
                Action::WallClockTo(to) => {
                    clock.set(*to);
                    manager.tick();
                    settle(&mut manager, &marks, "advancing the wall clock")?;
                    internal.feed(&mut manager, &marks, &fed, &[])?;
                }
                Action::WallClockBy(by) => {
                    clock.set(clock.wall_ms().saturating_add(*by));
                    manager.tick();
                    settle(&mut manager, &marks, "advancing the wall clock")?;
                    internal.feed(&mut manager, &marks, &fed, &[])?;
                }
            }
        }
        internal.feed(&mut manager, &marks, &fed, &run)?;
        close(manager, &marks)?;
        Ok(Observed {
            records: sink.records(),
            stores: self.read_stores(&root, partitions)?,
        })
    }

    /// What every declared (key-value) store of every processor holds,
    /// read from each task's RocksDB after the tasks closed.
    fn read_stores(
        &self,
        root: &Path,
        partitions: i32,
    ) -> Result<BTreeMap<(String, String), Vec<(i32, Vec<u8>, Vec<u8>)>>, DriverError> {
        let mut stores = BTreeMap::new();
        for m in &self.manifests {
            if m.stores.is_empty() {
                continue;
            }
            let all: Vec<String> = m.all_stores().map(str::to_string).collect();
            let tables: Vec<String> = m.table_topics().map(str::to_string).collect();
            for partition in 0..partitions {
                let tag = crate::task::TaskId {
                    processor: m.name.as_str().into(),
                    partition,
                }
                .to_string();
                let dir = root.join(tag);
                if !dir.exists() {
                    continue;
                }
                let store = TaskStore::open(&dir, &all, &tables, None).map_err(DriverError::State)?;
                for name in &m.stores {
                    let entries = store
                        .db
                        .range(&store_cf(name), None, None, usize::MAX)
                        .map_err(DriverError::State)?;
                    let kept: &mut Vec<(i32, Vec<u8>, Vec<u8>)> =
                        stores.entry((m.name.clone(), name.clone())).or_default();
                    kept.extend(entries.into_iter().map(|(k, v)| (partition, k, v)));
                }
            }
        }
        Ok(stores)
    }
}

/// Writes one global-table record into the global store (a null value
/// deletes its key; a keyless record is skipped, as the host skips it).
fn write_global(global: &GlobalStore, feed: &Feed) -> Result<(), DriverError> {
    let Some(key) = &feed.key else { return Ok(()) };
    global
        .db
        .write(&[(table_cf(&feed.topic), key.clone(), feed.value.clone())])
        .map_err(DriverError::State)
}

/// A task that failed (e.g. while closing for a rebalance) fails the case.
fn failed(manager: &TaskManager) -> Result<(), DriverError> {
    if let Some((_, failure)) = manager.failed_worker() {
        return Err(DriverError::Task(failure.to_string()));
    }
    match manager.failures().first() {
        Some(failure) => Err(DriverError::Task(failure.to_string())),
        None => Ok(()),
    }
}

/// The topics the tasks write and read back themselves (a foreign-key
/// join's subscriptions and answers), delivered as brokers would.
struct Internal {
    sink: Arc<MemorySink>,
    /// How many of the sink's records were looked at.
    seen: std::cell::Cell<usize>,
    topics: Vec<String>,
    partitions: i32,
}

impl Internal {
    /// Feeds `run`, then what the tasks sent to internal topics, until
    /// they send no more.
    fn feed(
        &self,
        manager: &mut TaskManager,
        marks: &Nowhere,
        fed: &Mutex<Vec<SentRecord>>,
        run: &[&Feed],
    ) -> Result<(), DriverError> {
        feed_run(manager, marks, fed, run)?;
        if self.topics.is_empty() {
            return Ok(());
        }
        loop {
            let sent = self.sink.records();
            let next: Vec<Feed> = sent[self.seen.get().min(sent.len())..]
                .iter()
                .filter(|r| self.topics.contains(&r.topic))
                .map(|r| Feed {
                    topic: r.topic.clone(),
                    partition: r.partition.unwrap_or_else(|| {
                        crate::state::queries::partition_for(r.key.as_deref().unwrap_or_default(), self.partitions)
                    }),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    timestamp: r.timestamp,
                    headers: Vec::new(),
                    line: 0,
                })
                .collect();
            self.seen.set(sent.len());
            if next.is_empty() {
                return Ok(());
            }
            // One run per partition number, in sending order.
            let mut run: Vec<&Feed> = Vec::new();
            for feed in &next {
                if run.last().is_some_and(|last| last.partition != feed.partition) {
                    feed_run(manager, marks, fed, &run)?;
                    run.clear();
                }
                run.push(feed);
            }
            feed_run(manager, marks, fed, &run)?;
        }
    }
}

/// Feeds one run of records (one partition number, spec order) and waits
/// until the tasks have processed them and every output is acknowledged.
fn feed_run(
    manager: &mut TaskManager,
    marks: &Nowhere,
    fed: &Mutex<Vec<SentRecord>>,
    run: &[&Feed],
) -> Result<(), DriverError> {
    if run.is_empty() {
        return Ok(());
    }
    let mut per_partition: Vec<(TopicPartition, Vec<InputRecord>)> = Vec::new();
    for feed in run {
        let tp = TopicPartition::new(feed.topic.as_str(), feed.partition);
        let offset = {
            let mut ends = marks.ends.lock();
            let end = ends.entry(tp.clone()).or_insert(0);
            *end += 1;
            *end - 1
        };
        fed.lock().push(SentRecord {
            topic: feed.topic.clone(),
            partition: Some(feed.partition),
            key: feed.key.clone(),
            value: feed.value.clone(),
            headers: Vec::new(),
            timestamp: feed.timestamp,
        });
        let record = InputRecord {
            topic: feed.topic.as_str().into(),
            partition: feed.partition,
            offset,
            timestamp: feed.timestamp,
            key: feed.key.clone().map(Into::into),
            value: feed.value.clone().map(Into::into),
            headers: feed
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.clone(),
                    value: Some(v.clone()),
                })
                .collect(),
        };
        match per_partition.iter_mut().find(|(t, _)| *t == tp) {
            Some((_, records)) => records.push(record),
            None => per_partition.push((tp, vec![record])),
        }
    }
    for (tp, records) in per_partition {
        manager.buffer(&tp.topic, tp.partition, records);
    }
    settle(manager, marks, "processing")
}

/// Dispatches and commits until nothing is restoring, buffered, queued or
/// in flight.
fn settle(manager: &mut TaskManager, marks: &Nowhere, what: &'static str) -> Result<(), DriverError> {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        manager.poll_restores();
        manager.dispatch_ready(marks);
        manager.commit(marks);
        if let Some((_, failure)) = manager.failed_worker() {
            return Err(DriverError::Task(failure.to_string()));
        }
        if !manager.is_restoring() && manager.is_idle() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DriverError::Timeout(RUN_LIMIT, what));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Closes every task (checkpointing its state) and reports a failed one.
fn close(mut manager: TaskManager, marks: &Nowhere) -> Result<(), DriverError> {
    manager.close_all(marks);
    match manager.failures().first() {
        Some(failure) => Err(DriverError::Task(failure.to_string())),
        None => Ok(()),
    }
}
