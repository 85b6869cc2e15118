//! Kafka I/O: client settings, topic administration, the output producer
//! with delivery tracking, and the embedded development broker.
//!
//! Nothing here knows about plugins or tasks; the task layer uses these
//! pieces through small types ([`producer::OutputProducer`],
//! [`producer::BatchAck`]) so the processing logic stays testable.

pub mod admin;
pub mod embedded;
pub mod producer;

use rdkafka::ClientConfig;

/// How to reach the cluster: bootstrap servers plus `-X key=value`
/// overrides that are applied last to every client rill creates.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// librdkafka properties from the command line (`-X key=value`).
    pub overrides: Vec<(String, String)>,
}

impl KafkaSettings {
    /// Settings for `brokers` with no overrides.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings { brokers: brokers.into(), overrides: Vec::new() }
    }

    fn client(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.overrides {
            config.set(key, value);
        }
        config
    }

    /// The group member's consumer. Offsets are committed by rill only
    /// after outputs are acknowledged; `range` assignment keeps partition N
    /// of co-partitioned topics on one member; the short fetch-queue backoff
    /// keeps a fast consumer from idling (1 s by default).
    pub fn consumer(&self, group_id: &str) -> ClientConfig {
        let mut config = self.client(&[
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", "range"),
            ("fetch.queue.backoff.ms", "1"),
            ("allow.auto.create.topics", "false"),
        ]);
        config.set("group.id", group_id);
        config
    }

    /// The output producer: idempotent (ordered, no duplicates from
    /// retries), Java-compatible partitioning (murmur2, so keyed outputs
    /// land where Kafka Streams would put them), lz4 batches with a short
    /// linger for throughput.
    pub fn producer(&self) -> ClientConfig {
        self.client(&[
            ("enable.idempotence", "true"),
            ("partitioner", "murmur2_random"),
            ("compression.type", "lz4"),
            ("linger.ms", "20"),
            ("queue.buffering.max.messages", "1000000"),
        ])
    }

    /// A client for metadata and administrative requests.
    pub fn admin(&self) -> ClientConfig {
        self.client(&[("allow.auto.create.topics", "false")])
    }
}
