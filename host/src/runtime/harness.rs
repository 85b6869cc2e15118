//! A broker-less host: the real poll loop, task manager, worker threads and
//! tasks over a scripted [`RecordSource`], a [`MemorySink`] for outputs and
//! a committer that records what it commits. Unit tests of commits,
//! revocation, drain and chains run here without Kafka.

use super::RunOptions;
use super::stream_thread::{LoopError, poll_loop};
use crate::kafka::KafkaSettings;
use crate::kafka::member::TopicPartition;
use crate::kafka::member::{CommitError, Offset, OffsetCommitter, RecordSource, SourceError, Watermarks};
use crate::kafka::memory_sink::MemorySink;
use crate::record::InputRecord;
use crate::task::manager::{FeedOptions, TaskManager};
use crate::task::spec::TaskSpec;
use crate::task::testing::{chain, records, values};
use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Records waiting to be polled, the group's commits, and the task manager
/// its (scripted) assignment created.
struct FakeSource {
    manager: Mutex<TaskManager>,
    queued: Mutex<VecDeque<InputRecord>>,
    /// One past the last record ever queued, per partition.
    ends: Mutex<HashMap<TopicPartition, i64>>,
    /// Next offset to poll per partition.
    positions: Mutex<HashMap<TopicPartition, i64>>,
    committed: Mutex<HashMap<TopicPartition, i64>>,
    /// Refuse every commit as a rebalancing group's coordinator does.
    refuse: AtomicBool,
    /// Commits asked for, refused or not.
    attempts: std::sync::atomic::AtomicUsize,
    /// An assignment that could not be taken, as the member reports it.
    failure: Mutex<Option<SourceError>>,
}

impl FakeSource {
    /// Assigns `partitions` of `spec`'s sources to this member, with no
    /// committed offsets, and queues `records`.
    fn new(spec: TaskSpec, partitions: &[TopicPartition], sink: Arc<MemorySink>, records: Vec<InputRecord>) -> Self {
        let mut manager = TaskManager::new(
            &[Arc::new(spec)],
            2,
            sink,
            FeedOptions {
                batch_size: 4,
                ..FeedOptions::default()
            },
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let paused = manager.handle_assignment(partitions, &HashMap::new());
        assert!(paused.is_empty(), "stateless tasks restore nothing");
        let source = FakeSource {
            manager: Mutex::new(manager),
            queued: Mutex::default(),
            ends: Mutex::default(),
            positions: Mutex::default(),
            committed: Mutex::default(),
            refuse: AtomicBool::new(false),
            attempts: Default::default(),
            failure: Mutex::default(),
        };
        source.queue(records);
        source
    }

    fn queue(&self, records: Vec<InputRecord>) {
        let mut ends = self.ends.lock();
        for r in &records {
            ends.insert(TopicPartition::new(&*r.topic, r.partition), r.offset + 1);
        }
        self.queued.lock().extend(records);
    }

    fn committed(&self, topic: &str, partition: i32) -> Option<i64> {
        self.committed
            .lock()
            .get(&TopicPartition::new(topic, partition))
            .copied()
    }
}

impl FakeSource {
    /// The task manager the scripted assignment created.
    fn manager(&self) -> MutexGuard<'_, TaskManager> {
        self.manager.lock()
    }
}

impl RecordSource for FakeSource {
    fn poll(&self, timeout: Duration) -> Option<Result<InputRecord, SourceError>> {
        let next = self.queued.lock().pop_front();
        match next {
            Some(record) => {
                self.positions
                    .lock()
                    .insert(TopicPartition::new(&*record.topic, record.partition), record.offset + 1);
                Some(Ok(record))
            }
            None => {
                std::thread::sleep(timeout.min(Duration::from_millis(2)));
                None
            }
        }
    }

    fn set_fetching(&self, _: &[TopicPartition], _: bool) {}

    fn drained(&self) -> Result<bool, SourceError> {
        let positions = self.positions.lock();
        Ok(self.ends.lock().iter().all(|(tp, end)| positions.get(tp) == Some(end)))
    }

    fn take_failure(&self) -> Option<SourceError> {
        self.failure.lock().take()
    }

    fn assigned(&self) -> bool {
        true
    }

    fn rebalancing(&self) -> bool {
        false
    }
}

impl OffsetCommitter for FakeSource {
    fn commit(&self, offsets: &[Offset]) -> Result<(), CommitError> {
        self.attempts.fetch_add(1, Ordering::AcqRel);
        if self.refuse.load(Ordering::Acquire) {
            return Err(CommitError::Rebalancing(rdkafka::error::KafkaError::ConsumerCommit(
                rdkafka::types::RDKafkaErrorCode::RebalanceInProgress,
            )));
        }
        let mut committed = self.committed.lock();
        for (topic, partition, offset) in offsets {
            let previous = committed.insert(TopicPartition::new(topic.as_str(), *partition), *offset);
            assert!(previous.is_none_or(|p| p <= *offset), "commits never go backwards");
        }
        Ok(())
    }
}

