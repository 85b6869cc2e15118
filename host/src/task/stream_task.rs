//! The data plane of one task: run the plugin over a batch, route each
//! result to its output topic or to the dead-letter topic, and record the
//! batch in the task's progress for committing.

use super::TaskId;
use super::progress::{Positions, TaskProgress};
use super::spec::{ProcessorMetrics, ProcessorSpec};
use crate::kafka::producer::{BatchAck, OutgoingRecord, RecordSink};
use crate::manifest::OnTrap;
use crate::plugin::{InputRecord, PluginError, RecordProcessor, RecordResult, SharedTaskStore};
use crate::state::checkpoint::{Checkpoint, Offsets};
use crate::state::restore::{Source, restore};
use crate::state::store::{TaskStore, Write};
use crate::state::{StateError, store_cf, table_cf};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Dead-letter header names. Every dead letter carries all of them, plus the
/// input record's own headers, key, value and timestamp.
pub mod headers {
    /// Why the record failed: the plugin's message or the trap.
    pub const ERROR: &str = "rill.error";
    /// `record-error`, `undeclared-output` or `trap`.
    pub const ERROR_KIND: &str = "rill.error.kind";
    /// The processor's manifest name.
    pub const PROCESSOR: &str = "rill.processor";
    /// Manifest version and component hash of the plugin that failed.
    pub const VERSION: &str = "rill.processor.version";
    /// The task id.
    pub const TASK: &str = "rill.task";
    /// Where the record came from.
    pub const SOURCE_TOPIC: &str = "rill.source.topic";
    /// Where the record came from.
    pub const SOURCE_PARTITION: &str = "rill.source.partition";
    /// Where the record came from.
    pub const SOURCE_OFFSET: &str = "rill.source.offset";
}

/// A failure that stops the task (not a record failure).
#[derive(Debug, Error)]
pub enum TaskError {
    /// The plugin trapped and a fresh instance could not be started.
    #[error("task {task}: the plugin trapped and could not be restarted: {source}")]
    Restart {
        /// The task.
        task: TaskId,
        /// Why the new instance failed.
        source: PluginError,
    },
    /// The plugin trapped and the manifest says `on-trap = "fail"`.
    #[error("task {task}: the plugin trapped and limits.on-trap is \"fail\": {message}")]
    Trapped {
        /// The task.
        task: TaskId,
        /// The trap.
        message: String,
    },
    /// Local state failed (RocksDB, checkpoint, restore).
    #[error("task {task}: {source}")]
    State {
        /// The task.
        task: TaskId,
        /// What failed.
        source: StateError,
    },
    /// The producer refused a record outright (not a delivery failure).
    #[error("task {task}: cannot produce to {topic}: {source}")]
    Produce {
        /// The task.
        task: TaskId,
        /// Destination topic.
        topic: String,
        /// The client error.
        source: rdkafka::error::KafkaError,
    },
}

/// One running task.
pub struct StreamTask {
    id: TaskId,
    tag: String,
    spec: Arc<ProcessorSpec>,
    processor: Box<dyn RecordProcessor>,
    version: String,
    producer: Arc<dyn RecordSink>,
    progress: Arc<TaskProgress>,
    state: Option<TaskState>,
    /// Set after a trap under `on-trap = "pause-task"`: nothing more is
    /// processed or committed for this task.
    paused: bool,
    /// The spec generation the instance was built from.
    generation: u64,
}

/// A stateful task's store and what it knows about its source offsets.
struct TaskState {
    store: SharedTaskStore,
    dir: PathBuf,
    /// Next offset to apply per table topic; older records (already in the
    /// store from the restore) are skipped when the consumer replays them.
    tables: HashMap<String, i64>,
}

/// Why a task could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The plugin instance could not be created.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// Its state could not be opened or restored.
    #[error(transparent)]
    State(#[from] StateError),
}

impl StreamTask {
    /// Opens and restores the task's state (if the processor has any), then
    /// starts a plugin instance for `id`.
    pub fn start(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
    ) -> Result<Self, StartError> {
        let tag = id.to_string();
        let state = match &spec.state {
            Some(config) => Some(open_state(&id, &tag, &spec, config)?),
            None => None,
        };
        Self::assemble(id, spec, producer, progress, state)
    }

    /// A task over an already open store, without restoring: for driving a
    /// task directly (tests, tools). Table positions start at 0.
    pub fn with_store(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
        store: TaskStore,
        dir: PathBuf,
    ) -> Result<Self, StartError> {
        let tables = spec.table_topics.iter().map(|t| (t.clone(), 0)).collect();
        let state = TaskState {
            store: Arc::new(Mutex::new(store)),
            dir,
            tables,
        };
        Self::assemble(id, spec, producer, progress, Some(state))
    }

