//! The producer all tasks share, and acknowledgement tracking per batch.
//!
//! At-least-once needs one fact from the producer: "every record produced
//! for input offsets below X has been acknowledged". Each processing batch
//! gets a [`BatchAck`]; every record produced for it carries the ack as its
//! delivery opaque, and the delivery callback counts it down. A partition's
//! offset is committed only up to the end of its oldest incomplete batch.
//!
//! A record the brokers refuse for what it is (too large, bad timestamp,
//! invalid) is handed to the batch's [`Refusals`], which dead-letters the
//! input that produced it before the batch can complete; any other delivery
//! failure (authorization, unknown topic, a message timeout) is a failure of
//! the batch, which is then never committed. Transient failures never get
//! here: the producer retries them for as long as it takes
//! (`message.timeout.ms=0`).

use parking_lot::Mutex;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

/// Acknowledgements outstanding for one processing batch.
///
/// Starts with one "unsealed" token so that it cannot look complete while
/// records are still being produced; [`BatchAck::seal`] removes it.
pub struct BatchAck {
    outstanding: AtomicUsize,
    failure: Mutex<Option<DeliveryError>>,
    /// Dead-letters inputs whose outputs were refused; none for acks whose
    /// records have no input (changelogs) or whose refusals must fail.
    /// Dropped as soon as the ack completes: it keeps the batch's input
    /// records alive, and nothing can be refused any more.
    refusals: Mutex<Option<Arc<dyn Refusals>>>,
}

impl std::fmt::Debug for BatchAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchAck")
            .field("outstanding", &self.outstanding)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// What to do with an output the brokers refused for what it is: send the
/// input that produced it (index `input` in the batch) to the dead-letter
/// topic, counted against the same ack, so the batch completes only once
/// the dead letter is acknowledged.
pub trait Refusals: Send + Sync {
    /// Dead-letters input `input` because an output to `topic` was refused
    /// with `error`. An error fails the batch.
    fn refused(&self, input: u32, topic: &str, error: &KafkaError, ack: &Arc<BatchAck>) -> Result<(), RefusalError>;
}

/// Why the input behind a refused output could not be dead-lettered (see
/// [`Refusals`]): the batch then fails, as if the output had been refused
/// for its topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusalError {
    /// The refused output names an input index no run of the batch holds
    /// (a rill bug).
    #[error("refused output of unknown input {input}")]
    UnknownInput {
        /// The index the output carried.
        input: u32,
    },
    /// The producer the dead letter would go through is gone (the
    /// application is stopping).
    #[error("the producer is gone")]
    ProducerGone,
    /// The producer refused the dead letter itself.
    #[error("dead-lettering a refused output: {source}")]
    Send {
        /// librdkafka's error.
        source: KafkaError,
    },
}

/// Why a batch's outputs were not all delivered: the batch is never
/// committed, and its task stops (a restart reprocesses from the last
/// commit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// A record to `topic` was refused for the topic, the cluster or the
    /// moment (authorization, unknown topic, a message timeout), or for
    /// what it is while there was no input to dead-letter (changelog
    /// records, dead letters).
    #[error("delivery to {topic} failed: {source}")]
    Refused {
        /// The record's topic.
        topic: String,
        /// librdkafka's error, with its code.
        source: KafkaError,
    },
    /// A record was refused for what it is, and its input could not be
    /// dead-lettered.
    #[error(transparent)]
    DeadLetter(#[from] RefusalError),
}

/// Whether the client or broker refused a record for what it is (it can
/// never be written, so its input is dead-lettered) rather than for the
/// topic, the cluster or the moment.
pub fn refuses_record(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        MessageSizeTooLarge
            | InvalidMessageSize
            | MessageBatchTooLarge
            | InvalidMessage
            | BadMessage
            | InvalidTimestamp
            | InvalidRecord
    )
}

impl BatchAck {
    /// A new, unsealed ack with nothing produced yet.
    pub fn new() -> Arc<Self> {
        Arc::new(BatchAck {
            outstanding: AtomicUsize::new(1),
            failure: Mutex::new(None),
            refusals: Mutex::new(None),
        })
    }

