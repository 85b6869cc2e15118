//! A consumer group seen from outside: its committed offsets, the
//! partitions' end offsets, and the timestamp of the oldest record it has
//! not consumed (`rill lag`, which works whether rill runs or not).

use super::KafkaSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How long a metadata or offset request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a group could not be read.
#[derive(Debug, Error)]
pub enum GroupError {
    /// The cluster did not answer.
    #[error("cannot read group {group} from {brokers}: {source}\n  fix: check --brokers and that the cluster is up")]
    Kafka {
        /// The group.
        group: String,
        /// The bootstrap servers.
        brokers: String,
        /// The client error.
        source: KafkaError,
    },
    /// The group has committed nothing on any (selected) topic.
    #[error(
        "group {group} has no committed offsets{}\n  fix: check --application-id (rill's consumer group is its application id)",
        if topics.is_empty() { String::new() } else { format!(" on {}", topics.join(", ")) }
    )]
    NoOffsets {
        /// The group.
        group: String,
        /// The topics asked about (empty: all).
        topics: Vec<String>,
    },
}

/// One partition the group has committed an offset for, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset.
    pub committed: i64,
    /// The partition's end offset (high watermark).
    pub end: i64,
    /// Timestamp (ms) of the record at the committed offset, when there
    /// is lag and it could be read.
    pub oldest_unconsumed_ms: Option<i64>,
}

/// Reads `group`'s committed offsets on `topics` (every topic when empty,
/// internal ones excepted), with end offsets and, for lagging partitions,
/// the timestamp of the first record not consumed.
pub fn sample(settings: &KafkaSettings, group: &str, topics: &[String]) -> Result<Vec<GroupOffset>, GroupError> {
    let failed = |source| GroupError::Kafka {
        group: group.to_string(),
        brokers: settings.brokers.clone(),
        source,
    };
    // A consumer in the group that never subscribes: asking for committed
    // offsets (OffsetFetch) does not join the group or disturb it.
    let mut config = settings.consumer(group);
    config.set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create().map_err(failed)?;
    let metadata = consumer.fetch_metadata(None, TIMEOUT).map_err(failed)?;
    let mut tpl = TopicPartitionList::new();
    for topic in metadata.topics() {
        let name = topic.name();
        if name.starts_with("__") || (!topics.is_empty() && !topics.iter().any(|t| t == name)) {
            continue;
        }
        for partition in topic.partitions() {
            tpl.add_partition(name, partition.id());
        }
    }
    let committed = consumer.committed_offsets(tpl, TIMEOUT).map_err(failed)?;
    let mut offsets = Vec::new();
    for element in committed.elements() {
        let Offset::Offset(offset) = element.offset() else {
            continue;
        };
        let (_, end) = consumer
            .fetch_watermarks(element.topic(), element.partition(), TIMEOUT)
            .map_err(failed)?;
        offsets.push(GroupOffset {
            topic: element.topic().to_string(),
            partition: element.partition(),
            committed: offset,
            end,
            oldest_unconsumed_ms: None,
        });
    }
    if offsets.is_empty() {
        return Err(GroupError::NoOffsets {
            group: group.to_string(),
            topics: topics.to_vec(),
        });
    }
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    oldest_unconsumed(settings, &mut offsets);
    Ok(offsets)
}

/// Reads the record at each lagging partition's committed offset for its
/// timestamp (best effort: within two seconds, with a reader outside the
/// group).
fn oldest_unconsumed(settings: &KafkaSettings, offsets: &mut [GroupOffset]) {
    let mut tpl = TopicPartitionList::new();
    for o in offsets.iter().filter(|o| o.end > o.committed) {
        let _ = tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.committed));
    }
    if tpl.count() == 0 {
        return;
    }
    let Ok(reader) = settings.reader().create::<BaseConsumer>() else {
        return;
    };
    if reader.assign(&tpl).is_err() {
        return;
    }
    let mut found: HashMap<(String, i32), i64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while found.len() < tpl.count() && Instant::now() < deadline {
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(100))
            && let Some(ts) = message.timestamp().to_millis()
        {
            found
                .entry((message.topic().to_string(), message.partition()))
                .or_insert(ts);
        }
    }
    for o in offsets.iter_mut() {
        o.oldest_unconsumed_ms = found.get(&(o.topic.clone(), o.partition)).copied();
    }
}