    fn assemble(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
        state: Option<TaskState>,
    ) -> Result<Self, StartError> {
        let tag = id.to_string();
        let generation = spec.generation();
        let factory = spec.factory();
        let processor = factory.instantiate(&tag, state.as_ref().map(|s| s.store.clone()))?;
        Ok(StreamTask {
            version: factory.version(),
            id,
            tag,
            spec,
            processor,
            producer,
            progress,
            state,
            paused: false,
            generation,
        })
    }

    /// Writes the task's checkpoint after its outputs and changelog records
    /// are acknowledged, so a clean restart restores nothing.
    pub fn close(self) -> Result<(), TaskError> {
        let Some(state) = &self.state else { return Ok(()) };
        let fail = |source: StateError| TaskError::State {
            task: self.id.clone(),
            source,
        };
        if let Err(e) = self.producer.flush(Duration::from_secs(60)) {
            tracing::warn!(task = %self.id, "flushing before checkpoint: {e}");
            return Ok(());
        }
        let mut offsets: Offsets = state
            .tables
            .iter()
            .map(|(t, o)| ((t.clone(), self.id.partition), *o))
            .collect();
        if let Some(config) = &self.spec.state {
            let consumer: rdkafka::consumer::BaseConsumer = config.kafka.admin().create().map_err(|e| {
                fail(StateError::Restore {
                    topic: "changelog".into(),
                    partition: self.id.partition,
                    message: e.to_string(),
                })
            })?;
            for (_, changelog) in &self.spec.changelogs {
                let (_, high) = rdkafka::consumer::Consumer::fetch_watermarks(
                    &consumer,
                    changelog,
                    self.id.partition,
                    Duration::from_secs(30),
                )
                .map_err(|e| {
                    fail(StateError::Restore {
                        topic: changelog.clone(),
                        partition: self.id.partition,
                        message: e.to_string(),
                    })
                })?;
                offsets.insert((changelog.clone(), self.id.partition), high);
            }
        }
        let store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        store.db.flush().map_err(fail)?;
        Checkpoint::in_dir(&state.dir).write(&offsets).map_err(fail)?;
        Ok(())
    }

    /// Where the task records what it processed.
    pub fn progress(&self) -> &TaskProgress {
        &self.progress
    }

    /// Processes `records` (in timestamp order across the task's inputs,
    /// offset order within each) and queues their outputs. Table records
    /// update the task's table store in place; runs of stream records go to
    /// the plugin in one call.
    pub fn process_batch(&mut self, records: Vec<InputRecord>) -> Result<(), TaskError> {
        if records.is_empty() || self.paused {
            return Ok(());
        }
        if self.generation != self.spec.generation() {
            self.switch_version();
        }
        let mut ends: Vec<(Arc<str>, i64)> = Vec::with_capacity(2);
        for record in &records {
            match ends.iter_mut().find(|(t, _)| **t == *record.topic) {
                Some((_, end)) => *end = (*end).max(record.offset + 1),
                None => ends.push((record.topic.as_str().into(), record.offset + 1)),
            }
        }
        let positions: Positions = ends;
        let spec = self.spec.clone();
        let metrics = &spec.metrics;
        let ack = BatchAck::new();

        let mut rest = &records[..];
        while !rest.is_empty() {
            let stream_run = rest.iter().take_while(|r| !self.is_table(&r.topic)).count();
            if stream_run == 0 {
                self.apply_table(&rest[0])?;
                rest = &rest[1..];
                continue;
            }
            let (run, after) = rest.split_at(stream_run);
            self.process_streams(run, &ack)?;
            if self.paused {
                // Nothing of this batch counts as processed; its offsets
                // are never committed.
                ack.seal();
                return Ok(());
            }
            rest = after;
        }
        ack.seal();
        ProcessorMetrics::add(&metrics.records_in, records.len() as u64);
        self.progress.push(positions, ack);
        Ok(())
    }

    fn is_table(&self, topic: &str) -> bool {
        self.state.as_ref().is_some_and(|s| s.tables.contains_key(topic))
    }

