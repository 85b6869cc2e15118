//! What the rest of the host needs of the consumer-group member, as small
//! traits: commits ([`OffsetCommitter`]), partition ends ([`Watermarks`]),
//! records and pausing for the poll loop ([`RecordSource`]), and whom it
//! tells about rebalances ([`RebalanceListener`], the task manager). The
//! member (`kafka::consumer`) implements the first three over librdkafka;
//! the broker-less harness (`runtime::harness`) over a script. Defined
//! here, below the task and runtime layers, so Kafka I/O imports neither.

use crate::record::InputRecord;
use rdkafka::error::KafkaError;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// A partition of a topic: what the group assigns, offsets are committed
/// for, fetching is paused on, and a task owns one of per input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// `topic/partition`, as logs show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A topic partition with the offset to resume from.
pub type Offset = (String, i32, i64);

/// Why an offset commit did not happen: whether retrying it can help.
/// librdkafka's error is kept whole, with its code.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The group coordinator refused the commit because the group is
    /// rebalancing or has moved on to a generation this member is not in
    /// (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID).
    /// Retrying cannot succeed before the member rejoins; under the eager
    /// protocol its partitions are revoked anyway, and whoever owns them
    /// next resumes from the last commit (the at-least-once duplicate
    /// window).
    #[error("the group is rebalancing: {0}")]
    Rebalancing(KafkaError),
    /// Anything else (brokers unreachable, a timeout): retried later.
    #[error("{0}")]
    Failed(KafkaError),
}

