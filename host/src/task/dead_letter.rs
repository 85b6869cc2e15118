//! Dead letters: an input record that could not be processed goes to the
//! processor's dead-letter topic unchanged (key, value, headers, timestamp)
//! with headers saying why, where it came from and which build failed.
//!
//! Two paths lead here: the task itself (the plugin refused the record,
//! trapped on it, emitted to an undeclared output, or the producer refused
//! an output at once), and the producer's delivery report, when the brokers
//! refuse an output of an already processed batch ([`RefusedOutputs`]).

use crate::kafka::producer::{BatchAck, OutgoingRecord, RecordSink, RefusalError, Refusals};
use crate::record::InputRecord;
use rdkafka::error::KafkaError;
use std::sync::{Arc, Weak};

/// Dead-letter header names. Every dead letter carries all of them, plus the
/// input record's own headers, key, value and timestamp.
pub mod headers {
    /// Why the record failed: the plugin's message, the trap, or the output
    /// the brokers refused and their reason.
    pub const ERROR: &str = "rill.error";
    /// `record-error`, `undeclared-output`, `trap`, `output-refused`,
    /// `topic-refused`, `topic-missing`, ... (see [`super::kind`]).
    pub const ERROR_KIND: &str = "rill.error.kind";
    /// The processor's manifest name.
    pub const PROCESSOR: &str = "rill.processor";
    /// Manifest version and component hash of the plugin that failed.
    pub const VERSION: &str = "rill.processor.version";
    /// The task id.
    pub const TASK: &str = "rill.task";
    /// The topic the task read the record from (for a processor fed in
    /// memory: the topic of the record that started the chain).
    pub const SOURCE_TOPIC: &str = "rill.source.topic";
    /// The source record's partition.
    pub const SOURCE_PARTITION: &str = "rill.source.partition";
    /// The source record's offset: where a replay starts.
    pub const SOURCE_OFFSET: &str = "rill.source.offset";
    /// Only when it differs from the source topic: the topic name the
    /// failing processor saw the record under (the output topic of the
    /// processor that fed it in memory, or the topic a repartition topic
    /// stands for).
    pub const INPUT_TOPIC: &str = "rill.input.topic";
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
    /// The plugin chose a topic its output may not write to: outside the
    /// output's `topic-pattern`, not a legal Kafka name, a topic on an
    /// output with a fixed one, or none on a `topic-pattern` output.
    pub const TOPIC_REFUSED: &str = "topic-refused";
    /// The plugin chose a topic its pattern allows but the brokers do not
    /// have, and the output does not say `create = true`.
    pub const TOPIC_MISSING: &str = "topic-missing";
    /// Every window the record fell in had closed (`late = "dead-letter"`).
    pub const LATE: &str = "late";
    /// The plugin's `aggregate` returned an error for the record's window.
    pub const AGGREGATE_ERROR: &str = "aggregate-error";
    /// The plugin's `emit` returned an error for a window result (the
    /// dead letter holds the window's key and aggregate).
    pub const EMIT_ERROR: &str = "emit-error";
    /// The plugin's `on-timer` returned an error (the dead letter stands
    /// for the firing: topic `timer:<name>`, the firing's time).
    pub const TIMER_ERROR: &str = "timer-error";
    /// The plugin's `join` returned an error for a join result (the dead
    /// letter is the record behind it: the one processed, or for an
    /// unmatched record closed by stream time, that record).
    pub const JOIN_ERROR: &str = "join-error";

    /// Every kind (the metrics register a series for each at zero).
    pub const ALL: [&str; 11] = [
        RECORD_ERROR,
        UNDECLARED_OUTPUT,
        TRAP,
        OUTPUT_REFUSED,
        TOPIC_REFUSED,
        TOPIC_MISSING,
        LATE,
        AGGREGATE_ERROR,
        EMIT_ERROR,
        TIMER_ERROR,
        JOIN_ERROR,
    ];
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
    /// Sends `record`, which a task read from `source` (its partition and
    /// offset are the source record's), to the dead-letter topic with
    /// `kind` and `message`, counted against `ack`.
    pub fn send(
        &self,
        sink: &dyn RecordSink,
        record: &InputRecord,
        source: &str,
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
            (headers::SOURCE_TOPIC, Some(source.as_bytes())),
            (headers::SOURCE_PARTITION, Some(partition.as_bytes())),
            (headers::SOURCE_OFFSET, Some(offset.as_bytes())),
        ]);
        if &*record.topic != source {
            headers.push((headers::INPUT_TOPIC, Some(record.topic.as_bytes())));
        }
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
                listener: None,
            },
            ack,
        )
    }
}