    /// A table record: the latest value per key; a null value deletes it.
    fn apply_table(&mut self, record: &InputRecord) -> Result<(), TaskError> {
        let Some(state) = &mut self.state else { return Ok(()) };
        let next = state
            .tables
            .get_mut(record.topic.as_str())
            .expect("table topic of this task");
        if record.offset < *next {
            return Ok(());
        }
        *next = record.offset + 1;
        let Some(key) = &record.key else { return Ok(()) };
        let write: Write = (table_cf(&record.topic), key.clone(), record.value.clone());
        let store = state.store.lock().unwrap_or_else(|e| e.into_inner());
        store.db.write(&[write]).map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })
    }

    fn process_streams(&mut self, records: &[InputRecord], ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let spec = self.spec.clone();
        let metrics = &spec.metrics;
        let started = Instant::now();
        let outcome = self.processor.process(records);
        ProcessorMetrics::add(&metrics.plugin_nanos, started.elapsed().as_nanos() as u64);
        let routed = Instant::now();
        match outcome {
            Ok(results) => {
                self.persist_writes(ack)?;
                for (record, result) in records.iter().zip(results) {
                    self.route(record, result, ack)?;
                }
            }
            Err(trap) => {
                self.discard_writes();
                ProcessorMetrics::add(&metrics.traps, 1);
                match spec.manifest().limits.on_trap {
                    OnTrap::Continue => self.replay_after_trap(records, trap, ack)?,
                    OnTrap::Fail => {
                        return Err(TaskError::Trapped {
                            task: self.id.clone(),
                            message: format!("{trap:#}"),
                        });
                    }
                    OnTrap::PauseTask => {
                        tracing::error!(task = %self.id, "plugin trapped; pausing the task (limits.on-trap = \"pause-task\"), its offsets stay uncommitted: {trap:#}");
                        self.paused = true;
                        self.progress.pause();
                    }
                }
            }
        }
        ProcessorMetrics::add(&metrics.produce_nanos, routed.elapsed().as_nanos() as u64);
        Ok(())
    }

    /// Makes the plugin's writes of the last call durable: one RocksDB
    /// write batch, and one changelog record per write on the task's
    /// changelog partition, counted in the batch's ack.
    fn persist_writes(&mut self, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let Some(state) = &self.state else { return Ok(()) };
        let writes = state.store.lock().unwrap_or_else(|e| e.into_inner()).take_writes();
        if writes.is_empty() {
            return Ok(());
        }
        let local: Vec<Write> = writes
            .iter()
            .map(|(s, k, v)| (store_cf(s), k.clone(), v.clone()))
            .collect();
        state
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .db
            .write(&local)
            .map_err(|source| TaskError::State {
                task: self.id.clone(),
                source,
            })?;
        for (store, key, value) in &writes {
            let changelog = self
                .spec
                .changelogs
                .iter()
                .find(|(s, _)| s == store)
                .map(|(_, t)| t.as_str())
                .expect("declared store");
            self.send(
                OutgoingRecord {
                    topic: changelog,
                    partition: Some(self.id.partition),
                    key: Some(key),
                    value: value.as_deref(),
                    headers: Vec::new(),
                    timestamp: 0,
                },
                ack,
            )?;
        }
        Ok(())
    }

    fn discard_writes(&mut self) {
        if let Some(state) = &self.state {
            state.store.lock().unwrap_or_else(|e| e.into_inner()).discard_writes();
        }
    }

    /// After a trap nothing of the batch has been produced. A fresh instance
    /// replays it one record at a time, so every record before the poison
    /// one is emitted exactly once and each record that traps on its own
    /// goes to the dead-letter topic.
    fn replay_after_trap(
        &mut self,
        records: &[InputRecord],
        trap: anyhow::Error,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        tracing::warn!(task = %self.id, "plugin trapped ({trap:#}); restarting the instance and replaying the batch record by record");
        self.restart()?;
        for record in records {
            match self.processor.process(std::slice::from_ref(record)) {
                Ok(mut results) => {
                    self.persist_writes(ack)?;
                    self.route(record, results.remove(0), ack)?
                }
                Err(trap) => {
                    self.discard_writes();
                    ProcessorMetrics::add(&self.spec.metrics.traps, 1);
                    self.dead_letter(record, "trap", &format!("{trap:#}"), ack)?;
                    self.restart()?;
                }
            }
        }
        Ok(())
    }

    /// A hot swap happened: from this batch on, the new build processes the
    /// task's records, with the same state. If the new build cannot start
    /// here the old instance keeps running.
    fn switch_version(&mut self) {
        let generation = self.spec.generation();
        let factory = self.spec.factory();
        let started = Instant::now();
        match factory.instantiate(&self.tag, self.state.as_ref().map(|s| s.store.clone())) {
            Ok(processor) => {
                tracing::info!(
                    task = %self.id,
                    "switched from {} to {} in {:.2} ms",
                    self.version,
                    factory.version(),
                    started.elapsed().as_secs_f64() * 1e3
                );
                self.processor = processor;
                self.version = factory.version();
            }
            Err(error) => {
                tracing::error!(task = %self.id, "cannot switch to {}; keeping {}: {error}", factory.version(), self.version)
            }
        }
        self.generation = generation;
    }

    fn restart(&mut self) -> Result<(), TaskError> {
        let factory = self.spec.factory();
        self.processor = factory
            .instantiate(&self.tag, self.state.as_ref().map(|s| s.store.clone()))
            .map_err(|source| TaskError::Restart {
                task: self.id.clone(),
                source,
            })?;
        self.version = factory.version();
        Ok(())
    }

    fn route(&self, record: &InputRecord, result: RecordResult, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let metrics = &self.spec.metrics;
        let outputs = match result {
            Err(message) => return self.dead_letter(record, "record-error", &message, ack),
            Ok(outputs) => outputs,
        };
        if outputs.is_empty() {
            ProcessorMetrics::add(&metrics.dropped, 1);
            return Ok(());
        }
        if let Some(undeclared) = outputs.iter().find(|o| !self.spec.outputs.contains_key(&o.output)) {
            let mut declared: Vec<&str> = self.spec.outputs.keys().map(String::as_str).collect();
            declared.sort_unstable();
            let message = format!(
                "emitted to output '{}', which the manifest does not declare (declared: {})",
                undeclared.output,
                declared.join(", ")
            );
            return self.dead_letter(record, "undeclared-output", &message, ack);
        }
        for output in &outputs {
            let topic = &self.spec.outputs[&output.output];
            self.send(
                OutgoingRecord {
                    topic,
                    partition: None,
                    key: output.key.as_deref(),
                    value: output.value.as_deref(),
                    headers: output
                        .headers
                        .iter()
                        .map(|h| (h.key.as_str(), h.value.as_deref()))
                        .collect(),
                    timestamp: output.timestamp.unwrap_or(record.timestamp),
                },
                ack,
            )?;
        }
        ProcessorMetrics::add(&metrics.records_out, outputs.len() as u64);
        Ok(())
    }

    fn dead_letter(
        &self,
        record: &InputRecord,
        kind: &str,
        message: &str,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        ProcessorMetrics::add(&self.spec.metrics.dead_lettered, 1);
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut headers: Vec<(&str, Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|h| (h.key.as_str(), h.value.as_deref()))
            .collect();
        headers.extend([
            (headers::ERROR, Some(message.as_bytes())),
            (headers::ERROR_KIND, Some(kind.as_bytes())),
            (headers::PROCESSOR, Some(self.spec.name.as_bytes())),
            (headers::VERSION, Some(self.version.as_bytes())),
            (headers::TASK, Some(self.tag.as_bytes())),
            (headers::SOURCE_TOPIC, Some(record.topic.as_bytes())),
            (headers::SOURCE_PARTITION, Some(partition.as_bytes())),
            (headers::SOURCE_OFFSET, Some(offset.as_bytes())),
        ]);
        self.send(
            OutgoingRecord {
                topic: &self.spec.dead_letter,
                partition: None,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers,
                timestamp: record.timestamp,
            },
            ack,
        )
    }

    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let topic = record.topic;
        self.producer.send(record, ack).map_err(|source| TaskError::Produce {
            task: self.id.clone(),
            topic: topic.to_string(),
            source,
        })
    }
}