impl Watermarks for FakeSource {
    fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        self.ends.lock().get(&TopicPartition::new(topic, partition)).copied()
    }

    fn low(&self, _: &str, _: i32) -> Option<i64> {
        Some(0)
    }
}

fn options(stop_when_idle: Option<Duration>) -> RunOptions {
    RunOptions {
        application_id: "app".into(),
        kafka: KafkaSettings::new("unused:9092"),
        threads: 2,
        batch_size: 4,
        buffered_records_per_partition: 1_000,
        commit_interval: Duration::from_millis(20),
        max_task_idle: Duration::ZERO,
        stop_when_idle,
        state_dir: std::env::temp_dir(),
        hot_swap: None,
        lag_window: crate::observe::lag::DEFAULT_WINDOW,
        on_fatal: Default::default(),
        guarantee: Default::default(),
        group: Default::default(),
    }
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_chain_commits_only_once_every_stage_is_acknowledged_and_stops_when_drained() {
    let sink = Arc::new(MemorySink::holding());
    let partitions = [TopicPartition::new("in", 0), TopicPartition::new("in", 1)];
    let mut input = records(0, 0, &["a", "b", "c", "d", "e", "f", "g"]);
    input.extend(records(1, 40, &["x", "y"]));
    let source = FakeSource::new(chain(false), &partitions, sink.clone(), input);
    let shutdown = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let running = scope.spawn(|| {
            poll_loop(
                &options(Some(Duration::from_millis(50))),
                &source,
                &source.manager,
                &shutdown,
            )
        });
        wait_until("both stages ran", || values(&sink, "final").len() == 9);
        // Everything is processed but nothing acknowledged: no commit, and
        // the loop does not stop.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(source.committed("in", 0), None);
        assert!(!running.is_finished(), "stopped with uncommitted work");
        // The brokers acknowledge the chain's outputs.
        while !running.is_finished() {
            sink.deliver(None);
            std::thread::sleep(Duration::from_millis(5));
        }
        let (_, time) = running.join().unwrap().unwrap();
        assert_eq!(time.records, 9);
    });
    assert_eq!(source.committed("in", 0), Some(7));
    assert_eq!(source.committed("in", 1), Some(42));
    let mut finals = values(&sink, "final");
    finals.sort();
    assert_eq!(finals.len(), 9);
    assert_eq!(finals[0], "AAAAAA");
    assert!(values(&sink, "mid").is_empty(), "the connection is internal");
    assert!(source.manager().is_committed());
}

#[test]
fn an_assignment_the_member_could_not_take_ends_the_run_with_its_error() {
    let sink = Arc::new(MemorySink::default());
    let source = FakeSource::new(chain(false), &[TopicPartition::new("in", 0)], sink, Vec::new());
    let unreadable = rdkafka::error::KafkaError::OffsetFetch(rdkafka::types::RDKafkaErrorCode::CoordinatorNotAvailable);
    *source.failure.lock() = Some(SourceError::Read {
        what: "the group's committed offsets",
        source: unreadable.clone(),
    });
    let outcome = poll_loop(&options(None), &source, &source.manager, &AtomicBool::new(false));
    assert!(
        matches!(&outcome, Err(LoopError::Assignment(SourceError::Read { source, .. })) if *source == unreadable),
        "{outcome:?}"
    );
}

#[test]
fn a_revoked_task_commits_what_it_processed_and_later_records_of_it_are_dropped() {
    let sink = Arc::new(MemorySink::default());
    let partitions = [TopicPartition::new("in", 0), TopicPartition::new("in", 1)];
    let mut input = records(0, 0, &["a", "b", "c"]);
    input.extend(records(1, 0, &["x"]));
    let source = FakeSource::new(chain(true), &partitions, sink.clone(), input);
    let shutdown = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let running = scope.spawn(|| poll_loop(&options(None), &source, &source.manager, &shutdown));
        wait_until("all four were processed", || values(&sink, "final").len() == 4);
        source.manager().handle_revocation(&partitions[..1], &source);
        assert_eq!(source.committed("in", 0), Some(3), "committed on revocation");
        assert!(source.manager().task_for("in", 0).is_none(), "the task is closed");
        // Records of the revoked partition that were still in flight are
        // not processed here (their new owner does).
        source.queue(records(0, 3, &["late"]));
        source.queue(records(1, 1, &["z"]));
        wait_until("partition 1 goes on", || values(&sink, "final").len() == 5);
        shutdown.store(true, Ordering::Release);
        running.join().unwrap().unwrap();
    });
    assert!(!values(&sink, "final").contains(&"LATELATELATELATELATELATE".to_string()));
    source.manager().close_all(&source);
    assert_eq!(
        source.committed("in", 0),
        Some(3),
        "never past what this member processed"
    );
    assert_eq!(source.committed("in", 1), Some(2));
}

