//! Kafka clients for a person at a terminal, behind `rill produce` and
//! `rill consume`: trying a processor by hand needs no other tool.
//!
//! [`ConsoleProducer`] sends records and waits for every delivery, and
//! names the first record (by the caller's line number) that failed.
//! [`ConsoleReader`] reads partitions it assigns itself (it joins no group
//! and commits nothing, so it disturbs no application) from the beginning
//! or the end, and unless it follows, stops at the end offsets it saw when
//! it started, so reading a topic nobody writes to terminates.
//!
//! Only the Kafka side is here; the line formats live with the commands in
//! `cli/`, as plain functions tested without a broker.

use super::KafkaSettings;
use super::consumer::to_input_record;
use crate::record::{Header, InputRecord};
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KafkaHeader, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::Duration;
use thiserror::Error;

/// How long a metadata or offset request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a record could not be produced or a topic not be read.
#[derive(Debug, Error)]
pub enum ConsoleError {
    /// librdkafka refused the client's configuration (a bad `-X`).
    #[error("cannot create a Kafka client for {brokers}: {source}\n  fix: check the -X properties")]
    Client {
        /// The bootstrap servers.
        brokers: String,
        /// librdkafka's answer.
        source: KafkaError,
    },
    /// The cluster did not answer a metadata or offset request.
    #[error(
        "cannot read the metadata of topic {topic} from {brokers}: {source}\n  fix: check --brokers and that the cluster is up"
    )]
    Metadata {
        /// The topic.
        topic: String,
        /// The bootstrap servers.
        brokers: String,
        /// librdkafka's answer.
        source: KafkaError,
    },
    /// The topic is not in the cluster's metadata.
    #[error(
        "topic {topic} does not exist on {brokers}\n  fix: create it first (on the dev broker: rill dev-broker --topic {topic}:PARTITIONS)"
    )]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// The bootstrap servers.
        brokers: String,
    },
    /// `--partition` names a partition the topic does not have.
    #[error("topic {topic} has no partition {partition}: it has partitions 0 to {}", partitions - 1)]
    NoPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: i32,
    },
    /// The client refused the record before queueing it (e.g. too large).
    #[error("line {line} was refused: {source}")]
    Refused {
        /// The caller's number for the record: `rill produce`'s input line.
        line: usize,
        /// librdkafka's answer.
        source: KafkaError,
    },
    /// The cluster did not acknowledge the record.
    #[error("line {line} was not delivered: {source}")]
    Delivery {
        /// The caller's number for the record: `rill produce`'s input line.
        line: usize,
        /// librdkafka's answer.
        source: KafkaError,
    },
    /// Waiting for the deliveries failed.
    #[error("waiting for deliveries: {0}")]
    Flush(KafkaError),
}

/// One record to produce, as the command line describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceRecord {
    /// `None` is Kafka's null key (the partitioner then spreads records).
    pub key: Option<Vec<u8>>,
    /// `None` is Kafka's null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Milliseconds since the Unix epoch; `None`: the time it is sent.
    pub timestamp: Option<i64>,
    /// `None`: the partitioner decides (murmur2 of the key, as rill does).
    pub partition: Option<i32>,
}

/// Remembers the earliest failed delivery; the delivery opaque is the line.
struct Deliveries {
    /// The failed record with the smallest line number, and why.
    failed: Mutex<Option<(usize, KafkaError)>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, line: usize) {
        if let Err((error, _)) = result {
            let mut failed = self.failed.lock();
            if failed.as_ref().is_none_or(|(first, _)| line < *first) {
                *failed = Some((line, error.clone()));
            }
        }
    }
}

/// `rill produce`'s producer: sends records to one topic and reports the
/// first that was not delivered.
pub struct ConsoleProducer {
    inner: ThreadedProducer<Deliveries>,
    topic: String,
    /// Records queued so far (all delivered once [`Self::finish`] is Ok).
    sent: usize,
}

impl ConsoleProducer {
    /// A producer for `topic` with [`KafkaSettings::console_producer`]'s
    /// settings.
    pub fn new(settings: &KafkaSettings, topic: &str) -> Result<Self, ConsoleError> {
        let inner = settings
            .console_producer()
            .create_with_context(Deliveries {
                failed: Mutex::new(None),
            })
            .map_err(|source| ConsoleError::Client {
                brokers: settings.brokers.clone(),
                source,
            })?;
        Ok(ConsoleProducer {
            inner,
            topic: topic.to_string(),
            sent: 0,
        })
    }

    /// Queues `record`, known to the caller as `line`. Fails with the
    /// earliest delivery failure so far, so a producer stops reading its
    /// input soon after the cluster refuses a record.
    pub fn send(&mut self, record: &ProduceRecord, line: usize) -> Result<(), ConsoleError> {
        self.failure()?;
        let mut base = BaseRecord::<[u8], [u8], usize>::with_opaque_to(&self.topic, line);
        if !record.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for header in &record.headers {
                headers = headers.insert(KafkaHeader {
                    key: &header.key,
                    value: header.value.as_deref(),
                });
            }
            base = base.headers(headers);
        }
        if let Some(key) = &record.key {
            base = base.key(key);
        }
        if let Some(value) = &record.value {
            base = base.payload(value);
        }
        if let Some(timestamp) = record.timestamp {
            base = base.timestamp(timestamp);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        super::send_waiting(&self.inner, base).map_err(|(source, _)| ConsoleError::Refused { line, source })?;
        self.sent += 1;
        Ok(())
    }