/// Opens the task's database and restores what the checkpoint says is
/// missing: tables from their source topics, stores from their changelogs.
fn open_state(
    id: &TaskId,
    tag: &str,
    spec: &ProcessorSpec,
    config: &super::spec::StateConfig,
) -> Result<TaskState, StateError> {
    let dir = config.root.join(tag);
    let stores: Vec<String> = spec.changelogs.iter().map(|(s, _)| s.clone()).collect();
    let store = TaskStore::open(&dir, &stores, &spec.table_topics, config.global.clone())?;
    let done = Checkpoint::in_dir(&dir).read()?;
    let from = |topic: &str| done.get(&(topic.to_string(), id.partition)).copied().unwrap_or(0);
    let sources: Vec<Source> = spec
        .table_topics
        .iter()
        .map(|t| Source {
            topic: t.clone(),
            partition: id.partition,
            family: table_cf(t),
            from: from(t),
        })
        .chain(spec.changelogs.iter().map(|(s, t)| Source {
            topic: t.clone(),
            partition: id.partition,
            family: store_cf(s),
            from: from(t),
        }))
        .collect();
    let restored = restore(&config.kafka, &store.db, &sources, tag)?;
    ProcessorMetrics::add(&spec.metrics.restored, restored.records);
    ProcessorMetrics::add(&spec.metrics.restore_nanos, restored.elapsed.as_nanos() as u64);
    let tables = spec
        .table_topics
        .iter()
        .map(|t| {
            (
                t.clone(),
                restored.reached.get(&(t.clone(), id.partition)).copied().unwrap_or(0),
            )
        })
        .collect();
    Ok(TaskState {
        store: Arc::new(Mutex::new(store)),
        dir,
        tables,
    })
}