#[test]
fn commits_refused_by_a_rebalancing_group_are_not_retried_every_turn_and_the_revocation_gives_up_at_once() {
    let sink = Arc::new(MemorySink::default());
    let partitions = [TopicPartition::new("in", 0)];
    let source = FakeSource::new(chain(true), &partitions, sink.clone(), records(0, 0, &["a", "b", "c"]));
    source.refuse.store(true, Ordering::Release);
    let shutdown = AtomicBool::new(false);
    let options = RunOptions {
        commit_interval: Duration::from_secs(5),
        ..options(None)
    };
    std::thread::scope(|scope| {
        let running = scope.spawn(|| poll_loop(&options, &source, &source.manager, &shutdown));
        wait_until("processed and a commit tried", || {
            values(&sink, "final").len() == 3 && source.attempts.load(Ordering::Acquire) >= 1
        });
        // Idle turns (every few ms here) would each retry an early commit;
        // a refusal by a rebalancing group waits for the commit interval.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            source.attempts.load(Ordering::Acquire),
            1,
            "retried before the commit interval"
        );
        assert!(source.manager().commits_refused_by_rebalance());
        // Nothing processed now could be committed: new records wait.
        source.queue(records(0, 3, &["d"]));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(values(&sink, "final").len(), 3, "processed while the group rebalances");

        // The revocation tries once more, gives up on the refusal and
        // returns at once (librdkafka rejoins only after it returns).
        let revoking = Instant::now();
        source.manager().handle_revocation(&partitions, &source);
        assert!(
            revoking.elapsed() < Duration::from_secs(1),
            "took {:?}",
            revoking.elapsed()
        );
        assert_eq!(
            source.attempts.load(Ordering::Acquire),
            2,
            "one commit in the revocation"
        );
        assert!(source.manager().task_for("in", 0).is_none(), "the task is closed");
        assert!(
            !source.manager().commits_refused_by_rebalance(),
            "the next generation starts afresh"
        );
        assert!(
            source.manager().is_committed(),
            "nothing of the revoked partition is left to commit"
        );
        shutdown.store(true, Ordering::Release);
        running.join().unwrap().unwrap();
    });
    assert_eq!(source.committed("in", 0), None, "nothing committed past a refusal");
}

/// A transactional producer's bookkeeping, without a broker: what each
/// transaction carried and how it ended; `fail_commit` fails that commit.
#[derive(Default)]
struct FakeTransactions {
    /// Offsets sent per transaction, and whether it committed.
    ended: Mutex<Vec<(Vec<Offset>, bool)>>,
    open: Mutex<Vec<Offset>>,
    fail_commit: Option<usize>,
    sink: Arc<MemorySink>,
    sent_at_begin: Mutex<usize>,
}

impl crate::kafka::producer::Transactions for FakeTransactions {
    fn begin(&self) -> Result<(), crate::kafka::producer::TxnError> {
        *self.sent_at_begin.lock() = self.sink.records().len();
        Ok(())
    }
    fn flush(&self) -> Result<(), crate::kafka::producer::TxnError> {
        Ok(())
    }
    fn send_offsets(
        &self,
        offsets: &[Offset],
        _: Option<&rdkafka::consumer::ConsumerGroupMetadata>,
    ) -> Result<(), crate::kafka::producer::TxnError> {
        self.open.lock().extend_from_slice(offsets);
        Ok(())
    }
    fn commit(&self) -> Result<(), crate::kafka::producer::TxnError> {
        let mut ended = self.ended.lock();
        let offsets = std::mem::take(&mut *self.open.lock());
        if self.fail_commit == Some(ended.len() + 1) {
            ended.push((offsets, false));
            return Err(crate::kafka::producer::TxnError::Abortable("injected".into()));
        }
        ended.push((offsets, true));
        Ok(())
    }
    fn abort(&self) -> Result<(), crate::kafka::producer::TxnError> {
        self.open.lock().clear();
        Ok(())
    }
    fn has_records(&self) -> bool {
        self.sink.records().len() > *self.sent_at_begin.lock()
    }
}

#[test]
fn exactly_once_commits_offsets_only_inside_transactions() {
    let sink = Arc::new(MemorySink::default());
    let partitions = [TopicPartition::new("in", 0), TopicPartition::new("in", 1)];
    let mut input = records(0, 0, &["a", "b", "c", "d", "e"]);
    input.extend(records(1, 0, &["x", "y"]));
    let source = FakeSource::new(chain(true), &partitions, sink.clone(), input);
    let txn = Arc::new(FakeTransactions {
        sink: sink.clone(),
        ..FakeTransactions::default()
    });
    source.manager().set_transactions(Some(txn.clone()));
    let shutdown = AtomicBool::new(false);
    let mut eos = options(Some(Duration::from_millis(50)));
    eos.guarantee = super::Guarantee::ExactlyOnce;
    poll_loop(&eos, &source, &source.manager, &shutdown).unwrap();
    assert_eq!(values(&sink, "final").len(), 7);
    assert_eq!(source.committed("in", 0), None, "never through the consumer");
    let ended = txn.ended.lock();
    assert!(ended.iter().all(|(_, committed)| *committed));
    let last = |partition: i32| {
        ended
            .iter()
            .flat_map(|(offsets, _)| offsets)
            .filter(|(_, p, _)| *p == partition)
            .map(|(_, _, o)| *o)
            .max()
    };
    assert_eq!((last(0), last(1)), (Some(5), Some(2)), "every input, in transactions");
    assert!(source.manager().is_committed());
}
