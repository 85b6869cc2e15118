//! Reading a dead-letter topic for `rill redrive`: every record from the
//! redrive group's committed position to the end the topic had when the
//! read started, and committing that end once the redriven results are
//! written, so a record is redriven at most once.

use super::KafkaSettings;
use crate::record::Header;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a dead-letter topic could not be read or its position committed.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The topic does not exist.
    #[error("topic {topic} does not exist on {brokers}")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// Where it was looked for.
        brokers: String,
    },
    /// The client failed.
    #[error("{what}: {source}")]
    Client {
        /// What was being done.
        what: &'static str,
        /// The client error.
        source: KafkaError,
    },
    /// The end was not reached in time (a broker away).
    #[error("{topic}/{partition} was not read to offset {end} within {seconds} s")]
    Stalled {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The end offset at the start.
        end: i64,
        /// How long it waited.
        seconds: u64,
    },
}

/// One dead letter as read.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its partition in the dead-letter topic.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The failed record's key.
    pub key: Option<Vec<u8>>,
    /// The failed record's value.
    pub value: Option<Vec<u8>>,
    /// The failed record's timestamp.
    pub timestamp: i64,
    /// Its headers: the record's own and rill's `rill.*`.
    pub headers: Vec<Header>,
}

impl DeadLetter {
    /// The value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|h| h.key == name)
            .and_then(|h| std::str::from_utf8(h.value.as_deref()?).ok())
    }
}

/// A dead-letter topic read by one redrive group.
pub struct DeadLetterReader {
    consumer: BaseConsumer,
    topic: String,
    /// Per partition, the end offset when the read started.
    ends: HashMap<i32, i64>,
}

impl DeadLetterReader {
    /// Opens `topic` for group `group` at its committed position (the
    /// beginning for a new group).
    pub fn open(settings: &KafkaSettings, topic: &str, group: &str) -> Result<Self, DeadLetterError> {
        let client = |what| move |source| DeadLetterError::Client { what, source };
        let consumer: BaseConsumer = settings
            .reader()
            .set("group.id", group)
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .create()
            .map_err(client("creating the reader"))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(client("reading metadata"))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len() as i32);
        if partitions == 0 {
            return Err(DeadLetterError::UnknownTopic {
                topic: topic.to_string(),
                brokers: settings.brokers.clone(),
            });
        }
        let mut all = TopicPartitionList::new();
        for p in 0..partitions {
            all.add_partition(topic, p);
        }
        let committed = consumer
            .committed_offsets(all, TIMEOUT)
            .map_err(client("reading the redrive group's position"))?;
        let mut assignment = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for p in 0..partitions {
            let from = committed
                .find_partition(topic, p)
                .and_then(|e| e.offset().to_raw())
                .filter(|o| *o >= 0);
            let (low, high) = consumer
                .fetch_watermarks(topic, p, TIMEOUT)
                .map_err(client("reading watermarks"))?;
            let from = from.unwrap_or(low).max(low);
            assignment
                .add_partition_offset(topic, p, Offset::Offset(from))
                .map_err(client("assigning"))?;
            if from < high {
                ends.insert(p, high);
            }
        }
        consumer.assign(&assignment).map_err(client("assigning"))?;
        Ok(DeadLetterReader {
            consumer,
            topic: topic.to_string(),
            ends,
        })
    }

    /// Every record up to the ends the partitions had at open, in offset
    /// order per partition.
    pub fn read_all(&self) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut remaining = self.ends.clone();
        let mut read = Vec::new();
        let mut last_progress = Instant::now();
        let mut topics = crate::record::TopicNames::default();
        while !remaining.is_empty() {
            match self.consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(error)) => tracing::warn!("reading {}: {error}", self.topic),
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    let partition = message.partition();
                    let Some(end) = remaining.get(&partition).copied() else {
                        continue;
                    };
                    if message.offset() >= end {
                        continue;
                    }
                    let record = super::consumer::to_input_record(&message, &mut topics);
                    read.push(DeadLetter {
                        partition,
                        offset: record.offset,
                        key: record.key.map(|k| k.to_vec()),
                        value: record.value.map(|v| v.to_vec()),
                        timestamp: record.timestamp,
                        headers: record.headers,
                    });
                    if message.offset() + 1 >= end {
                        remaining.remove(&partition);
                    }
                }
            }
            // A partition whose last offsets are transaction markers has
            // no record at end - 1: its position tells it is through.
            remaining.retain(|p, end| {
                crate::kafka::consumer_position(self.consumer.client(), &self.topic, *p).is_none_or(|at| at < *end)
            });
            if let Some((p, end)) = remaining.iter().next()
                && last_progress.elapsed() > Duration::from_secs(60)
            {
                return Err(DeadLetterError::Stalled {
                    topic: self.topic.clone(),
                    partition: *p,
                    end: *end,
                    seconds: 60,
                });
            }
        }
        Ok(read)
    }

    /// Commits the ends read to, so the next redrive starts after them.
    pub fn commit_read(&self) -> Result<(), DeadLetterError> {
        if self.ends.is_empty() {
            return Ok(());
        }
        let mut offsets = TopicPartitionList::new();
        for (p, end) in &self.ends {
            offsets
                .add_partition_offset(&self.topic, *p, Offset::Offset(*end))
                .map_err(|source| DeadLetterError::Client {
                    what: "committing",
                    source,
                })?;
        }
        self.consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(|source| DeadLetterError::Client {
                what: "committing the redrive group's position",
                source,
            })
    }
}
