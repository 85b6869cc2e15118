//! The data plane of one task: run the plugin over a batch, route each
//! result to its output topic or to the dead-letter topic, and record the
//! batch in the task's progress for committing.

use super::TaskId;
use super::dead_letter::{DeadLetters, RefusedOutputs, kind, refused_message};
use super::progress::{Positions, TaskProgress};
use super::spec::{ProcessorMetrics, ProcessorSpec};
use crate::kafka::producer::{BatchAck, OutgoingRecord, RecordSink, refuses_record};
use crate::manifest::OnTrap;
use crate::plugin::{InputRecord, PluginError, RecordProcessor, RecordResult};
use crate::state::StateError;
use crate::state::manager::StateManager;
use crate::state::store::TaskStore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use thiserror::Error;

pub use super::dead_letter::headers;

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
    /// Local storage failed inside a plugin's state call: the host's fault,
    /// so the task stops instead of dead-lettering the record.
    #[error("task {task}: {source}")]
    HostFault {
        /// The task.
        task: TaskId,
        /// What failed.
        source: crate::plugin::HostFault,
    },
    /// The producer refused a record for its topic or the cluster (not for
    /// the record itself): the task stops without committing past it.
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
    /// Who this task's dead letters come from (carries the running build).
    letters: DeadLetters,
    producer: Arc<dyn RecordSink>,
    progress: Arc<TaskProgress>,
    state: Option<StateManager>,
    /// Set after a trap under `on-trap = "pause-task"`: nothing more is
    /// processed or committed for this task.
    paused: bool,
    /// The spec generation the instance was built from.
    generation: u64,
    /// Tells a long replay to give up when the process is shutting down.
    shutdown: Arc<super::worker::Shutdown>,
    /// Set when a replay gave up for shutdown: the batch is not recorded.
    abandoned: bool,
}

impl StreamTask {
    /// Starts a plugin instance for `id` over its state, already opened and
    /// restored by the state updater (`None` for a stateless processor).
    pub fn start(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
        state: Option<StateManager>,
        shutdown: Arc<super::worker::Shutdown>,
    ) -> Result<Self, PluginError> {
        Self::assemble(id, spec, producer, progress, state, shutdown)
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
    ) -> Result<Self, PluginError> {
        let state = StateManager::from_store(store, dir, id.partition, &spec.changelogs, &spec.table_topics);
        Self::assemble(id, spec, producer, progress, Some(state), Arc::default())
    }

    fn assemble(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
        state: Option<StateManager>,
        shutdown: Arc<super::worker::Shutdown>,
    ) -> Result<Self, PluginError> {
        let tag = id.to_string();
        let generation = spec.generation();
        let factory = spec.factory();
        let processor = factory.instantiate(&tag, state.as_ref().map(StateManager::store))?;
        let version = factory.version();
        Ok(StreamTask {
            letters: DeadLetters {
                topic: spec.dead_letter.as_str().into(),
                processor: spec.name.clone(),
                version: version.as_str().into(),
                task: tag.as_str().into(),
            },
            version,
            id,
            tag,
            spec,
            processor,
            producer,
            progress,
            state,
            paused: false,
            generation,
            shutdown,
            abandoned: false,
        })
    }

