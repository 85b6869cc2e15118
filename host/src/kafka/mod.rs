//! Kafka I/O: client settings, topic administration, the output producer
//! with delivery tracking, and the embedded development broker.
//!
//! Nothing here knows about plugins or tasks; the task layer uses these
//! pieces through small types ([`producer::OutputProducer`],
//! [`producer::BatchAck`]) so the processing logic stays testable.

pub mod admin;
pub mod console;
pub mod consumer;
pub mod dead_letters;
pub mod embedded;
pub mod group;
pub mod member;
pub mod membership;
pub mod memory_sink;
pub mod phase;
pub mod producer;
pub mod protocol;
pub mod topics;

use rdkafka::ClientConfig;

/// Which kind of client a config is for; decides scoped `-X` overrides.
#[derive(Clone, Copy)]
enum Role {
    Consumer,
    Producer,
    Admin,
}

/// How to reach the cluster: bootstrap servers plus `-X key=value`
/// overrides, applied last. A plain key goes to every client;
/// `consumer.<key>` only to consumers and `producer.<key>` only to the
/// producer, so librdkafka does not warn about properties a client ignores.
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
        KafkaSettings {
            brokers: brokers.into(),
            overrides: Vec::new(),
        }
    }

    fn client(&self, role: Role, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.overrides {
            let scoped = match (key.split_once('.'), role) {
                (Some(("consumer", rest)), Role::Consumer) | (Some(("producer", rest)), Role::Producer) => Some(rest),
                (Some(("consumer" | "producer", _)), _) => None,
                _ => Some(key.as_str()),
            };
            if let Some(key) = scoped {
                config.set(key, value);
            }
        }
        config
    }

    /// A group consumer (the native benchmark programs, `rill lag`).
    /// Offsets are committed by the program only after outputs are
    /// acknowledged; eager `range` assignment, as a plain consumer has it;
    /// the short fetch-queue backoff keeps a fast consumer from idling (1 s
    /// by default); a 16 MiB prefetch queue (64 MiB by default) halved peak
    /// RSS of the pipeline benchmark and made it faster.
    pub fn consumer(&self, group_id: &str) -> ClientConfig {
        self.group_consumer(group_id, "16384", &protocol::Membership::eager())
    }

    /// `rill run`'s member consumer: [`KafkaSettings::consumer`] with the
    /// group protocol, assignment and static membership of `membership`
    /// (see [`protocol`]), and a 2 MiB prefetch queue. Its tasks buffer up
    /// to `--buffered-records-per-partition` records of every partition
    /// themselves, which is the prefetch a consume loop needs; a 16 MiB
    /// queue on top only held a second copy of the stream (the pipeline
    /// benchmark's peak RSS fell from ~116 to ~77 MiB with it and 4-batch
    /// worker queues, at the same rate). `-X consumer.queued.max.messages.kbytes`
    /// still overrides it.
    pub fn stream_consumer(&self, group_id: &str, membership: &protocol::Membership) -> ClientConfig {
        self.group_consumer(group_id, "2048", membership)
    }

    fn group_consumer(&self, group_id: &str, prefetch_kbytes: &str, membership: &protocol::Membership) -> ClientConfig {
        let group = membership.defaults();
        let mut defaults: Vec<(&str, &str)> = vec![
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.queue.backoff.ms", "1"),
            ("queued.max.messages.kbytes", prefetch_kbytes),
            ("allow.auto.create.topics", "false"),
        ];
        defaults.extend(group.iter().map(|(k, v)| (*k, v.as_str())));
        let mut config = self.client(Role::Consumer, &defaults);
        config.set("group.id", group_id);
        config
    }

    /// The output producer: idempotent (ordered, no duplicates from
    /// retries), Java-compatible partitioning (murmur2, so keyed outputs
    /// land where Kafka Streams would put them), lz4 batches with a short
    /// linger for throughput, and no delivery timeout: while brokers are
    /// unreachable records wait and are retried, never dropped (nothing past
    /// them is committed meanwhile).
    pub fn producer(&self) -> ClientConfig {
        self.client(
            Role::Producer,
            &[
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "0"),
                ("partitioner", "murmur2_random"),
                ("compression.type", "lz4"),
                ("linger.ms", "20"),
                ("queue.buffering.max.messages", "1000000"),
            ],
        )
    }

    /// `rill produce`'s producer: rill's partitioning (murmur2, so a keyed
    /// record lands where rill's own output of that key would) and
    /// idempotence (lines stay in order), but a delivery timeout of 30 s
    /// instead of none: a person at a terminal wants an error, not a wait
    /// for a broker that may never come.
    pub fn console_producer(&self) -> ClientConfig {
        self.client(
            Role::Producer,
            &[
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "30000"),
                ("partitioner", "murmur2_random"),
                ("compression.type", "lz4"),
                ("linger.ms", "5"),
            ],
        )
    }

    /// The exactly-once producer: [`Self::producer`] with a
    /// `transactional.id` (stable per application and instance, so a
    /// restarted instance fences its predecessor) and a transaction
    /// timeout after which the brokers abort a transaction its producer
    /// abandoned. Delivery may not outlast the transaction, so the
    /// unbounded delivery timeout becomes the transaction's: a record not
    /// delivered by then aborts the transaction, which is then retried
    /// from the last commit.
    pub fn transactional_producer(&self, transactional_id: &str, timeout: std::time::Duration) -> ClientConfig {
        let millis = timeout.as_millis().to_string();
        let mut config = self.client(
            Role::Producer,
            &[
                ("enable.idempotence", "true"),
                ("partitioner", "murmur2_random"),
                ("compression.type", "lz4"),
                ("linger.ms", "20"),
                ("queue.buffering.max.messages", "1000000"),
                ("transaction.timeout.ms", &millis),
                ("message.timeout.ms", &millis),
            ],
        );
        config.set("transactional.id", transactional_id);
        config
    }

    /// Makes every consumer this builds read only committed records
    /// (`isolation.level=read_committed`): exactly-once reads neither
    /// aborted records nor those of open transactions, in its inputs,
    /// restores and global tables. (librdkafka's default, said explicitly
    /// so a `-X` override cannot silently weaken it.)
    pub fn read_committed(mut self) -> Self {
        self.overrides.retain(|(k, _)| !k.ends_with("isolation.level"));
        self.overrides
            .push(("consumer.isolation.level".into(), "read_committed".into()));
        self
    }

    /// A consumer that reads partitions it assigns itself (restores, global
    /// tables). librdkafka needs a group id to assign; it never joins that
    /// group or commits to it.
    pub fn reader(&self) -> ClientConfig {
        self.client(
            Role::Consumer,
            &[
                ("group.id", "rill-state-reader"),
                ("enable.auto.commit", "false"),
                ("fetch.queue.backoff.ms", "1"),
                ("queued.max.messages.kbytes", "16384"),
                ("allow.auto.create.topics", "false"),
            ],
        )
    }

    /// A client for metadata and administrative requests.
    pub fn admin(&self) -> ClientConfig {
        self.client(Role::Admin, &[("allow.auto.create.topics", "false")])
    }
}

