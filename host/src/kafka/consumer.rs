//! The consumer-group member: its committer, what it knows of partition
//! ends, and its records as the poll loop's [`RecordSource`]; rebalances go
//! to its [`RebalanceListener`] (the task manager, which the runtime owns).
//!
//! Rebalance callbacks run inside `poll`, on the polling thread, as
//! librdkafka delivers them: an assignment creates tasks (restoring ones
//! stay paused until their state is back), a revocation closes tasks after
//! committing what they processed.

use super::member::{
    CommitError, Offset, OffsetCommitter, RebalanceListener, RecordSource, SourceError, TopicPartition, Watermarks,
    show,
};
use super::phase::{MemberPhase, PhaseEvent};
use crate::record::{Header, InputRecord, TopicNames};
use parking_lot::{Mutex, MutexGuard};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientContext, Message, Offset as KafkaOffset, TopicPartitionList};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The consumer's context: rebalance callbacks run the listener.
pub(crate) struct GroupContext {
    listener: Arc<Mutex<dyn RebalanceListener>>,
    /// Where the member stands in its group (see [`MemberPhase`]).
    phase: Mutex<MemberPhase>,
    /// Rebalance callbacks so far.
    callbacks: AtomicU64,
    /// An assignment that could not be taken (its committed offsets could
    /// not be read); stops the run.
    failed: Mutex<Option<SourceError>>,
}

impl GroupContext {
    fn listener(&self) -> MutexGuard<'_, dyn RebalanceListener + 'static> {
        self.listener.lock()
    }

    fn phase(&self) -> MemberPhase {
        *self.phase.lock()
    }

    /// Moves the phase on `event`; notes the callback (`kind`, its
    /// partitions and how long it took) in metrics, `/status` and the log.
    fn record(&self, event: PhaseEvent, kind: &'static str, partitions: &[TopicPartition], took: Duration) {
        let mut phase = self.phase.lock();
        *phase = phase.after(event);
        drop(phase);
        self.callbacks.fetch_add(1, Ordering::AcqRel);
        use crate::observe::metrics as m;
        metrics::counter!(m::REBALANCES, "kind" => kind).increment(1);
        metrics::histogram!(m::REBALANCE_SECONDS, "kind" => kind).record(took.as_secs_f64());
        crate::observe::telemetry().event("rebalance", &format!("partitions-{kind}"), show(partitions));
        tracing::info!("partitions {kind}: {}", show(partitions));
        tracing::debug!("the {kind} callback took {took:?}");
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else { return };
        let partitions = partitions(tpl);
        let started = Instant::now();
        if consumer.assignment_lost() {
            // Another member may own them already: nothing of theirs may be
            // committed (a commit now could even be accepted, as a plain
            // consumer's, and move the new owner's offsets back).
            tracing::warn!(
                "partitions lost (session expired or fenced): {}; closing their tasks without committing",
                show(&partitions)
            );
            self.listener().lost(&partitions);
            self.record(PhaseEvent::Lose, "lost", &partitions, started.elapsed());
            return;
        }
        // Eager protocol: librdkafka sends JoinGroup only once this
        // returns, so the revocation commits once and gives up on a
        // refusal by the rebalancing group (see handle_revocation and
        // docs/design/002, "Revocation under the eager protocol").
        // Incremental: only these partitions move; the other tasks go on.
        let event = match consumer.rebalance_protocol() {
            RebalanceProtocol::Cooperative => PhaseEvent::RevokeSome,
            _ => PhaseEvent::RevokeAll,
        };
        self.listener().revoked(&partitions, &Committer(consumer));
        self.record(event, "revoked", &partitions, started.elapsed());
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = partitions(tpl);
                let started = Instant::now();
                let committed = match committed_offsets(consumer, tpl) {
                    Ok(committed) => committed,
                    Err(error) => {
                        self.failed.lock().get_or_insert(error);
                        return;
                    }
                };
                // Restoring tasks' partitions wait, paused, for their state;
                // the state updater restores it while this loop polls on.
                let restoring = self.listener().assigned(&partitions, &committed);
                set_fetching(consumer, &restoring, false);
                self.record(PhaseEvent::Assign, "assigned", &partitions, started.elapsed());
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!("rebalance error: {error}"),
        }
        // Under incremental protocols a callback carries only the change.
        if let Ok(assignment) = consumer.assignment() {
            tracing::info!("assignment now: {}", show(&partitions(&assignment)));
        }
    }
}

