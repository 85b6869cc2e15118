//! A [`RecordSink`] in memory: the test double that lets tasks, the task
//! manager and the poll loop run without a broker (acknowledging at once,
//! refusing oversized values in the delivery report, or holding
//! acknowledgements until told). It is what `rill test` (`crate::testdriver`)
//! collects outputs, dead letters and changelogs in, as well as the double
//! of rill's own tests.

use super::producer::{BatchAck, OutgoingRecord, RecordSink};
use parking_lot::Mutex;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

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

/// A sink that keeps records in memory and acknowledges them at once, or,
/// like a broker with a size limit, refuses values over `refuse_over` bytes
/// in their delivery report, or (`holding`) only when told to, like a slow
/// broker.
#[derive(Default)]
pub struct MemorySink {
    records: Mutex<Vec<SentRecord>>,
    /// Next offset per (topic, explicit partition), as a broker would assign.
    offsets: Mutex<std::collections::HashMap<(String, Option<i32>), i64>>,
    /// Values larger than this are refused at delivery (`MessageSizeTooLarge`).
    refuse_over: Option<usize>,
    /// When set, deliveries wait here until [`Self::deliver`].
    held: Option<Mutex<Vec<(String, Arc<BatchAck>)>>>,
}

impl MemorySink {
    /// A sink that acknowledges nothing until [`Self::deliver`] is called.
    pub fn holding() -> Self {
        MemorySink {
            held: Some(Mutex::new(Vec::new())),
            ..MemorySink::default()
        }
    }

    /// Acknowledges the held records sent to `topic` (every held record
    /// with `None`); returns how many.
    pub fn deliver(&self, topic: Option<&str>) -> usize {
        let Some(held) = &self.held else { return 0 };
        let mut held = held.lock();
        let (now, later): (Vec<_>, Vec<_>) = held.drain(..).partition(|(t, _)| topic.is_none_or(|topic| t == topic));
        *held = later;
        for (_, ack) in &now {
            ack.delivered(Ok(()));
        }
        now.len()
    }

    /// A sink that refuses, in the delivery report, values over `limit` bytes.
    pub fn refusing_over(limit: usize) -> Self {
        MemorySink {
            refuse_over: Some(limit),
            ..MemorySink::default()
        }
    }

    /// Everything sent so far, in order.
    pub fn records(&self) -> Vec<SentRecord> {
        self.records.lock().clone()
    }
}

impl RecordSink for MemorySink {
    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), KafkaError> {
        ack.sent();
        if self
            .refuse_over
            .is_some_and(|limit| record.value.map_or(0, <[u8]>::len) > limit)
        {
            let refusal = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
            if let Some((listener, id)) = record.listener {
                listener.delivered(id, record.topic, Err(refusal.to_string()));
            }
            ack.undeliverable(record.input, record.topic, &refusal);
            return Ok(());
        }
        let offset = {
            let mut offsets = self.offsets.lock();
            let next = offsets.entry((record.topic.to_string(), record.partition)).or_insert(0);
            *next += 1;
            *next - 1
        };
        if let Some(offsets) = record.offsets {
            offsets.fetch_max(offset + 1, Ordering::AcqRel);
        }
        if let Some((listener, id)) = record.listener {
            // One partition per topic unless the record names one.
            listener.delivered(
                id,
                record.topic,
                Ok((record.partition.unwrap_or(0), offset, record.timestamp)),
            );
        }
        self.records.lock().push(SentRecord {
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
        match &self.held {
            Some(held) => held.lock().push((record.topic.to_string(), ack.clone())),
            None => ack.delivered(Ok(())),
        }
        Ok(())
    }

    fn flush(&self, _timeout: Duration) -> Result<(), KafkaError> {
        Ok(())
    }
}