/// The high watermark librdkafka last saw for `topic`/`partition` in a
/// fetch response: no network round trip (a ListOffsets request costs
/// hundreds of milliseconds per partition on some brokers). `None` when this
/// client has not fetched the partition yet.
pub fn cached_high_watermark<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client handle is live for the duration of the call and the
    // out-pointers point at locals.
    let error = unsafe {
        rdkafka_sys::rd_kafka_get_watermark_offsets(client.native_ptr(), topic.as_ptr(), partition, &mut low, &mut high)
    };
    (error == rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}

/// The consumer's position in one partition (librdkafka's application
/// position: one past the last record delivered, or past a transaction
/// marker after it), without the network; `None` when it has none.
pub fn consumer_position<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let mut list = rdkafka::TopicPartitionList::new();
    list.add_partition(topic, partition);
    // SAFETY: the client handle is live for the call; the list is a valid
    // librdkafka list owned by `list` for its duration.
    let error = unsafe { rdkafka_sys::rd_kafka_position(client.native_ptr(), list.ptr()) };
    if error != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    list.find_partition(topic, partition)
        .and_then(|e| e.offset().to_raw())
        .filter(|o| *o >= 0)
}

/// Produces `(key, value)` records to `topic` with rill's producer settings
/// and waits for every acknowledgement: for loading data (the demo, tests,
/// benchmarks). Waits, never drops, when the local queue is full.
pub fn produce_all<'a>(
    settings: &KafkaSettings,
    topic: &str,
    records: impl IntoIterator<Item = (Option<&'a [u8]>, &'a [u8])>,
) -> rdkafka::error::KafkaResult<()> {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let producer: ThreadedProducer<DefaultProducerContext> = settings.producer().create()?;
    for (key, value) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        send_waiting(&producer, record).map_err(|(error, _)| error)?;
    }
    producer.flush(std::time::Duration::from_secs(60))
}

/// A record [`send_waiting`] could not queue, handed back with the error.
type Unsent<'a, K, P, C> = (
    rdkafka::error::KafkaError,
    rdkafka::producer::BaseRecord<'a, K, P, <C as rdkafka::producer::ProducerContext>::DeliveryOpaque>,
);

/// Queues `record`, waiting (never dropping it) while librdkafka's local
/// queue is full; any other refusal is handed back.
pub(crate) fn send_waiting<'a, K, P, C>(
    producer: &rdkafka::producer::ThreadedProducer<C>,
    mut record: rdkafka::producer::BaseRecord<'a, K, P, C::DeliveryOpaque>,
) -> Result<(), Unsent<'a, K, P, C>>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
    C: rdkafka::producer::ProducerContext + 'static,
{
    loop {
        match producer.send(record) {
            Err((
                rdkafka::error::KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                returned,
            )) => {
                record = returned;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{KafkaSettings, protocol};

    #[test]
    fn scoped_overrides_reach_only_their_client() {
        let mut settings = KafkaSettings::new("b:9092");
        settings.overrides = vec![
            ("consumer.session.timeout.ms".into(), "6000".into()),
            ("producer.linger.ms".into(), "5".into()),
            ("security.protocol".into(), "ssl".into()),
        ];
        let consumer = settings.consumer("g");
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("linger.ms"), None);
        assert_eq!(consumer.get("security.protocol"), Some("ssl"));
        let producer = settings.producer();
        assert_eq!(producer.get("linger.ms"), Some("5"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(settings.admin().get("session.timeout.ms"), None);
    }

    #[test]
    fn rill_runs_with_a_small_prefetch_that_an_override_replaces() {
        let mut settings = KafkaSettings::new("b:9092");
        let membership = protocol::Membership::default();
        let member = settings.stream_consumer("g", &membership);
        assert_eq!(member.get("queued.max.messages.kbytes"), Some("2048"));
        assert_eq!(member.get("group.id"), Some("g"));
        assert_eq!(member.get("enable.auto.commit"), Some("false"));
        assert_eq!(settings.consumer("g").get("queued.max.messages.kbytes"), Some("16384"));
        settings.overrides = vec![("consumer.queued.max.messages.kbytes".into(), "65536".into())];
        assert_eq!(
            settings
                .stream_consumer("g", &membership)
                .get("queued.max.messages.kbytes"),
            Some("65536")
        );
    }
}