/// The group's committed offsets of newly assigned partitions (those that
/// have one). One OffsetFetch request, made while the assignment is taken.
fn committed_offsets(
    consumer: &BaseConsumer<GroupContext>,
    tpl: &TopicPartitionList,
) -> Result<HashMap<TopicPartition, i64>, SourceError> {
    if tpl.count() == 0 {
        return Ok(HashMap::new());
    }
    let mut last_error = None;
    for _ in 0..3 {
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(30)) {
            Ok(offsets) => {
                return Ok(offsets
                    .elements()
                    .iter()
                    .filter_map(|e| {
                        let offset = e.offset().to_raw().filter(|o| *o >= 0)?;
                        Some((TopicPartition::new(e.topic(), e.partition()), offset))
                    })
                    .collect());
            }
            Err(error) => {
                tracing::warn!("reading committed offsets of the assignment: {error}; retrying");
                last_error = Some(error);
            }
        }
    }
    Err(SourceError::Read {
        what: "the group's committed offsets",
        source: last_error.expect("three attempts failed"),
    })
}

/// The consumer's knowledge of partition ends: cached high watermarks from
/// fetch responses, and the first offset from the broker when needed.
struct ConsumerMarks<'a>(&'a BaseConsumer<GroupContext>);

impl Watermarks for ConsumerMarks<'_> {
    fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        crate::kafka::cached_high_watermark(self.0.client(), topic, partition)
    }

    fn low(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .ok()
            .map(|(low, _)| low)
    }

    fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        crate::kafka::consumer_position(self.0.client(), topic, partition)
    }
}

struct Committer<'a>(&'a BaseConsumer<GroupContext>);

impl OffsetCommitter for Committer<'_> {
    fn commit(&self, offsets: &[Offset]) -> Result<(), CommitError> {
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, KafkaOffset::Offset(*offset))
                .map_err(CommitError::Failed)?;
        }
        self.0.commit(&tpl, CommitMode::Sync).map_err(commit_error)
    }

    fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        self.0.group_metadata()
    }

    fn lost(&self) -> bool {
        self.0.assignment_lost()
    }
}