    /// Waits for every delivery; how many records were produced, or the
    /// earliest that was not.
    pub fn finish(self) -> Result<usize, ConsoleError> {
        self.inner.flush(Timeout::Never).map_err(ConsoleError::Flush)?;
        self.failure()?;
        Ok(self.sent)
    }

    fn failure(&self) -> Result<(), ConsoleError> {
        match self.inner.context().failed.lock().take() {
            Some((line, source)) => Err(ConsoleError::Delivery { line, source }),
            None => Ok(()),
        }
    }
}

/// Where [`ConsoleReader`] starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest record the cluster still has.
    Beginning,
    /// After the newest record: only records written from now on.
    End,
}

/// What one [`ConsoleReader::poll`] brought.
#[derive(Debug)]
pub enum Polled {
    /// A record to show.
    Record(InputRecord),
    /// Nothing to show yet (a good moment to flush output).
    Idle,
    /// Every partition reached the end offset it had at the start (never
    /// when following).
    Done,
}

/// The reader's client context: an end of partition that arrives after
/// the reader is done (while the client closes, through librdkafka's main
/// queue) is no error to report.
struct EndIsNoError;

impl ClientContext for EndIsNoError {
    fn error(&self, error: KafkaError, reason: &str) {
        if error != KafkaError::Global(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for EndIsNoError {}

/// `rill consume`'s reader: assigns itself the topic's partitions, joins
/// no group and commits nothing.
pub struct ConsoleReader {
    consumer: BaseConsumer<EndIsNoError>,
    /// Without `follow`: each partition not yet read to the end offset it
    /// had at the start, with that offset. `None` when following.
    remaining: Option<HashMap<i32, i64>>,
    /// The topic's name, shared by its records.
    topics: crate::record::TopicNames,
}

impl ConsoleReader {
    /// Opens `topic` (only `partition` if given) from `start`; with
    /// `follow` it never reports [`Polled::Done`].
    pub fn open(
        settings: &KafkaSettings,
        topic: &str,
        partition: Option<i32>,
        start: StartAt,
        follow: bool,
    ) -> Result<Self, ConsoleError> {
        let metadata_error = |source| ConsoleError::Metadata {
            topic: topic.to_string(),
            brokers: settings.brokers.clone(),
            source,
        };
        let consumer: BaseConsumer<EndIsNoError> = settings
            .reader()
            .set("enable.partition.eof", "true")
            .create_with_context(EndIsNoError)
            .map_err(|source| ConsoleError::Client {
                brokers: settings.brokers.clone(),
                source,
            })?;
        let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(metadata_error)?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len() as i32);
        if partitions == 0 {
            return Err(ConsoleError::UnknownTopic {
                topic: topic.to_string(),
                brokers: settings.brokers.clone(),
            });
        }
        let chosen: Vec<i32> = match partition {
            Some(p) if !(0..partitions).contains(&p) => {
                return Err(ConsoleError::NoPartition {
                    topic: topic.to_string(),
                    partition: p,
                    partitions,
                });
            }
            Some(p) => vec![p],
            None => (0..partitions).collect(),
        };
        let offset = match start {
            StartAt::Beginning => Offset::Beginning,
            StartAt::End => Offset::End,
        };
        let mut assignment = TopicPartitionList::new();
        let mut remaining = HashMap::new();
        for p in chosen {
            assignment
                .add_partition_offset(topic, p, offset)
                .map_err(metadata_error)?;
            if !follow && start == StartAt::Beginning {
                let (low, high) = consumer.fetch_watermarks(topic, p, TIMEOUT).map_err(metadata_error)?;
                if low < high {
                    remaining.insert(p, high);
                }
            }
        }
        consumer.assign(&assignment).map_err(metadata_error)?;
        Ok(ConsoleReader {
            consumer,
            remaining: (!follow).then_some(remaining),
            topics: Default::default(),
        })
    }

    /// Waits up to `timeout` for the next record. Client errors (a broker
    /// down, say) are logged and waited out, as librdkafka retries them.
    pub fn poll(&mut self, timeout: Duration) -> Polled {
        if self.remaining.as_ref().is_some_and(HashMap::is_empty) {
            return Polled::Done;
        }
        match self.consumer.poll(timeout) {
            None => Polled::Idle,
            // The end of what there is; also ends a partition whose last
            // offsets are transaction markers, which no record reaches.
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if let Some(remaining) = &mut self.remaining {
                    remaining.remove(&partition);
                }
                Polled::Idle
            }
            Some(Err(error)) => {
                tracing::warn!("reading: {error}");
                Polled::Idle
            }
            Some(Ok(message)) => {
                if let Some(remaining) = &mut self.remaining {
                    let Some(&end) = remaining.get(&message.partition()) else {
                        return Polled::Idle;
                    };
                    if message.offset() + 1 >= end {
                        remaining.remove(&message.partition());
                    }
                    if message.offset() >= end {
                        return Polled::Idle;
                    }
                }
                Polled::Record(to_input_record(&message, &mut self.topics))
            }
        }
    }
}