/// The message of an `output-refused` dead letter.
pub fn refused_message(output: &str, topic: &str, reason: &str) -> String {
    format!("output '{output}' to topic {topic} was refused: {reason}")
}

/// The inputs of one plugin call within a batch: which stage saw them,
/// and where each came from.
pub struct StageRun {
    /// Who the stage's dead letters come from.
    pub letters: DeadLetters,
    /// The stage's meters, which count a refusal's dead letter.
    pub meters: Arc<crate::observe::metrics::StageMeters>,
    /// The records the stage was called with are `records[start..start + len]`.
    pub records: Arc<Vec<InputRecord>>,
    /// First record of the run in `records`.
    pub start: usize,
    /// Records in the run.
    pub len: usize,
    /// The source topic of every record of `records`.
    pub sources: Arc<Vec<Arc<str>>>,
}

/// Dead-letters the input behind an output the brokers refused after the
/// batch was processed: keeps every stage's inputs of the batch until its
/// outputs are acknowledged. Installed on each batch's [`BatchAck`]; an
/// output carries its input's index, numbered across the batch's runs in
/// the order they were [registered](Self::register).
pub struct RefusedOutputs {
    runs: parking_lot::Mutex<(u32, Vec<(u32, StageRun)>)>,
    /// Where dead letters go (weak: the producer owns the ack's records).
    sink: Weak<dyn RecordSink>,
}

impl RefusedOutputs {
    /// No runs yet; dead letters go to `sink`.
    pub fn new(sink: Weak<dyn RecordSink>) -> Self {
        RefusedOutputs {
            runs: parking_lot::Mutex::new((0, Vec::new())),
            sink,
        }
    }

    /// Adds a run; its first record's index is returned (the next ones
    /// follow on).
    pub fn register(&self, run: StageRun) -> u32 {
        let mut runs = self.runs.lock();
        let base = runs.0;
        runs.0 = base.saturating_add(u32::try_from(run.len).unwrap_or(u32::MAX));
        runs.1.push((base, run));
        base
    }
}

impl Refusals for RefusedOutputs {
    fn refused(&self, input: u32, topic: &str, error: &KafkaError, ack: &Arc<BatchAck>) -> Result<(), RefusalError> {
        let runs = self.runs.lock();
        let (base, run) = runs
            .1
            .iter()
            .rev()
            .find(|(base, _)| *base <= input)
            .filter(|(base, run)| ((input - base) as usize) < run.len)
            .ok_or(RefusalError::UnknownInput { input })?;
        let at = run.start + (input - base) as usize;
        let record = &run.records[at];
        let sink = self.sink.upgrade().ok_or(RefusalError::ProducerGone)?;
        let message = format!("an output to topic {topic} was refused: {error}");
        tracing::warn!(
            task = &*run.letters.task,
            "{message}; dead-lettering the input {}/{}@{} of {}",
            run.sources[at],
            record.partition,
            record.offset,
            run.letters.processor
        );
        run.meters.dead_lettered(kind::OUTPUT_REFUSED);
        run.letters
            .send(&*sink, record, &run.sources[at], kind::OUTPUT_REFUSED, &message, ack)
            .map_err(|source| RefusalError::Send { source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::memory_sink::MemorySink;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn a_refused_output_of_an_input_no_run_holds_is_an_unknown_input() {
        let sink: Weak<dyn RecordSink> = Weak::<MemorySink>::new();
        let refusals = RefusedOutputs::new(sink);
        let refused = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert_eq!(
            refusals.refused(5, "out", &refused, &BatchAck::new()),
            Err(RefusalError::UnknownInput { input: 5 })
        );
    }
}
