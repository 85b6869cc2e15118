//! Dead letters: an input record that could not be processed goes to the
//! processor's dead-letter topic unchanged (key, value, headers, timestamp)
//! with headers saying why, where it came from and which build failed.
//!
//! Two paths lead here: the task itself (the plugin refused the record,
//! trapped on it, emitted to an undeclared output, or the producer refused
//! an output at once), and the producer's delivery report, when the brokers
//! refuse an output of an already processed batch ([`RefusedOutputs`]).

use crate::kafka::producer::{BatchAck, OutgoingRecord, RecordSink, Refusals};
use crate::plugin::InputRecord;
use rdkafka::error::KafkaError;
use std::sync::{Arc, Weak};

/// Dead-letter header names. Every dead letter carries all of them, plus the
/// input record's own headers, key, value and timestamp.
pub mod headers {
    /// Why the record failed: the plugin's message, the trap, or the output
    /// the brokers refused and their reason.
    pub const ERROR: &str = "rill.error";
    /// `record-error`, `undeclared-output`, `trap` or `output-refused`.
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

/// Kinds of failure, the value of [`headers::ERROR_KIND`].
pub mod kind {
    /// The plugin returned an error for the record.
    pub const RECORD_ERROR: &str = "record-error";
    /// The plugin emitted to an output the manifest does not declare.
    pub const UNDECLARED_OUTPUT: &str = "undeclared-output";
    /// The plugin trapped on the record (alone, on replay).
    pub const TRAP: &str = "trap";
    /// The client or the brokers refused an output of the record (too
    /// large, invalid timestamp, invalid record).
    pub const OUTPUT_REFUSED: &str = "output-refused";
}

/// Who dead letters come from: the topic, processor, build and task.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    /// The dead-letter topic.
    pub topic: Arc<str>,
    /// The processor's manifest name.
    pub processor: Arc<str>,
    /// The running build (`version+hash`).
    pub version: Arc<str>,
    /// The task id.
    pub task: Arc<str>,
}

impl DeadLetters {
    /// Sends `record` to the dead-letter topic with `kind` and `message`,
    /// counted against `ack`.
    pub fn send(
        &self,
        sink: &dyn RecordSink,
        record: &InputRecord,
        kind: &str,
        message: &str,
        ack: &Arc<BatchAck>,
    ) -> Result<(), KafkaError> {
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
            (headers::PROCESSOR, Some(self.processor.as_bytes())),
            (headers::VERSION, Some(self.version.as_bytes())),
            (headers::TASK, Some(self.task.as_bytes())),
            (headers::SOURCE_TOPIC, Some(record.topic.as_bytes())),
            (headers::SOURCE_PARTITION, Some(partition.as_bytes())),
            (headers::SOURCE_OFFSET, Some(offset.as_bytes())),
        ]);
        sink.send(
            OutgoingRecord {
                topic: &self.topic,
                partition: None,
                key: record.key.as_deref(),
                value: record.value.as_deref(),
                headers,
                timestamp: record.timestamp,
                input: None,
                offsets: None,
            },
            ack,
        )
    }
}

/// The message of an `output-refused` dead letter.
pub fn refused_message(output: &str, topic: &str, reason: &str) -> String {
    format!("output '{output}' to topic {topic} was refused: {reason}")
}

/// Dead-letters the input behind an output the brokers refused after the
/// batch was processed: keeps the batch's input records until its outputs
/// are acknowledged. Installed on each batch's [`BatchAck`].
pub struct RefusedOutputs {
    /// Who the dead letters come from.
    pub letters: DeadLetters,
    /// The batch's input records; outputs carry an index into it.
    pub records: Arc<Vec<InputRecord>>,
    /// Where dead letters go (weak: the producer owns the ack's records).
    pub sink: Weak<dyn RecordSink>,
    /// The processor, whose dead-letter counter this adds to.
    pub spec: Arc<super::spec::ProcessorSpec>,
}

impl Refusals for RefusedOutputs {
    fn refused(&self, input: u32, topic: &str, reason: &str, ack: &Arc<BatchAck>) -> Result<(), String> {
        let record = self
            .records
            .get(input as usize)
            .ok_or_else(|| format!("refused output of unknown input {input}"))?;
        let sink = self.sink.upgrade().ok_or("the producer is gone")?;
        let message = format!("an output to topic {topic} was refused: {reason}");
        tracing::warn!(
            task = &*self.letters.task,
            "{message}; dead-lettering the input {}/{}@{}",
            record.topic,
            record.partition,
            record.offset
        );
        super::spec::ProcessorMetrics::add(&self.spec.metrics.dead_lettered, 1);
        self.letters
            .send(&*sink, record, kind::OUTPUT_REFUSED, &message, ack)
            .map_err(|e| format!("dead-lettering a refused output: {e}"))
    }
}