/// Why the consumer-group member could not do what the poll loop or the
/// task manager asked of it, named by the operation, so that callers decide
/// by the variant (a poll error is logged and polling goes on, a failed
/// drain check means "not drained yet", a failed rewind or assignment
/// stops the run), never by the text. librdkafka's error is kept whole,
/// with its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// A poll returned librdkafka's error instead of a record (a broker or
    /// a partition's fetch failing): librdkafka goes on, and so does the
    /// poll loop.
    #[error("{source}")]
    Poll {
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Reading `what` of the assigned partitions (positions, watermarks,
    /// the group's committed offsets) failed, e.g. the brokers are
    /// unreachable: where the partitions stand cannot be told now.
    #[error("reading {what}: {source}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// Moving `partitions` back to their committed offsets failed: where
    /// the consumer reads them from is unknown.
    #[error("seeking {}: {source}", show(partitions))]
    Seek {
        /// The partitions the seek was for.
        partitions: Vec<TopicPartition>,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The member hit a fatal error and can take no further part in its
    /// group: with static membership, another member joined with the
    /// same `group.instance.id` (FENCED_INSTANCE_ID) or still holds it
    /// (UNRELEASED_INSTANCE_ID). The run stops; nothing more is committed.
    #[error("the group member stopped on a fatal error: {reason} ({code:?}){}", fatal_fix(*code))]
    Fatal {
        /// librdkafka's underlying error code.
        code: rdkafka::types::RDKafkaErrorCode,
        /// librdkafka's description.
        reason: String,
    },
    /// The source cannot move back to committed offsets at all (it has
    /// none to move back to), so `--on-fatal replace-worker` and the
    /// exactly-once roll-back cannot work with it.
    #[error("this source cannot rewind")]
    CannotRewind,
}

/// The fix for a fatal member error, where rill knows one.
fn fatal_fix(code: rdkafka::types::RDKafkaErrorCode) -> &'static str {
    use rdkafka::types::RDKafkaErrorCode::{FencedInstanceId, UnreleasedInstanceId};
    match code {
        FencedInstanceId | UnreleasedInstanceId => {
            "\n  fix: another running instance uses the same --instance-id; give each instance its own (or \
             --instance-id auto, which takes the state directory's id)"
        }
        _ => "",
    }
}

/// `topic/partition, ...` for logs and errors.
pub fn show(partitions: &[TopicPartition]) -> String {
    if partitions.is_empty() {
        return "none".into();
    }
    partitions
        .iter()
        .map(TopicPartition::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Commits consumer offsets synchronously (the consumer, in production).
pub trait OffsetCommitter {
    /// Commits `offsets`; an error is logged by the caller.
    fn commit(&self, offsets: &[Offset]) -> Result<(), CommitError>;
    /// The consumer's group metadata (member id and generation), which
    /// exactly-once commits offsets with, so the group coordinator refuses
    /// the commit of a member that is no longer in the generation (a
    /// zombie). `None` without a group.
    fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        None
    }
    /// Whether the member lost its partitions without giving them up (its
    /// session expired, e.g. while the process was paused): it must not
    /// commit anything any more. librdkafka then hands out group metadata
    /// without a member id, which a coordinator accepts as a plain
    /// consumer's, so the check cannot be left to the coordinator.
    fn lost(&self) -> bool {
        false
    }
}

/// What the consumer knows about where each input partition ends, so a
/// task can tell "nothing buffered, but more on the broker" from "caught
/// up" (see `task::partition_group`).
pub trait Watermarks {
    /// The high watermark last seen in a fetch response (no network);
    /// `None` before the partition was first fetched.
    fn high(&self, topic: &str, partition: i32) -> Option<i64>;
    /// The partition's first offset, asked of the broker: only for a
    /// partition with no committed offset and no record polled yet.
    fn low(&self, topic: &str, partition: i32) -> Option<i64>;
    /// The consumer's own next offset (no network), which steps over
    /// transaction markers: a topic written in transactions ends with a
    /// commit marker no record is delivered for, so one past the last
    /// delivered record stays one short of the high watermark (KAFKA-6607).
    /// `None` where the consumer cannot say.
    fn position(&self, _topic: &str, _partition: i32) -> Option<i64> {
        None
    }
}

/// Whom the member tells about rebalances, inside its `poll` (Kafka's
/// `ConsumerRebalanceListener`): the task manager.
pub trait RebalanceListener: Send {
    /// Partitions assigned to this member, with the group's committed
    /// offsets of those that have one. Returns the partitions to keep
    /// paused (their tasks restore state first).
    fn assigned(
        &mut self,
        partitions: &[TopicPartition],
        committed: &HashMap<TopicPartition, i64>,
    ) -> Vec<TopicPartition>;
    /// Partitions revoked from this member: commit what was processed
    /// (through `committer`) and close their tasks, promptly.
    fn revoked(&mut self, partitions: &[TopicPartition], committer: &dyn OffsetCommitter);
    /// Partitions this member lost without giving them up (its session
    /// expired, it was fenced): another member may own them already, so
    /// their tasks close without committing anything.
    fn lost(&mut self, partitions: &[TopicPartition]);
    /// Whether the task owning `partition` of `topic` is paused (its
    /// partition cannot drain).
    fn is_paused(&self, topic: &str, partition: i32) -> bool;
}

/// What the poll loop (`runtime::stream_thread`) needs of the
/// consumer-group member: records, commits, partition ends, pausing, and
/// the drain check. Rebalances happen inside [`Self::poll`] and act on the
/// member's [`RebalanceListener`].
pub trait RecordSource: OffsetCommitter + Watermarks {
    /// The next record, waiting up to `timeout`. Rebalance callbacks run
    /// inside (as librdkafka's do).
    fn poll(&self, timeout: Duration) -> Option<Result<InputRecord, SourceError>>;
    /// Stops (`false`) or resumes fetching `partitions`.
    fn set_fetching(&self, partitions: &[TopicPartition], fetch: bool);
    /// Whether every assigned partition is consumed to its end; an error
    /// means it cannot be told now (brokers unreachable).
    fn drained(&self) -> Result<bool, SourceError>;
    /// A failure while taking an assignment (the group's committed offsets
    /// could not be read) that ends the run.
    fn take_failure(&self) -> Option<SourceError>;
    /// Whether the member has had an assignment yet (even an empty one).
    fn assigned(&self) -> bool;
    /// Between a revocation of everything (eager protocol) or a lost
    /// assignment and the next assignment.
    fn rebalancing(&self) -> bool;
    /// Rebalance callbacks so far. Under incremental protocols a member
    /// is not told when a rebalance round starts or ends (only of its own
    /// changes), so the poll loop counts each callback as activity: an
    /// idle member does not stop (`--stop-when-idle`) in the middle of a
    /// rebalance that is still moving partitions.
    fn rebalances(&self) -> u64 {
        0
    }
    /// Nanoseconds spent copying polled records, for the run report.
    fn copy_nanos(&self) -> u64 {
        0
    }
    /// Moves the consumer back to the group's committed offsets of
    /// `partitions` (the beginning where none is committed) and returns
    /// them: `--on-fatal replace-worker` reads a replaced worker's
    /// partitions again from there.
    fn rewind(&self, partitions: &[TopicPartition]) -> Result<HashMap<TopicPartition, i64>, SourceError> {
        let _ = partitions;
        Err(SourceError::CannotRewind)
    }
    /// Which of `partitions` are still assigned to this member (a member
    /// whose session expired has lost them before it could tell).
    fn owned(&self, partitions: &[TopicPartition]) -> Vec<TopicPartition> {
        partitions.to_vec()
    }
}