/// Classifies a failed commit by librdkafka's error code: the codes with
/// which a coordinator refuses a commit of a generation that is ending or
/// over mean retrying cannot help (see [`CommitError::Rebalancing`]).
fn commit_error(error: KafkaError) -> CommitError {
    use rdkafka::types::RDKafkaErrorCode::{
        FencedMemberEpoch, IllegalGeneration, RebalanceInProgress, StaleMemberEpoch, UnknownMemberId,
    };
    match error {
        // The last two are KIP-848's: the commit carried a member epoch the
        // group has moved past.
        KafkaError::ConsumerCommit(
            RebalanceInProgress | IllegalGeneration | UnknownMemberId | StaleMemberEpoch | FencedMemberEpoch,
        ) => CommitError::Rebalancing(error),
        error => CommitError::Failed(error),
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

/// The group member as the poll loop sees it.
pub struct KafkaSource {
    consumer: BaseConsumer<GroupContext>,
    /// Nanoseconds spent copying polled messages into input records
    /// (estimated from one message in [`COPY_SAMPLE`]).
    copy_nanos: Cell<u64>,
    /// Messages polled, to pick the ones timed.
    polled: Cell<u64>,
    /// The topics' names, shared by their records.
    topics: std::cell::RefCell<TopicNames>,
}

/// One polled message in this many has its copy timed.
const COPY_SAMPLE: u64 = 16;

impl KafkaSource {
    /// Joins group `group` with `config` (rill's consumer settings),
    /// subscribed to `topics`; rebalances go to `listener`.
    pub fn join(
        config: &rdkafka::ClientConfig,
        listener: Arc<Mutex<dyn RebalanceListener>>,
        topics: &[&str],
    ) -> rdkafka::error::KafkaResult<Self> {
        let context = GroupContext {
            listener,
            phase: Mutex::new(MemberPhase::Unjoined),
            callbacks: AtomicU64::new(0),
            failed: Mutex::new(None),
        };
        for kind in ["assigned", "revoked", "lost"] {
            metrics::counter!(crate::observe::metrics::REBALANCES, "kind" => kind).increment(0);
        }
        let consumer: BaseConsumer<GroupContext> = config.create_with_context(context)?;
        consumer.subscribe(topics)?;
        Ok(KafkaSource {
            consumer,
            copy_nanos: Cell::new(0),
            polled: Cell::new(0),
            topics: Default::default(),
        })
    }
}

impl RecordSource for KafkaSource {
    fn poll(&self, timeout: Duration) -> Option<Result<InputRecord, SourceError>> {
        match self.consumer.poll(timeout)? {
            Err(KafkaError::MessageConsumptionFatal(code)) => {
                // librdkafka reports __FATAL; the cause is kept aside.
                let (code, reason) = self
                    .consumer
                    .client()
                    .fatal_error()
                    .unwrap_or((code, "fatal consumer error".into()));
                Some(Err(SourceError::Fatal { code, reason }))
            }
            Err(source) => Some(Err(SourceError::Poll { source })),
            Ok(message) => {
                // Timed for one message in COPY_SAMPLE (two clock reads per
                // message were a visible part of the copy they measured).
                let polled = self.polled.get().wrapping_add(1);
                self.polled.set(polled);
                if polled % COPY_SAMPLE != 0 {
                    return Some(Ok(to_input_record(&message, &mut self.topics.borrow_mut())));
                }
                let copying = Instant::now();
                let record = to_input_record(&message, &mut self.topics.borrow_mut());
                self.copy_nanos
                    .set(self.copy_nanos.get() + copying.elapsed().as_nanos() as u64 * COPY_SAMPLE);
                Some(Ok(record))
            }
        }
    }

    fn set_fetching(&self, partitions: &[TopicPartition], fetch: bool) {
        set_fetching(&self.consumer, partitions, fetch);
    }

    fn drained(&self) -> Result<bool, SourceError> {
        drained(&self.consumer)
    }

    fn take_failure(&self) -> Option<SourceError> {
        self.consumer.context().failed.lock().take()
    }

    fn assigned(&self) -> bool {
        self.consumer.context().phase() != MemberPhase::Unjoined
    }

    fn rebalancing(&self) -> bool {
        matches!(
            self.consumer.context().phase(),
            MemberPhase::Rebalancing | MemberPhase::Lost
        )
    }

    fn rebalances(&self) -> u64 {
        self.consumer.context().callbacks.load(Ordering::Acquire)
    }

    fn copy_nanos(&self) -> u64 {
        self.copy_nanos.get()
    }

    fn owned(&self, partitions: &[TopicPartition]) -> Vec<TopicPartition> {
        let Ok(assignment) = self.consumer.assignment() else {
            return Vec::new();
        };
        let assigned: std::collections::HashSet<TopicPartition> = assignment
            .elements()
            .iter()
            .map(|e| TopicPartition::new(e.topic(), e.partition()))
            .collect();
        partitions.iter().filter(|p| assigned.contains(*p)).cloned().collect()
    }

    fn rewind(&self, partitions: &[TopicPartition]) -> Result<HashMap<TopicPartition, i64>, SourceError> {
        if partitions.is_empty() {
            return Ok(HashMap::new());
        }
        let mut tpl = TopicPartitionList::new();
        for TopicPartition { topic, partition } in partitions {
            tpl.add_partition(topic, *partition);
        }
        let committed = committed_offsets(&self.consumer, &tpl)?;
        let mut seek = TopicPartitionList::new();
        for tp in partitions {
            let offset = committed
                .get(tp)
                .map_or(rdkafka::Offset::Beginning, |o| rdkafka::Offset::Offset(*o));
            seek.add_partition_offset(&tp.topic, tp.partition, offset)
                .map_err(|source| seek_error(std::slice::from_ref(tp), source))?;
        }
        // A seek also drops what was fetched past it and not yet polled.
        let sought = self
            .consumer
            .seek_partitions(seek, Duration::from_secs(30))
            .map_err(|source| seek_error(partitions, source))?;
        for element in sought.elements() {
            element
                .error()
                .map_err(|source| seek_error(&[TopicPartition::new(element.topic(), element.partition())], source))?;
        }
        Ok(committed)
    }
}

impl OffsetCommitter for KafkaSource {
    fn commit(&self, offsets: &[Offset]) -> Result<(), CommitError> {
        Committer(&self.consumer).commit(offsets)
    }

    fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        self.consumer.group_metadata()
    }

    fn lost(&self) -> bool {
        self.consumer.assignment_lost()
    }
}

impl Watermarks for KafkaSource {
    fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        ConsumerMarks(&self.consumer).high(topic, partition)
    }

    fn low(&self, topic: &str, partition: i32) -> Option<i64> {
        ConsumerMarks(&self.consumer).low(topic, partition)
    }

    fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        ConsumerMarks(&self.consumer).position(topic, partition)
    }
}

