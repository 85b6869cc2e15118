//! Running one case on the real host without a broker: the application's
//! plugins compiled once, then per case a fresh [`TaskManager`] (workers,
//! tasks, partition groups, batching, RocksDB in a temp dir) over a
//! [`MemorySink`], fed run by run, with changelogs restored from memory.

use super::spec::{Action, Feed};
use crate::app::Connection;
use crate::kafka::member::{CommitError, Offset, OffsetCommitter, TopicPartition, Watermarks};
use crate::kafka::memory_sink::{MemorySink, SentRecord};
use crate::manifest::Manifest;
use crate::record::{Header, InputRecord};
use crate::runtime::ProcessorDef;
use crate::state::StateError;
use crate::state::restore::{ChangelogReader, Restored, Source};
use crate::state::store::{Database, Write};
use crate::task::manager::{FeedOptions, TaskManager};
use crate::task::spec::{ProcessorSpec, StateConfig, TaskSpec};
use crate::topology::Topology;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
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
    /// The tasks did not finish within the time limit.
    #[error("the tasks did not finish within {0:?} (still {1})")]
    Timeout(Duration, &'static str),
}

/// How long a case's tasks may take to process one run of records.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Restores from the changelog records the sink collected: the offset of
/// a record is its index among the records sent to its partition.
struct MemoryChangelogs(Arc<MemorySink>);

impl ChangelogReader for MemoryChangelogs {
    fn restore(&self, db: &Database, sources: &[Source], _: &str, _: &AtomicBool) -> Result<Restored, StateError> {
        let started = Instant::now();
        let sent = self.0.records();
        let mut restored = Restored::default();
        let mut writes: Vec<Write> = Vec::new();
        for source in sources {
            let records: Vec<&SentRecord> = sent
                .iter()
                .filter(|r| r.topic == source.topic && r.partition == Some(source.partition))
                .collect();
            let end = source.until.map_or(records.len() as i64, |u| u.min(records.len() as i64));
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
        Some(self.ends.lock().get(&TopicPartition::new(topic, partition)).copied().unwrap_or(0))
    }

    fn low(&self, _: &str, _: i32) -> Option<i64> {
        Some(0)
    }
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

    /// Topics it reads as input (streams and tables).
    pub fn input_topics(&self) -> Vec<String> {
        let topics: BTreeSet<String> = self
            .topology()
            .subtopologies
            .iter()
            .flat_map(|s| s.sources.iter().map(|s| s.topic.clone()))
            .collect();
        topics.into_iter().collect()
    }

    /// Runs `actions` on fresh tasks with their state under `state_dir`;
    /// returns every record the tasks sent (changelogs included), in the
    /// order they were sent.
    pub fn run(&self, actions: &[Action], state_dir: &Path) -> Result<Vec<SentRecord>, DriverError> {
        let sink = Arc::new(MemorySink::default());
        let root = state_dir.join(&self.application_id);
        let state = Arc::new(StateConfig {
            root: root.clone(),
            application_id: self.application_id.clone(),
            changelogs: Arc::new(MemoryChangelogs(sink.clone())),
            global: None,
            exactly_once: false,
        });
        let specs: Vec<Arc<ProcessorSpec>> = self
            .processors
            .iter()
            .map(|p| Arc::new(ProcessorSpec::new(&p.manifest, p.factory.clone(), Some(state.clone()))))
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
                Action::Record(feed) => Some(feed.partition + 1),
                Action::Restart => None,
            })
            .max()
            .unwrap_or(1);
        let assignment: Vec<TopicPartition> = self
            .input_topics()
            .iter()
            .flat_map(|t| (0..partitions).map(move |p| TopicPartition::new(t.as_str(), p)))
            .collect();
        let marks = Nowhere { ends: Mutex::default() };
        let shutdown = Arc::new(AtomicBool::new(false));
        let start = |marks: &Nowhere| -> Result<TaskManager, DriverError> {
            let mut manager = TaskManager::new(
                &subtopologies,
                2,
                sink.clone(),
                FeedOptions::default(),
                shutdown.clone(),
            )?;
            let committed: HashMap<TopicPartition, i64> = marks.ends.lock().clone();
            manager.handle_assignment(&assignment, &committed);
            settle(&mut manager, marks, "restoring")?;
            Ok(manager)
        };
        let mut manager = start(&marks)?;
        let mut run: Vec<&Feed> = Vec::new();
        for action in actions {
            match action {
                Action::Record(feed) => {
                    if run.last().is_some_and(|last| last.partition != feed.partition) {
                        feed_run(&mut manager, &marks, &run)?;
                        run.clear();
                    }
                    run.push(feed);
                }
                Action::Restart => {
                    feed_run(&mut manager, &marks, &run)?;
                    run.clear();
                    close(manager, &marks)?;
                    // The local state is lost; the changelogs are not.
                    let _ = std::fs::remove_dir_all(&root);
                    manager = start(&marks)?;
                }
            }
        }
        feed_run(&mut manager, &marks, &run)?;
        close(manager, &marks)?;
        Ok(sink.records())
    }
}

/// Feeds one run of records (one partition number, spec order) and waits
/// until the tasks have processed them and every output is acknowledged.
fn feed_run(manager: &mut TaskManager, marks: &Nowhere, run: &[&Feed]) -> Result<(), DriverError> {
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
        let record = InputRecord {
            topic: feed.topic.clone(),
            partition: feed.partition,
            offset,
            timestamp: feed.timestamp,
            key: feed.key.clone(),
            value: feed.value.clone(),
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