    /// A new ack whose refused records are handed to `refusals` (shared:
    /// a task keeps adding the inputs of a batch's later stages to it while
    /// the ack already holds it).
    pub fn with_refusals(refusals: Arc<dyn Refusals>) -> Arc<Self> {
        let ack = Self::new();
        *ack.refusals.lock() = Some(refusals);
        ack
    }

    /// Marks the end of producing for this batch.
    pub fn seal(&self) {
        self.settle();
    }

    /// Counts one outstanding token down; the last one releases what the
    /// ack kept for refusals.
    fn settle(&self) {
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) == 1 {
            let released = self.refusals.lock().take();
            drop(released);
        }
    }

    /// True once sealed and every record is acknowledged (or failed).
    pub fn is_complete(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) == 0
    }

    /// The first delivery failure, if any record could not be delivered.
    pub fn failure(&self) -> Option<DeliveryError> {
        self.failure.lock().clone()
    }

    /// One more record sent under this ack (a sink calls it per send).
    pub(crate) fn sent(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    /// One record's delivery report (a sink calls it per record).
    pub(crate) fn delivered(&self, result: Result<(), DeliveryError>) {
        if let Err(error) = result {
            self.failure.lock().get_or_insert(error);
        }
        self.settle();
    }

    /// Settles a record that could not be delivered: a refusal of the
    /// record itself with a known input is dead-lettered (the dead letter
    /// joins this ack before the refused record leaves it); anything else
    /// fails the batch.
    pub fn undeliverable(self: &Arc<Self>, input: Option<u32>, topic: &str, error: &KafkaError) {
        let refused_record = error.rdkafka_error_code().is_some_and(refuses_record);
        let refusals = self.refusals.lock().clone();
        if refused_record && let (Some(input), Some(refusals)) = (input, refusals) {
            let outcome = refusals.refused(input, topic, error, self);
            self.delivered(outcome.map_err(DeliveryError::from));
            return;
        }
        self.delivered(Err(DeliveryError::Refused {
            topic: topic.to_string(),
            source: error.clone(),
        }));
    }
}

/// What each produced record carries to its delivery report.
pub struct Delivery {
    ack: Arc<BatchAck>,
    /// Index of the input record in its batch, for outputs; `None` for
    /// changelog records and dead letters.
    input: Option<u32>,
    /// Moved to one past the record's offset once it is acknowledged.
    offsets: Option<Arc<AtomicI64>>,
    /// Told the report too, under this id.
    listener: Option<(Arc<dyn DeliveryListener>, u64)>,
}

/// Routes delivery reports to the batch each record belongs to.
pub struct AckContext;

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        match result {
            Ok(message) => {
                if let Some(offsets) = &delivery.offsets {
                    offsets.fetch_max(message.offset() + 1, Ordering::AcqRel);
                }
                if let Some((listener, id)) = &delivery.listener {
                    let timestamp = message.timestamp().to_millis().unwrap_or(-1);
                    listener.delivered(
                        *id,
                        message.topic(),
                        Ok((message.partition(), message.offset(), timestamp)),
                    );
                }
                delivery.ack.delivered(Ok(()))
            }
            Err((error, message)) => {
                if let Some((listener, id)) = &delivery.listener {
                    listener.delivered(*id, message.topic(), Err(error.to_string()));
                }
                delivery.ack.undeliverable(delivery.input, message.topic(), error)
            }
        }
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
    /// Index in its batch of the input record this output came from, so a
    /// refused output can dead-letter it; `None` for changelog records and
    /// dead letters (their refusal fails the batch).
    pub input: Option<u32>,
    /// Where to record how far the destination partition is acknowledged
    /// (one past this record's offset): changelogs, for checkpoints.
    pub offsets: Option<&'a Arc<AtomicI64>>,
    /// Who else wants this record's delivery report, and the id to report
    /// it under: a task's interceptors (`on-acknowledgement`).
    pub listener: Option<(&'a Arc<dyn DeliveryListener>, u64)>,
}

