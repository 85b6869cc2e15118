//! Topic checks and creation at startup.
//!
//! Inputs must exist (a missing input is a configuration error, not
//! something to guess). Outputs and dead-letter topics are created when
//! missing. A broker that cannot create topics (no CreateTopics API, no
//! permission) gets a message listing exactly what to create.

use super::KafkaSettings;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use std::collections::HashMap;
use std::time::Duration;
use thiserror::Error;

/// How long metadata and admin requests may take before we give up.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why the topics a pipeline needs are not in place.
#[derive(Debug, Error)]
pub enum TopicError {
    /// The cluster did not answer a metadata request.
    #[error("cannot read topic metadata from {brokers}: {source}\n  fix: check --brokers and that the cluster is up")]
    Metadata {
        /// The bootstrap servers tried.
        brokers: String,
        /// The client error.
        source: KafkaError,
    },
    /// Input topics do not exist.
    #[error("input topic(s) {} do not exist\n  fix: create them, or correct `inputs` in the manifest ({})", topics.join(", "), manifests.join(", "))]
    MissingInputs {
        /// The missing topics.
        topics: Vec<String>,
        /// The manifests that read them.
        manifests: Vec<String>,
    },
    /// A processor's stream and table inputs have different partition
    /// counts, so partition N of one cannot be joined with partition N of
    /// the other (Kafka Streams' TopologyException).
    #[error("{manifest}: inputs are not co-partitioned: {}\n  fix: give them the same partition count (repartition one of them), or declare the table with kind = \"global-table\", which every instance reads whole", counts.iter().map(|(t, p)| format!("{t} has {p} partitions")).collect::<Vec<_>>().join(", "))]
    NotCoPartitioned {
        /// The manifest path.
        manifest: String,
        /// Each input topic with its partition count.
        counts: Vec<(String, i32)>,
    },
    /// The broker refused or does not support creating topics.
    #[error(
        "cannot create topic(s) {}: {reason}\n  fix: create them yourself, e.g. {}",
        describe(topics),
        commands(topics)
    )]
    CannotCreate {
        /// Topic name and partition count.
        topics: Vec<(String, i32)>,
        /// The broker's answer.
        reason: String,
    },
}

fn describe(topics: &[(String, i32)]) -> String {
    topics
        .iter()
        .map(|(t, p)| format!("{t} ({p} partitions)"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn commands(topics: &[(String, i32)]) -> String {
    let create: Vec<String> = topics
        .iter()
        .map(|(t, p)| format!("`kafka-topics.sh --create --topic {t} --partitions {p}`"))
        .collect();
    let dev: Vec<String> = topics.iter().map(|(t, p)| format!("--topic {t}:{p}")).collect();
    format!("{}; with rill dev-broker pass {}", create.join(" "), dev.join(" "))
}

/// Partition counts of the topics that exist, from one metadata request.
pub fn partition_counts(settings: &KafkaSettings) -> Result<HashMap<String, i32>, TopicError> {
    let client: BaseConsumer = settings.admin().create().map_err(|source| TopicError::Metadata {
        brokers: settings.brokers.clone(),
        source,
    })?;
    let metadata = client
        .fetch_metadata(None, TIMEOUT)
        .map_err(|source| TopicError::Metadata {
            brokers: settings.brokers.clone(),
            source,
        })?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// Creates `topics` (name, partitions) with the broker's default
/// replication factor; those named in `compacted` get
/// `cleanup.policy=compact` (changelogs keep the latest value per key).
pub fn create_topics(
    settings: &KafkaSettings,
    topics: &[(String, i32)],
    compacted: &[String],
) -> Result<(), TopicError> {
    if topics.is_empty() {
        return Ok(());
    }
    let cannot = |reason: String| TopicError::CannotCreate {
        topics: topics.to_vec(),
        reason,
    };
    let admin: AdminClient<DefaultClientContext> = settings.admin().create().map_err(|e| cannot(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cannot(e.to_string()))?;
    // The broker's default replication factor (-1, KIP-464) first; a broker
    // that does not take -1 (before Kafka 2.4, some other implementations)
    // gets an explicit factor: its broker count, at most 3.
    let mut pending: Vec<(String, i32)> = topics.to_vec();
    let mut replication = -1;
    loop {
        let refused = create(&runtime, &admin, &pending, compacted, replication).map_err(|e| cannot(e))?;
        if refused.is_empty() {
            return Ok(());
        }
        let wrong_factor = refused
            .iter()
            .all(|(_, code)| *code == rdkafka::types::RDKafkaErrorCode::InvalidReplicationFactor);
        if replication != -1 || !wrong_factor {
            let (topic, code) = &refused[0];
            return Err(cannot(format!("{topic}: {code}")));
        }
        let consumer: BaseConsumer = settings.reader().create().map_err(|e| cannot(e.to_string()))?;
        let brokers = consumer
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| cannot(e.to_string()))?
            .brokers()
            .len();
        replication = brokers.clamp(1, 3) as i32;
        pending.retain(|(name, _)| refused.iter().any(|(topic, _)| topic == name));
        tracing::info!("the broker refused the default replication factor; creating with {replication}");
    }
}

/// One CreateTopics request: the topics refused, with why (one that
/// exists already is not refused).
fn create(
    runtime: &tokio::runtime::Runtime,
    admin: &AdminClient<DefaultClientContext>,
    topics: &[(String, i32)],
    compacted: &[String],
    replication: i32,
) -> Result<Vec<(String, rdkafka::types::RDKafkaErrorCode)>, String> {
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| {
            let topic = NewTopic::new(name, *partitions, TopicReplication::Fixed(replication));
            if compacted.contains(name) {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT));
    let results = runtime
        .block_on(admin.create_topics(&new_topics, &options))
        .map_err(|e| explain(&e))?;
    Ok(results
        .into_iter()
        .filter_map(Result::err)
        .filter(|(_, code)| *code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)
        .collect())
}

fn explain(error: &KafkaError) -> String {
    use rdkafka::types::RDKafkaErrorCode::{UnsupportedFeature, UnsupportedVersion};
    match error.rdkafka_error_code() {
        Some(UnsupportedFeature | UnsupportedVersion) => {
            format!("the broker does not support the CreateTopics API ({error})")
        }
        _ => error.to_string(),
    }
}