    /// Writes the task's checkpoint after its outputs and changelog records
    /// are acknowledged, so a clean restart restores nothing.
    pub fn close(self) -> Result<(), TaskError> {
        let Some(state) = &self.state else { return Ok(()) };
        if let Err(e) = self.producer.flush(Duration::from_secs(60)) {
            tracing::warn!(task = %self.id, "flushing before checkpoint: {e}");
            return Ok(());
        }
        state.checkpoint().map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })
    }

    /// Stops the task after `error`: nothing more is processed or
    /// committed until a restart (nothing is lost: the restart reprocesses
    /// from the last commit).
    pub fn halt(&mut self, error: &TaskError) {
        self.paused = true;
        self.progress.fail(error.to_string());
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
        // The batch's inputs stay alive until its outputs are acknowledged,
        // so an output the brokers refuse later can dead-letter its input.
        let records = Arc::new(records);
        let ack = BatchAck::with_refusals(Box::new(RefusedOutputs {
            letters: self.letters.clone(),
            records: records.clone(),
            sink: Arc::downgrade(&self.producer),
            spec: spec.clone(),
        }));

        let mut at = 0;
        while at < records.len() {
            let stream_run = records[at..].iter().take_while(|r| !self.is_table(&r.topic)).count();
            if stream_run == 0 {
                self.apply_table(&records[at])?;
                at += 1;
                continue;
            }
            self.process_streams(&records, at..at + stream_run, &ack)?;
            if std::mem::take(&mut self.abandoned) {
                ack.seal();
                return Ok(());
            }
            if self.paused {
                // Nothing of this batch counts as processed; its offsets
                // are never committed.
                ack.seal();
                return Ok(());
            }
            at += stream_run;
        }
        ack.seal();
        ProcessorMetrics::add(&metrics.records_in, records.len() as u64);
        self.progress.push(positions, ack);
        Ok(())
    }

    fn is_table(&self, topic: &str) -> bool {
        self.state.as_ref().is_some_and(|s| s.is_table(topic))
    }

    /// A table record: the latest value per key; a null value deletes it.
    fn apply_table(&mut self, record: &InputRecord) -> Result<(), TaskError> {
        let Some(state) = &mut self.state else { return Ok(()) };
        state.apply_table(record).map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })
    }

    /// Runs the plugin over `batch[run]` (stream records only) and routes
    /// the results; indices into `batch` travel with the outputs.
    fn process_streams(
        &mut self,
        batch: &[InputRecord],
        run: std::ops::Range<usize>,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        let spec = self.spec.clone();
        let metrics = &spec.metrics;
        let records = &batch[run.clone()];
        let started = Instant::now();
        let outcome = self.processor.process(records);
        ProcessorMetrics::add(&metrics.plugin_nanos, started.elapsed().as_nanos() as u64);
        let routed = Instant::now();
        match outcome {
            Ok(results) => {
                self.persist_writes(ack)?;
                for ((index, record), result) in run.clone().zip(records).zip(results) {
                    self.route(record, index, result, ack)?;
                }
            }
            Err(trap) => {
                self.discard_writes();
                if let Some(fault) = trap.downcast_ref::<crate::plugin::HostFault>() {
                    return Err(TaskError::HostFault {
                        task: self.id.clone(),
                        source: fault.clone(),
                    });
                }
                ProcessorMetrics::add(&metrics.traps, 1);
                match spec.manifest().limits.on_trap {
                    OnTrap::Continue => self.replay_after_trap(batch, run, trap, ack)?,
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
    /// changelog partition, counted in the batch's ack (their delivery
    /// reports move the changelog's checkpoint position).
    fn persist_writes(&mut self, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let Some(state) = &mut self.state else { return Ok(()) };
        let records = state.take_writes().map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })?;
        for record in &records {
            let state = self.state.as_ref().expect("checked above");
            self.send(
                OutgoingRecord {
                    topic: &record.topic,
                    partition: Some(self.id.partition),
                    key: Some(&record.key),
                    value: record.value.as_deref(),
                    headers: Vec::new(),
                    timestamp: 0,
                    input: None,
                    offsets: Some(state.changelog_end(&record.topic)),
                },
                ack,
            )?;
        }
        Ok(())
    }

    fn discard_writes(&mut self) {
        if let Some(state) = &mut self.state {
            state.discard_writes();
        }
    }

    /// After a trap nothing of the batch has been produced. A fresh instance
    /// replays it one record at a time, so every record before the poison
    /// one is emitted exactly once and each record that traps on its own
    /// goes to the dead-letter topic.
    fn replay_after_trap(
        &mut self,
        batch: &[InputRecord],
        run: std::ops::Range<usize>,
        trap: anyhow::Error,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        tracing::warn!(task = %self.id, "plugin trapped ({trap:#}); restarting the instance and replaying the batch record by record");
        self.restart()?;
        for index in run {
            if self.shutdown.abandon() {
                // Shutting down: the rest of the batch is left for a
                // restart (the batch is never committed).
                tracing::warn!(task = %self.id, "shutting down: abandoning the replay of a trapped batch");
                self.abandoned = true;
                return Ok(());
            }
            let record = &batch[index];
            match self.processor.process(std::slice::from_ref(record)) {
                Ok(mut results) => {
                    self.persist_writes(ack)?;
                    self.route(record, index, results.remove(0), ack)?
                }
                Err(trap) => {
                    self.discard_writes();
                    if let Some(fault) = trap.downcast_ref::<crate::plugin::HostFault>() {
                        return Err(TaskError::HostFault {
                            task: self.id.clone(),
                            source: fault.clone(),
                        });
                    }
                    ProcessorMetrics::add(&self.spec.metrics.traps, 1);
                    self.dead_letter(record, kind::TRAP, &format!("{trap:#}"), ack)?;
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
        match factory.instantiate(&self.tag, self.state.as_ref().map(StateManager::store)) {
            Ok(processor) => {
                tracing::info!(
                    task = %self.id,
                    "switched from {} to {} in {:.2} ms",
                    self.version,
                    factory.version(),
                    started.elapsed().as_secs_f64() * 1e3
                );
                self.processor = processor;
                self.set_version(factory.version());
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
            .instantiate(&self.tag, self.state.as_ref().map(StateManager::store))
            .map_err(|source| TaskError::Restart {
                task: self.id.clone(),
                source,
            })?;
        self.set_version(factory.version());
        Ok(())
    }

    fn set_version(&mut self, version: String) {
        self.letters.version = version.as_str().into();
        self.version = version;
    }

    /// Sends one record's outputs (`index` is its place in the batch), or
    /// dead-letters it. An output the producer refuses for what it is (too
    /// large, bad timestamp) dead-letters the record; one refused for its
    /// topic or the cluster stops the task.
    fn route(
        &self,
        record: &InputRecord,
        index: usize,
        result: RecordResult,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        let metrics = &self.spec.metrics;
        let outputs = match result {
            Err(message) => return self.dead_letter(record, kind::RECORD_ERROR, &message, ack),
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
            return self.dead_letter(record, kind::UNDECLARED_OUTPUT, &message, ack);
        }
        let mut sent = 0;
        for output in &outputs {
            let topic = &self.spec.outputs[&output.output];
            let outgoing = OutgoingRecord {
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
                input: u32::try_from(index).ok(),
                offsets: None,
            };
            match self.producer.send(outgoing, ack) {
                Ok(()) => sent += 1,
                Err(error) if error.rdkafka_error_code().is_some_and(refuses_record) => {
                    let message = refused_message(&output.output, topic, &error.to_string());
                    tracing::warn!(task = %self.id, "{message}; dead-lettering the input {}/{}@{}", record.topic, record.partition, record.offset);
                    self.dead_letter(record, kind::OUTPUT_REFUSED, &message, ack)?;
                }
                Err(source) => {
                    return Err(TaskError::Produce {
                        task: self.id.clone(),
                        topic: topic.clone(),
                        source,
                    });
                }
            }
        }
        ProcessorMetrics::add(&metrics.records_out, sent);
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
        self.letters
            .send(&*self.producer, record, kind, message, ack)
            .map_err(|source| TaskError::Produce {
                task: self.id.clone(),
                topic: self.spec.dead_letter.clone(),
                source,
            })
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

/// Opens task `id`'s database and restores what its checkpoint lacks:
/// tables up to the group's committed offsets in `committed_tables`,
/// changelogs to their end. Runs on the state updater; stops early when
/// `cancel` is set (the task was revoked meanwhile).
pub fn open_state(
    id: &TaskId,
    spec: &ProcessorSpec,
    config: &super::spec::StateConfig,
    committed_tables: &HashMap<String, i64>,
    cancel: &AtomicBool,
) -> Result<StateManager, StateError> {
    let tag = id.to_string();
    let mut state = StateManager::open(
        config.root.join(&tag),
        id.partition,
        &spec.changelogs,
        &spec.table_topics,
        config.global.clone(),
    )?;
    let restored = state.restore(&config.kafka, committed_tables, &tag, cancel)?;
    ProcessorMetrics::add(&spec.metrics.restored, restored.records);
    ProcessorMetrics::add(&spec.metrics.restore_nanos, restored.elapsed.as_nanos() as u64);
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::producer::MemorySink;
    use crate::manifest::Manifest;
    use crate::plugin::{OutputRecord, ProcessorFactory, SharedTaskStore};

    /// Emits each input's value three times over to output `out`.
    struct Echo;

    impl RecordProcessor for Echo {
        fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
            Ok(batch
                .iter()
                .map(|r| {
                    Ok(vec![OutputRecord {
                        output: "out".into(),
                        key: r.key.clone(),
                        value: r.value.as_ref().map(|v| v.repeat(3)),
                        headers: Vec::new(),
                        timestamp: None,
                    }])
                })
                .collect())
        }
    }

    impl ProcessorFactory for Echo {
        fn version(&self) -> String {
            "echo".into()
        }
        fn instantiate(&self, _: &str, _: Option<SharedTaskStore>) -> Result<Box<dyn RecordProcessor>, PluginError> {
            Ok(Box::new(Echo))
        }
    }

    #[test]
    fn an_output_refused_in_its_delivery_report_dead_letters_exactly_its_input() {
        let text = "manifest-version = 1\nname = \"echo\"\nversion = \"0.1.0\"\ncomponent = \"echo.wasm\"\n\
                    dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"in\"\n[outputs]\nout = \"out\"\n";
        let manifest = Manifest::parse(std::path::Path::new("echo.toml"), text).unwrap();
        let spec = Arc::new(ProcessorSpec::new(&manifest, Arc::new(Echo), None));
        // The brokers take 8 bytes: "bbbb" becomes a 12-byte output, refused.
        let sink = Arc::new(MemorySink::refusing_over(8));
        let progress = Arc::new(TaskProgress::default());
        let id = TaskId {
            processor: "echo".into(),
            partition: 0,
        };
        let mut task = StreamTask::start(id, spec, sink.clone(), progress.clone(), None, Arc::default()).unwrap();
        let records = ["a", "bbbb", "cc"]
            .iter()
            .enumerate()
            .map(|(offset, value)| InputRecord {
                topic: "in".into(),
                partition: 0,
                offset: offset as i64,
                timestamp: 1000,
                key: None,
                value: Some(value.as_bytes().to_vec()),
                headers: Vec::new(),
            })
            .collect();
        task.process_batch(records).unwrap();

        let sent = sink.records();
        let values = |topic: &str| -> Vec<Vec<u8>> {
            sent.iter()
                .filter(|r| r.topic == topic)
                .filter_map(|r| r.value.clone())
                .collect()
        };
        assert_eq!(values("out"), [b"aaa".to_vec(), b"cccccc".to_vec()]);
        assert_eq!(values("dlq"), [b"bbbb".to_vec()], "the refused output's own input");
        let letter = sent.iter().find(|r| r.topic == "dlq").unwrap();
        let header = |name: &str| {
            letter
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.clone())
        };
        assert_eq!(header(headers::ERROR_KIND).as_deref(), Some(&b"output-refused"[..]));
        assert_eq!(header(headers::SOURCE_OFFSET).as_deref(), Some(&b"1"[..]));
        // The batch completes once the dead letter is acknowledged: all of it commits.
        assert_eq!(progress.take_committable().unwrap()[&Arc::<str>::from("in")], 3);
    }
}