/// Where a record was written: partition, offset and timestamp (ms).
pub type Written = (i32, i64, i64);

/// Wants delivery reports of records sent with it (an interceptor chain's
/// `on-acknowledgement`). Called on the producer's delivery thread, so it
/// must only note the report, never block or call a plugin.
pub trait DeliveryListener: Send + Sync {
    /// Record `id` to `topic` was written where `result` says, or not,
    /// with librdkafka's error.
    fn delivered(&self, id: u64, topic: &str, result: Result<Written, String>);
}

/// Where tasks send records: the Kafka producer in production, memory in
/// tests that drive tasks without a broker.
pub trait RecordSink: Send + Sync {
    /// Queues `record`, counting it against `ack` until it is acknowledged.
    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), KafkaError>;
    /// Waits until everything queued is acknowledged, up to `timeout`.
    fn flush(&self, timeout: Duration) -> Result<(), KafkaError>;
}

/// The shared producer. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct OutputProducer {
    inner: Arc<ThreadedProducer<AckContext>>,
    /// Test hook (`rill run --inject-commit-failure N`): the Nth commit
    /// that carries offsets fails as an abortable error instead of being
    /// sent, so the abort path can be shown on a real broker.
    fail_commit: Option<u64>,
    commits: Arc<AtomicI64>,
    /// Records sent since the transaction began.
    sent: Arc<AtomicI64>,
}

/// Why a transaction could not be committed (or begun, or aborted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// The transaction must be aborted; the producer stays usable (a
    /// commit refused for a stale group generation, a timeout, a record
    /// that could not be delivered).
    #[error("the transaction must be aborted: {0}")]
    Abortable(String),
    /// The producer cannot go on (fenced by a newer instance with the same
    /// transactional.id, or a broker-side fatal error).
    #[error("the transactional producer cannot continue: {0}")]
    Fatal(String),
}

impl TxnError {
    fn of(what: &str, error: KafkaError) -> Self {
        let fatal = match &error {
            KafkaError::Transaction(e) => e.is_fatal(),
            _ => false,
        };
        let message = format!("{what}: {error}");
        if fatal {
            TxnError::Fatal(message)
        } else {
            TxnError::Abortable(message)
        }
    }
}

/// The transaction operations exactly-once needs (Kafka's transactional
/// producer): the task manager drives them at each commit; tests drive a
/// stand-in.
pub trait Transactions: Send + Sync {
    /// Starts the next transaction; every record sent until the next
    /// commit or abort belongs to it.
    fn begin(&self) -> Result<(), TxnError>;
    /// Waits until every record sent in the open transaction is
    /// acknowledged (or failed), so the batches' acks are final.
    fn flush(&self) -> Result<(), TxnError>;
    /// Adds the input `offsets` (topic, partition, next offset) with the
    /// consumer's group metadata to the open transaction: the group
    /// coordinator refuses them from a member no longer in the group.
    fn send_offsets(
        &self,
        offsets: &[(String, i32, i64)],
        group: Option<&rdkafka::consumer::ConsumerGroupMetadata>,
    ) -> Result<(), TxnError>;
    /// Commits the open transaction.
    fn commit(&self) -> Result<(), TxnError>;
    /// Aborts the open transaction: nothing sent in it becomes visible to
    /// read_committed readers.
    fn abort(&self) -> Result<(), TxnError>;
    /// Whether anything was sent in the open transaction.
    fn has_records(&self) -> bool;
}

/// How long one transaction operation may take before it counts as failed.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);

impl OutputProducer {
    /// Creates the producer from a client config.
    pub fn new(config: &rdkafka::ClientConfig) -> Result<Self, KafkaError> {
        Ok(OutputProducer {
            inner: Arc::new(config.create_with_context(AckContext)?),
            fail_commit: None,
            commits: Arc::new(AtomicI64::new(0)),
            sent: Arc::new(AtomicI64::new(0)),
        })
    }