/// Pauses or resumes fetching `partitions` (flow control, restores).
fn set_fetching<C: ConsumerContext>(consumer: &BaseConsumer<C>, partitions: &[TopicPartition], fetch: bool) {
    if partitions.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for TopicPartition { topic, partition } in partitions {
        tpl.add_partition(topic, *partition);
    }
    let result = if fetch {
        consumer.resume(&tpl)
    } else {
        consumer.pause(&tpl)
    };
    match result {
        Ok(()) => tracing::debug!("{} {}", if fetch { "fetching" } else { "paused" }, show(partitions)),
        Err(error) => tracing::warn!("cannot pause/resume {}: {error}", show(partitions)),
    }
}

/// True when every assigned partition has been consumed up to its high
/// watermark.
fn drained(consumer: &BaseConsumer<GroupContext>) -> Result<bool, SourceError> {
    let timeout = Duration::from_secs(10);
    let positions = consumer.position().map_err(read_error("consumer positions"))?;
    let mut committed = None;
    for element in positions.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        // A paused task's partition cannot drain; it waits for a restart.
        if consumer.context().listener().is_paused(topic, partition) {
            continue;
        }
        let consumed = element.offset().to_raw().filter(|o| *o >= 0);
        let cached = crate::kafka::cached_high_watermark(consumer.client(), topic, partition);
        let (position, high) = match (consumed, cached) {
            (Some(position), Some(high)) => (position, high),
            _ => {
                let (low, high) = consumer
                    .fetch_watermarks(topic, partition, timeout)
                    .map_err(read_error("watermarks"))?;
                if committed.is_none() {
                    committed = Some(consumer.committed(timeout).map_err(read_error("committed offsets"))?);
                }
                let committed = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(topic, partition))
                    .and_then(|e| e.offset().to_raw());
                (consumed.or(committed.filter(|o| *o >= 0)).unwrap_or(low), high)
            }
        };
        if position < high {
            tracing::debug!("{topic}/{partition} not drained: at {position} of {high}");
            return Ok(false);
        }
    }
    Ok(true)
}

/// A failed read of `what` (see [`SourceError::Read`]).
fn read_error(what: &'static str) -> impl Fn(KafkaError) -> SourceError {
    move |source| SourceError::Read { what, source }
}

/// A failed seek of `partitions` (see [`SourceError::Seek`]).
fn seek_error(partitions: &[TopicPartition], source: KafkaError) -> SourceError {
    SourceError::Seek {
        partitions: partitions.to_vec(),
        source,
    }
}

/// A consumed message as the host's record type, its topic's name shared
/// through `topics`.
pub(crate) fn to_input_record(message: &BorrowedMessage<'_>, topics: &mut TopicNames) -> InputRecord {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| Header {
                    key: h.key.to_string(),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect()
        })
        .unwrap_or_default();
    InputRecord {
        topic: topics.get(message.topic()),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(0),
        key: message.key().map(bytes::Bytes::copy_from_slice),
        value: message.payload().map(bytes::Bytes::copy_from_slice),
        headers,
    }
}

