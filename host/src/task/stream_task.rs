//! The data plane of one task: run the plugin over a batch, route each
//! result to its output topic or to the dead-letter topic, and record the
//! batch in the task's progress for committing.

use super::progress::{Positions, TaskProgress};
use super::spec::{ProcessorMetrics, ProcessorSpec};
use super::TaskId;
use crate::kafka::producer::{BatchAck, OutgoingRecord, OutputProducer};
use crate::plugin::{InputRecord, PluginError, RecordProcessor, RecordResult};
use std::sync::Arc;
use std::time::Instant;
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
    producer: OutputProducer,
    progress: Arc<TaskProgress>,
}

impl StreamTask {
    /// Starts a plugin instance for `id`.
    pub fn start(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: OutputProducer,
        progress: Arc<TaskProgress>,
    ) -> Result<Self, PluginError> {
        let tag = id.to_string();
        let factory = spec.factory();
        let processor = factory.instantiate(&tag)?;
        Ok(StreamTask { version: factory.version(), id, tag, spec, processor, producer, progress })
    }

    /// The task's id.
    pub fn id(&self) -> &TaskId {
        &self.id
    }

    /// Processes `records` (in offset order) and queues their outputs.
    pub fn process_batch(&mut self, records: Vec<InputRecord>) -> Result<(), TaskError> {
        let Some(last) = records.last() else { return Ok(()) };
        let mut positions: Positions = Vec::with_capacity(1);
        positions.push((last.topic.as_str().into(), last.offset + 1));
        let spec = self.spec.clone();
        let metrics = &spec.metrics;
        let ack = BatchAck::new();

        let started = Instant::now();
        let outcome = self.processor.process(&records);
        ProcessorMetrics::add(&metrics.plugin_nanos, started.elapsed().as_nanos() as u64);
        let routed = Instant::now();
        match outcome {
            Ok(results) => {
                for (record, result) in records.iter().zip(results) {
                    self.route(record, result, &ack)?;
                }
            }
            Err(trap) => self.replay_after_trap(&records, trap, &ack)?,
        }
        ack.seal();
        ProcessorMetrics::add(&metrics.produce_nanos, routed.elapsed().as_nanos() as u64);
        ProcessorMetrics::add(&metrics.records_in, records.len() as u64);
        ProcessorMetrics::add(&metrics.batches, 1);
        self.progress.push(positions, ack);
        Ok(())
    }

    /// After a trap nothing of the batch has been produced. A fresh instance
    /// replays it one record at a time, so every record before the poison
    /// one is emitted exactly once and each record that traps on its own
    /// goes to the dead-letter topic.
    fn replay_after_trap(&mut self, records: &[InputRecord], trap: anyhow::Error, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        tracing::warn!(task = %self.id, "plugin trapped ({trap:#}); restarting the instance and replaying the batch record by record");
        ProcessorMetrics::add(&self.spec.metrics.traps, 1);
        self.restart()?;
        for record in records {
            match self.processor.process(std::slice::from_ref(record)) {
                Ok(mut results) => self.route(record, results.remove(0), ack)?,
                Err(trap) => {
                    ProcessorMetrics::add(&self.spec.metrics.traps, 1);
                    self.dead_letter(record, "trap", &format!("{trap:?}"), ack)?;
                    self.restart()?;
                }
            }
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<(), TaskError> {
        let factory = self.spec.factory();
        self.processor = factory
            .instantiate(&self.tag)
            .map_err(|source| TaskError::Restart { task: self.id.clone(), source })?;
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
                    key: output.key.as_deref(),
                    value: output.value.as_deref(),
                    headers: output.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())).collect(),
                    timestamp: output.timestamp.unwrap_or(record.timestamp),
                },
                ack,
            )?;
        }
        ProcessorMetrics::add(&metrics.records_out, outputs.len() as u64);
        Ok(())
    }

    fn dead_letter(&self, record: &InputRecord, kind: &str, message: &str, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        ProcessorMetrics::add(&self.spec.metrics.dead_lettered, 1);
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut headers: Vec<(&str, Option<&[u8]>)> =
            record.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())).collect();
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
