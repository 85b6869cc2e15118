//! Which topics the cluster has, for outputs whose topic is chosen per
//! record (`topic-pattern`): asked before such a record is produced, so a
//! topic is never created by accident. librdkafka's producer asks brokers
//! to auto-create any topic it looks up; this catalog looks topics up
//! with a metadata client whose `allow.auto.create.topics` is off, and
//! creates a topic only when the manifest says `create = true`.

use super::KafkaSettings;
use super::admin::{self, TopicError};
use parking_lot::{Mutex, RwLock};
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// What the routing of a per-record topic needs to know of the cluster.
pub trait TopicCatalog: Send + Sync {
    /// Whether `topic` exists. Answered from memory for a topic seen
    /// before; a topic not seen asks the brokers, at most once per
    /// [`RECHECK`] for one that was missing.
    fn exists(&self, topic: &str) -> Result<bool, TopicError>;

    /// Creates `topic` with `partitions` partitions (a topic that exists by
    /// then is not an error) and remembers it.
    fn create(&self, topic: &str, partitions: i32) -> Result<(), TopicError>;
}

/// How long a topic found missing is taken as missing before the brokers
/// are asked again (a topic created meanwhile is seen after this).
pub const RECHECK: Duration = Duration::from_secs(5);

/// How long a topic the brokers refused to create is not asked for again:
/// a broker without CreateTopics answers only when the request times out,
/// which holds the task meanwhile.
pub const RETRY_CREATE: Duration = Duration::from_secs(60);

/// How long one metadata request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The cluster's topics, cached: topics found stay known (topics are not
/// expected to vanish under a running application; a deleted one makes
/// the producer fail as it would for a fixed output).
pub struct KafkaTopics {
    settings: KafkaSettings,
    /// Topics that exist.
    known: RwLock<HashSet<String>>,
    /// Topics found missing, and when.
    missing: Mutex<HashMap<String, Instant>>,
    /// Topics the brokers refused to create, when and why: not asked again
    /// before [`RETRY_CREATE`] (a broker without CreateTopics would
    /// otherwise be asked once per record).
    refused: Mutex<HashMap<String, (Instant, TopicError)>>,
    /// The metadata client, made at the first lookup.
    client: Mutex<Option<BaseConsumer>>,
}

impl KafkaTopics {
    /// A catalog of the cluster `settings` reaches, starting from `known`
    /// (the topics the startup metadata request listed).
    pub fn new(settings: KafkaSettings, known: impl IntoIterator<Item = String>) -> Self {
        KafkaTopics {
            settings,
            known: RwLock::new(known.into_iter().collect()),
            missing: Mutex::default(),
            refused: Mutex::default(),
            client: Mutex::default(),
        }
    }

    /// One metadata request for `topic`, auto-creation off.
    fn lookup(&self, topic: &str) -> Result<bool, TopicError> {
        let metadata_error = |source| TopicError::Metadata {
            brokers: self.settings.brokers.clone(),
            source,
        };
        let mut client = self.client.lock();
        if client.is_none() {
            *client = Some(self.settings.admin().create().map_err(metadata_error)?);
        }
        let metadata = client
            .as_ref()
            .expect("made above")
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(metadata_error)?;
        Ok(metadata
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()))
    }
}

impl TopicCatalog for KafkaTopics {
    fn exists(&self, topic: &str) -> Result<bool, TopicError> {
        if self.known.read().contains(topic) {
            return Ok(true);
        }
        if let Some(seen) = self.missing.lock().get(topic)
            && seen.elapsed() < RECHECK
        {
            return Ok(false);
        }
        let exists = self.lookup(topic)?;
        if exists {
            self.known.write().insert(topic.to_string());
            self.missing.lock().remove(topic);
        } else {
            self.missing.lock().insert(topic.to_string(), Instant::now());
        }
        Ok(exists)
    }

    fn create(&self, topic: &str, partitions: i32) -> Result<(), TopicError> {
        if let Some((when, error)) = self.refused.lock().get(topic)
            && when.elapsed() < RETRY_CREATE
        {
            return Err(again(error));
        }
        if let Err(error) = admin::create_topics(&self.settings, &[(topic.to_string(), partitions)], &[]) {
            self.refused
                .lock()
                .insert(topic.to_string(), (Instant::now(), again(&error)));
            return Err(error);
        }
        self.known.write().insert(topic.to_string());
        self.missing.lock().remove(topic);
        self.refused.lock().remove(topic);
        Ok(())
    }
}

/// The same refusal again, for a topic whose creation was refused lately.
fn again(error: &TopicError) -> TopicError {
    match error {
        TopicError::CannotCreate { topics, reason } => TopicError::CannotCreate {
            topics: topics.clone(),
            reason: reason.clone(),
        },
        other => TopicError::CannotCreate {
            topics: Vec::new(),
            reason: other.to_string(),
        },
    }
}

/// Every topic exists: where outputs go to memory (`rill test`, the
/// harness), there is no cluster to lack one.
#[derive(Debug, Default)]
pub struct EveryTopic;

impl TopicCatalog for EveryTopic {
    fn exists(&self, _topic: &str) -> Result<bool, TopicError> {
        Ok(true)
    }

    fn create(&self, _topic: &str, _partitions: i32) -> Result<(), TopicError> {
        Ok(())
    }
}