#[cfg(test)]
mod tests {
    //! The adapter's mapping of librdkafka's errors, by code, without a
    //! broker.
    use super::*;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn a_commit_refused_by_a_rebalancing_group_is_told_from_one_worth_retrying() {
        use RDKafkaErrorCode::*;
        for code in [RebalanceInProgress, IllegalGeneration, UnknownMemberId] {
            let error = commit_error(KafkaError::ConsumerCommit(code));
            assert!(
                matches!(&error, CommitError::Rebalancing(e) if e.rdkafka_error_code() == Some(code)),
                "{code:?}: {error:?}"
            );
        }
        for error in [
            KafkaError::ConsumerCommit(RequestTimedOut),
            KafkaError::ConsumerCommit(CoordinatorNotAvailable),
            // The same code outside a commit is not the coordinator's refusal.
            KafkaError::OffsetFetch(RebalanceInProgress),
        ] {
            let mapped = commit_error(error.clone());
            assert!(
                matches!(&mapped, CommitError::Failed(e) if *e == error),
                "{error:?}: {mapped:?}"
            );
        }
    }

    #[test]
    fn failed_reads_and_seeks_keep_the_code_and_name_what_failed() {
        let error = read_error("watermarks")(KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure));
        assert!(matches!(
            &error,
            SourceError::Read { what: "watermarks", source } if source.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure)
        ));
        let partitions = [TopicPartition::new("in", 0), TopicPartition::new("in", 3)];
        let error = seek_error(&partitions, KafkaError::Seek("timed out".into()));
        assert!(matches!(&error, SourceError::Seek { partitions: p, .. } if p[..] == partitions[..]));
        assert_eq!(error.to_string(), "seeking in/0, in/3: Seek error: timed out");
    }

    #[test]
    fn a_fenced_static_member_is_told_to_give_each_instance_its_own_id() {
        let error = SourceError::Fatal {
            code: RDKafkaErrorCode::FencedInstanceId,
            reason:
                "Fatal consumer error: Broker: Static consumer fenced by other consumer with same group.instance.id"
                    .into(),
        };
        assert_eq!(
            error.to_string(),
            "the group member stopped on a fatal error: Fatal consumer error: Broker: Static consumer fenced by other \
             consumer with same group.instance.id (FencedInstanceId)\n  fix: another running instance uses the same \
             --instance-id; give each instance its own (or --instance-id auto, which takes the state directory's id)"
        );
        let other = SourceError::Fatal {
            code: RDKafkaErrorCode::InvalidConfig,
            reason: "bad".into(),
        };
        assert!(!other.to_string().contains("fix:"), "no fix is made up: {other}");
    }

    /// A listener for a member that is never assigned anything.
    struct Unassigned;

    impl RebalanceListener for Unassigned {
        fn assigned(&mut self, _: &[TopicPartition], _: &HashMap<TopicPartition, i64>) -> Vec<TopicPartition> {
            Vec::new()
        }
        fn revoked(&mut self, _: &[TopicPartition], _: &dyn OffsetCommitter) {}
        fn lost(&mut self, _: &[TopicPartition]) {}
        fn is_paused(&self, _: &str, _: i32) -> bool {
            false
        }
    }

    #[test]
    fn rewinding_a_partition_the_member_does_not_have_is_a_seek_error_naming_it() {
        let broker = crate::kafka::embedded::EmbeddedBroker::start(1).unwrap();
        broker.create_topic("in", 1).unwrap();
        let settings = crate::kafka::KafkaSettings::new(broker.bootstrap_servers());
        let source = KafkaSource::join(
            &settings.consumer("rewind-test"),
            Arc::new(Mutex::new(Unassigned)),
            &["in"],
        )
        .unwrap();
        let elsewhere = TopicPartition::new("elsewhere", 0);
        let error = source.rewind(std::slice::from_ref(&elsewhere)).unwrap_err();
        assert!(
            matches!(&error, SourceError::Seek { partitions, source }
                if *partitions == [elsewhere.clone()] && source.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownPartition)),
            "{error:?}"
        );
    }
}