    /// Creates a transactional producer (the config names its
    /// `transactional.id`), fences any older producer with that id (its
    /// open transaction is aborted), and begins the first transaction.
    /// `fail_commit`: see [`OutputProducer::fail_commit`].
    pub fn transactional(config: &rdkafka::ClientConfig, fail_commit: Option<u64>) -> Result<Self, TxnError> {
        let inner: ThreadedProducer<AckContext> = config
            .create_with_context(AckContext)
            .map_err(|e| TxnError::Fatal(format!("creating the transactional producer: {e}")))?;
        inner
            .init_transactions(TXN_TIMEOUT)
            .map_err(|e| TxnError::Fatal(format!("initializing transactions: {e}")))?;
        let producer = OutputProducer {
            inner: Arc::new(inner),
            fail_commit,
            commits: Arc::new(AtomicI64::new(0)),
            sent: Arc::new(AtomicI64::new(0)),
        };
        producer.begin()?;
        Ok(producer)
    }

    /// Waits for every queued record to be delivered, up to `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}

impl Transactions for OutputProducer {
    fn begin(&self) -> Result<(), TxnError> {
        self.sent.store(0, Ordering::Release);
        self.inner
            .begin_transaction()
            .map_err(|e| TxnError::of("beginning a transaction", e))
    }

    fn flush(&self) -> Result<(), TxnError> {
        self.inner
            .flush(TXN_TIMEOUT)
            .map_err(|e| TxnError::of("flushing the transaction", e))
    }

    fn send_offsets(
        &self,
        offsets: &[(String, i32, i64)],
        group: Option<&rdkafka::consumer::ConsumerGroupMetadata>,
    ) -> Result<(), TxnError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let n = self.commits.fetch_add(1, Ordering::AcqRel) as u64 + 1;
        if self.fail_commit == Some(n) {
            return Err(TxnError::Abortable(format!(
                "commit {n} failed on purpose (--inject-commit-failure {n})"
            )));
        }
        let group = group
            .ok_or_else(|| TxnError::Abortable("the consumer has no group metadata (not a group member)".into()))?;
        let mut tpl = rdkafka::TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*offset))
                .map_err(|e| TxnError::Abortable(format!("offset {topic}/{partition}@{offset}: {e}")))?;
        }
        tracing::debug!(
            offsets = offsets.len(),
            "adding offsets to the transaction: {}",
            offsets
                .iter()
                .map(|(t, p, o)| format!("{t}/{p}@{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.inner
            .send_offsets_to_transaction(&tpl, group, TXN_TIMEOUT)
            .map_err(|e| TxnError::of("adding the input offsets to the transaction", e))
    }

    fn commit(&self) -> Result<(), TxnError> {
        self.inner
            .commit_transaction(TXN_TIMEOUT)
            .map_err(|e| TxnError::of("committing the transaction", e))
    }

    fn abort(&self) -> Result<(), TxnError> {
        self.inner
            .abort_transaction(TXN_TIMEOUT)
            .map_err(|e| TxnError::of("aborting the transaction", e))
    }

    fn has_records(&self) -> bool {
        self.sent.load(Ordering::Acquire) > 0
    }
}

impl RecordSink for OutputProducer {
    /// Queues `record`, counting it against `ack`. Waits (never drops) when
    /// librdkafka's local queue is full.
    fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), KafkaError> {
        let delivery = Box::new(Delivery {
            ack: ack.clone(),
            input: record.input,
            offsets: record.offsets.cloned(),
            listener: record.listener.map(|(listener, id)| (listener.clone(), id)),
        });
        let mut base = BaseRecord::with_opaque_to(record.topic, delivery).timestamp(record.timestamp);
        // No header list at all for records without headers (most): it is
        // an allocation in librdkafka per record.
        if !record.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (key, value) in &record.headers {
                headers = headers.insert(KafkaHeader { key, value: *value });
            }
            base = base.headers(headers);
        }
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
        self.sent.fetch_add(1, Ordering::AcqRel);
        super::send_waiting(&self.inner, base).map_err(|(error, _)| {
            // Refused before it was queued: the caller decides.
            ack.delivered(Ok(()));
            error
        })
    }

    fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}

