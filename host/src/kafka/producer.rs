//! The producer all tasks share, and acknowledgement tracking per batch.
//!
//! At-least-once needs one fact from the producer: "every record produced
//! for input offsets below X has been acknowledged". Each processing batch
//! gets a [`BatchAck`]; every record produced for it carries the ack as its
//! delivery opaque, and the delivery callback counts it down. A partition's
//! offset is committed only up to the end of its oldest incomplete batch.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Acknowledgements outstanding for one processing batch.
///
/// Starts with one "unsealed" token so that it cannot look complete while
/// records are still being produced; [`BatchAck::seal`] removes it.
#[derive(Debug)]
pub struct BatchAck {
    outstanding: AtomicUsize,
    failure: Mutex<Option<String>>,
}

impl BatchAck {
    /// A new, unsealed ack with nothing produced yet.
    pub fn new() -> Arc<Self> {
        Arc::new(BatchAck {
            outstanding: AtomicUsize::new(1),
            failure: Mutex::new(None),
        })
    }

    /// Marks the end of producing for this batch.
    pub fn seal(&self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    /// True once sealed and every record is acknowledged (or failed).
    pub fn is_complete(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) == 0
    }

    /// The first delivery failure, if any record could not be delivered.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn sent(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    fn delivered(&self, result: Result<(), String>) {
        if let Err(error) = result {
            self.failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(error);
        }
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Routes delivery reports to the batch each record belongs to.
pub struct AckContext;

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Arc<BatchAck>;

    fn delivery(&self, result: &DeliveryResult<'_>, ack: Arc<BatchAck>) {
        ack.delivered(match result {
            Ok(_) => Ok(()),
            Err((error, message)) => Err(format!("delivery to {} failed: {error}", message.topic())),
        });
    }
}

/// One record to produce. Borrowed, so routing adds no copies.
pub struct OutgoingRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Explicit partition (changelogs); `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// Value; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers as (name, value).
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// Where tasks send records: the Kafka producer in production, memory in
/// tests that drive tasks without a broker.
pub trait RecordSink: Send + Sync {
    /// Queues `record`, counting it against `ack` until it is acknowledged.
    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), KafkaError>;
    /// Waits until everything queued is acknowledged, up to `timeout`.
    fn flush(&self, timeout: Duration) -> Result<(), KafkaError>;
}

/// One record a [`MemorySink`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    /// Destination topic.
    pub topic: String,
    /// Explicit partition, if any.
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp.
    pub timestamp: i64,
}

/// A sink that keeps records in memory and acknowledges them at once.
#[derive(Default)]
pub struct MemorySink {
    records: Mutex<Vec<SentRecord>>,
}

impl MemorySink {
    /// Everything sent so far, in order.
    pub fn records(&self) -> Vec<SentRecord> {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl RecordSink for MemorySink {
    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), KafkaError> {
        ack.sent();
        self.records.lock().unwrap_or_else(|e| e.into_inner()).push(SentRecord {
            topic: record.topic.to_string(),
            partition: record.partition,
            key: record.key.map(<[u8]>::to_vec),
            value: record.value.map(<[u8]>::to_vec),
            headers: record
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(<[u8]>::to_vec)))
                .collect(),
            timestamp: record.timestamp,
        });
        ack.delivered(Ok(()));
        Ok(())
    }

    fn flush(&self, _timeout: Duration) -> Result<(), KafkaError> {
        Ok(())
    }
}

/// The shared producer. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct OutputProducer {
    inner: Arc<ThreadedProducer<AckContext>>,
}

impl OutputProducer {
    /// Creates the producer from a client config.
    pub fn new(config: &rdkafka::ClientConfig) -> Result<Self, KafkaError> {
        Ok(OutputProducer {
            inner: Arc::new(config.create_with_context(AckContext)?),
        })
    }

    /// Waits for every queued record to be delivered, up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}

impl RecordSink for OutputProducer {
    /// Queues `record`, counting it against `ack`. Waits (never drops) when
    /// librdkafka's local queue is full.
    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(KafkaHeader { key, value: *value });
        }
        let mut base = BaseRecord::with_opaque_to(record.topic, ack.clone())
            .timestamp(record.timestamp)
            .headers(headers);
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(value) = record.value {
            base = base.payload(value);
        }
        ack.sent();
        loop {
            match self.inner.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    base = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => {
                    ack.delivered(Err(error.to_string()));
                    return Err(error);
                }
            }
        }
    }

    fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}
