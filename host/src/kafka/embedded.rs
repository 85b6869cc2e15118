//! The embedded development broker: librdkafka's in-process mock cluster,
//! which speaks the Kafka wire protocol on 127.0.0.1 so any Kafka client can
//! use it. It backs `rill dev-broker`, `--brokers embedded`, the demo, the
//! tests and the benchmark.
//!
//! Its limits are real (librdkafka 2.12.1) and documented in
//! `docs/dev-broker.md`: no CreateTopics (topics are made here, or
//! auto-created with 4 partitions), each partition keeps only its newest
//! 5 MiB or 100,000 batches, and transactions are not honoured.

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use thiserror::Error;

/// Why the embedded broker could not start or create a topic.
#[derive(Debug, Error)]
pub enum EmbeddedError {
    /// librdkafka could not start the mock cluster.
    #[error("cannot start the embedded broker: {0}")]
    Start(rdkafka::error::KafkaError),
    /// The mock cluster refused a topic.
    #[error("cannot create topic {topic} with {partitions} partitions on the embedded broker: {source}")]
    Topic {
        /// Topic name.
        topic: String,
        /// Requested partitions.
        partitions: i32,
        /// librdkafka's answer.
        source: rdkafka::error::KafkaError,
    },
}

/// A running mock cluster; dropping it stops the brokers.
pub struct EmbeddedBroker {
    /// The client that owns the mock cluster (librdkafka ties the cluster's
    /// lifetime to a client handle).
    owner: BaseProducer<DefaultProducerContext>,
    bootstrap: String,
    brokers: i32,
}

impl EmbeddedBroker {
    /// Starts `brokers` mock brokers. Consumer groups get their first
    /// assignment at once (like `group.initial.rebalance.delay.ms=0`, the
    /// usual setting for development clusters) instead of after 3 s.
    pub fn start(brokers: i32) -> Result<Self, EmbeddedError> {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .create()
            .map_err(EmbeddedError::Start)?;
        let bootstrap = {
            let cluster = mock(&owner)?;
            // SAFETY: the mock cluster pointer comes from the live client
            // `owner`, which outlives this call.
            unsafe {
                let raw = rdkafka_sys::rd_kafka_handle_mock_cluster(owner.client().native_ptr());
                rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(raw, 0);
            }
            cluster.bootstrap_servers()
        };
        Ok(EmbeddedBroker {
            owner,
            bootstrap,
            brokers,
        })
    }

    /// The `bootstrap.servers` string for clients.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates `topic` with `partitions` partitions (replication 1).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), EmbeddedError> {
        mock(&self.owner)?
            .create_topic(topic, partitions, 1)
            .map_err(|source| EmbeddedError::Topic {
                topic: topic.to_string(),
                partitions,
                source,
            })
    }
}

impl EmbeddedBroker {
    /// Takes every broker down (connections dropped, new ones refused) or
    /// brings them back: for testing how clients ride out an outage.
    pub fn set_available(&self, up: bool) -> Result<(), EmbeddedError> {
        let cluster = mock(&self.owner)?;
        for id in 1..=self.brokers {
            let result = if up {
                cluster.broker_up(id)
            } else {
                cluster.broker_down(id)
            };
            result.map_err(EmbeddedError::Start)?;
        }
        Ok(())
    }

    /// Makes the next `count` Produce requests (from any client) fail with
    /// `error`: for testing how refusals are handled.
    pub fn fail_produce_requests(&self, error: rdkafka_sys::RDKafkaRespErr, count: usize) -> Result<(), EmbeddedError> {
        mock(&self.owner)?.request_errors(rdkafka_sys::types::RDKafkaApiKey::Produce, &vec![error; count]);
        Ok(())
    }
}

fn mock(owner: &BaseProducer) -> Result<MockCluster<'_, DefaultProducerContext>, EmbeddedError> {
    owner
        .client()
        .mock_cluster()
        .ok_or(EmbeddedError::Start(rdkafka::error::KafkaError::MockCluster(
            rdkafka::types::RDKafkaErrorCode::Fail,
        )))
}