#[cfg(test)]
mod tests {
    //! The acknowledgement and refusal path without a broker: what a
    //! batch's ack waits for, which refusals dead-letter an input and
    //! which fail the batch.
    use super::*;

    /// Records each refusal and, like the task's dead-letter code, sends
    /// one dead letter under the same ack (acknowledged when told), or
    /// fails to with `fail`.
    #[derive(Default)]
    struct Letters {
        refused: Mutex<Vec<(u32, String)>>,
        pending: Mutex<Vec<Arc<BatchAck>>>,
        fail: Option<RefusalError>,
    }

    impl Refusals for Letters {
        fn refused(&self, input: u32, topic: &str, _: &KafkaError, ack: &Arc<BatchAck>) -> Result<(), RefusalError> {
            self.refused.lock().push((input, topic.to_string()));
            if let Some(error) = &self.fail {
                return Err(error.clone());
            }
            ack.sent();
            self.pending.lock().push(ack.clone());
            Ok(())
        }
    }

    fn too_large() -> KafkaError {
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
    }

    #[test]
    fn an_ack_completes_once_sealed_and_every_record_is_delivered() {
        let ack = BatchAck::new();
        ack.sent();
        ack.sent();
        ack.delivered(Ok(()));
        assert!(!ack.is_complete(), "one record and the seal outstanding");
        ack.seal();
        assert!(!ack.is_complete(), "one record outstanding");
        ack.delivered(Ok(()));
        assert!(ack.is_complete());
        assert_eq!(ack.failure(), None);
    }

    #[test]
    fn a_record_refused_for_what_it_is_dead_letters_its_input_and_the_ack_waits_for_the_letter() {
        let letters = Arc::new(Letters::default());
        let ack = BatchAck::with_refusals(letters.clone());
        ack.sent();
        ack.seal();
        ack.undeliverable(Some(7), "out", &too_large());
        assert_eq!(*letters.refused.lock(), [(7, "out".to_string())]);
        assert!(
            !ack.is_complete(),
            "the dead letter joined the ack before the refused record left it"
        );
        letters.pending.lock().pop().unwrap().delivered(Ok(()));
        assert!(ack.is_complete());
        assert_eq!(ack.failure(), None, "a dead-lettered input does not fail the batch");
    }

    #[test]
    fn a_refusal_for_the_topic_or_without_an_input_fails_the_batch() {
        for (input, error) in [
            (
                Some(1),
                KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed),
            ),
            (None, too_large()),
        ] {
            let letters = Arc::new(Letters::default());
            let ack = BatchAck::with_refusals(letters.clone());
            ack.sent();
            ack.seal();
            ack.undeliverable(input, "out", &error);
            assert!(letters.refused.lock().is_empty(), "{error}: nothing to dead-letter");
            assert!(ack.is_complete());
            assert_eq!(
                ack.failure(),
                Some(DeliveryError::Refused {
                    topic: "out".into(),
                    source: error
                })
            );
        }
    }

    #[test]
    fn an_input_that_cannot_be_dead_lettered_fails_the_batch() {
        let letters = Arc::new(Letters {
            fail: Some(RefusalError::ProducerGone),
            ..Letters::default()
        });
        let ack = BatchAck::with_refusals(letters.clone());
        ack.sent();
        ack.seal();
        ack.undeliverable(Some(2), "out", &too_large());
        assert_eq!(*letters.refused.lock(), [(2, "out".to_string())]);
        assert!(ack.is_complete());
        assert_eq!(
            ack.failure(),
            Some(DeliveryError::DeadLetter(RefusalError::ProducerGone))
        );
    }

    #[test]
    fn only_refusals_of_the_record_itself_dead_letter() {
        assert!(refuses_record(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(refuses_record(RDKafkaErrorCode::InvalidTimestamp));
        assert!(!refuses_record(RDKafkaErrorCode::TopicAuthorizationFailed));
        assert!(!refuses_record(RDKafkaErrorCode::UnknownTopicOrPartition));
        assert!(!refuses_record(RDKafkaErrorCode::RequestTimedOut));
    }
}
