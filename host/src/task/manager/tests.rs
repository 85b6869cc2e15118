//! The task manager on its own, without the poll loop: assignment and
//! revocation, flow control, and the at-least-once commit of acknowledged
//! progress only. Native stand-in processors, an in-memory sink and a
//! committer that records what it is asked to commit (the poll loop's
//! tests over the same manager are in `runtime/harness.rs`).

use super::{FeedOptions, TaskManager};
use crate::kafka::member::{CommitError, Offset, OffsetCommitter, TopicPartition, Watermarks};
use crate::kafka::memory_sink::MemorySink;
use crate::task::partition_group::Lag;
use crate::task::testing::{chain, records, values};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Records every commit it is asked for; the ends of `in` are unknown.
#[derive(Default)]
struct Recorder {
    commits: Mutex<Vec<Vec<Offset>>>,
}

impl Recorder {
    fn last(&self, partition: i32) -> Option<i64> {
        self.commits
            .lock()
            .iter()
            .flatten()
            .filter(|(_, p, _)| *p == partition)
            .map(|(_, _, o)| *o)
            .max()
    }
}

impl OffsetCommitter for Recorder {
    fn commit(&self, offsets: &[Offset]) -> Result<(), CommitError> {
        self.commits.lock().push(offsets.to_vec());
        Ok(())
    }
}

impl Watermarks for Recorder {
    fn high(&self, _: &str, _: i32) -> Option<i64> {
        None
    }
    fn low(&self, _: &str, _: i32) -> Option<i64> {
        Some(0)
    }
}

fn manager(sink: Arc<MemorySink>, feed: FeedOptions) -> TaskManager {
    TaskManager::new(&[Arc::new(chain(false))], 2, sink, feed, Arc::new(AtomicBool::new(false))).unwrap()
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new("in", partition)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_assignment_makes_one_task_per_input_partition_and_a_revocation_closes_only_its_own() {
    let sink = Arc::new(MemorySink::default());
    let mut tasks = manager(sink.clone(), FeedOptions::default());
    let restoring = tasks.handle_assignment(&[tp(0), tp(1), tp(2)], &HashMap::new());
    assert!(restoring.is_empty(), "stateless tasks restore nothing");
    for p in 0..3 {
        let id = tasks.task_for("in", p).expect("a task per assigned partition");
        assert_eq!(id.partition, p);
    }
    assert_eq!(tasks.task_for("in", 3), None, "not assigned here");
    assert_eq!(tasks.task_for("mid", 0), None, "an in-memory edge is no input");

    let committer = Recorder::default();
    tasks.handle_revocation(&[tp(1)], &committer);
    assert_eq!(tasks.task_for("in", 1), None, "the revoked task is closed");
    assert!(tasks.task_for("in", 0).is_some() && tasks.task_for("in", 2).is_some());

    // Records of the revoked partition still arriving are dropped here (its
    // new owner processes them); the others go on.
    tasks.buffer("in", 1, records(1, 0, &["gone"]));
    tasks.buffer("in", 0, records(0, 0, &["kept"]));
    tasks.dispatch_ready(&committer);
    wait_until("partition 0 was processed", || values(&sink, "final").len() == 1);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(values(&sink, "final"), ["KEPTKEPTKEPTKEPTKEPTKEPT"]);
    tasks.close_all(&committer);
}

#[test]
fn only_acknowledged_progress_is_committed() {
    let sink = Arc::new(MemorySink::holding());
    let mut tasks = manager(sink.clone(), FeedOptions::default());
    tasks.handle_assignment(&[tp(0)], &HashMap::new());
    let committer = Recorder::default();
    tasks.buffer("in", 0, records(0, 10, &["a", "b", "c", "d", "e"]));
    tasks.dispatch_ready(&committer);
    wait_until("every record was processed", || values(&sink, "final").len() == 5);

    tasks.commit(&committer);
    assert_eq!(committer.last(0), None, "processed is not acknowledged");
    assert!(!tasks.is_committed());

    sink.deliver(None);
    wait_until("the acknowledged offset was committed", || {
        tasks.commit(&committer);
        committer.last(0).is_some()
    });
    assert_eq!(committer.last(0), Some(15), "the offset after the last record");
    assert!(tasks.is_committed());
    let asked = committer.commits.lock().len();
    tasks.commit(&committer);
    assert_eq!(committer.commits.lock().len(), asked, "nothing new: no commit");
    tasks.close_all(&committer);
}

#[test]
fn a_partition_is_paused_when_its_task_holds_enough_and_resumed_below_half() {
    let sink = Arc::new(MemorySink::default());
    let feed = FeedOptions {
        batch_size: 4,
        max_buffered: 8,
        ..FeedOptions::default()
    };
    let mut tasks = manager(sink.clone(), feed);
    tasks.handle_assignment(&[tp(0), tp(1)], &HashMap::new());
    let values_of = |n: usize| (0..n).map(|i| format!("v{i}")).collect::<Vec<_>>();
    let ten = values_of(10);
    tasks.buffer("in", 0, records(0, 0, &ten.iter().map(String::as_str).collect::<Vec<_>>()));
    tasks.buffer("in", 1, records(1, 0, &["x"]));
    let change = tasks.flow_control();
    assert_eq!(change.pause, [tp(0)], "ten buffered of at most eight");
    assert!(change.resume.is_empty());
    assert_eq!(tasks.flow_control(), Default::default(), "said once");

    let committer = Recorder::default();
    tasks.dispatch_ready(&committer);
    wait_until("everything was processed", || values(&sink, "final").len() == 11);
    assert_eq!(tasks.flow_control().resume, [tp(0)], "fetched again once drained");
    tasks.close_all(&committer);
}

#[test]
fn a_lost_partition_closes_its_task_without_committing_and_the_others_go_on() {
    let sink = Arc::new(MemorySink::default());
    let mut tasks = manager(sink.clone(), FeedOptions::default());
    tasks.handle_assignment(&[tp(0), tp(1)], &HashMap::new());
    let committer = Recorder::default();
    tasks.buffer("in", 0, records(0, 0, &["a"]));
    tasks.buffer("in", 1, records(1, 0, &["b"]));
    tasks.dispatch_ready(&committer);
    wait_until("both were processed and acknowledged", || {
        tasks.collect(&[tasks.task_for("in", 0).unwrap(), tasks.task_for("in", 1).unwrap()]);
        values(&sink, "final").len() == 2 && !tasks.positions.due().is_empty()
    });
    tasks.handle_lost(&[tp(1)]);
    assert_eq!(tasks.task_for("in", 1), None, "the lost task is closed");
    assert!(committer.commits.lock().is_empty(), "nothing committed for a lost partition");
    tasks.commit(&committer);
    assert_eq!(committer.last(0), Some(1), "the task kept commits its own progress");
    assert_eq!(committer.last(1), None, "and nothing of the lost one: its position was forgotten");
    tasks.close_all(&committer);
}

/// A committer whose group is rebalancing: every commit is refused.
#[derive(Default)]
struct Refusing(Recorder);

impl OffsetCommitter for Refusing {
    fn commit(&self, _: &[Offset]) -> Result<(), CommitError> {
        Err(CommitError::Rebalancing(rdkafka::error::KafkaError::ConsumerCommit(
            rdkafka::types::RDKafkaErrorCode::RebalanceInProgress,
        )))
    }
}

impl Watermarks for Refusing {
    fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.high(topic, partition)
    }
    fn low(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.low(topic, partition)
    }
}

#[test]
fn a_commit_refused_by_a_rebalance_holds_dispatch_only_under_the_eager_protocol() {
    for incremental in [false, true] {
        let sink = Arc::new(MemorySink::default());
        let mut tasks = manager(sink.clone(), FeedOptions::default());
        tasks.set_incremental(incremental);
        tasks.handle_assignment(&[tp(0)], &HashMap::new());
        let refusing = Refusing::default();
        tasks.buffer("in", 0, records(0, 0, &["a"]));
        tasks.dispatch_ready(&refusing);
        wait_until("the first record was processed", || values(&sink, "final").len() == 1);
        wait_until("a commit was refused", || {
            tasks.commit(&refusing);
            tasks.commits_refused_by_rebalance()
        });
        tasks.buffer("in", 0, records(0, 1, &["b"]));
        tasks.dispatch_ready(&refusing);
        if incremental {
            wait_until("the next record was processed", || values(&sink, "final").len() == 2);
        } else {
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(values(&sink, "final").len(), 1, "eager: held until the rebalance reaches the member");
        }
        tasks.close_all(&Recorder::default());
    }
}

/// The dispatch path's own cost (buffering, timestamp order, batches,
/// flow control), apart from waits on full worker queues: what the poll
/// loop spends per record when the workers keep up. A measurement, not a
/// check: `cargo test --release -p rill-host dispatch_cost -- --ignored
/// --nocapture` prints the best of its rounds.
#[test]
#[ignore]
fn dispatch_cost() {
    const PARTITIONS: i32 = 12;
    const PER_TURN: usize = 4096;
    const TURNS: usize = 60;
    let sink = Arc::new(MemorySink::default());
    let mut tasks = manager(sink.clone(), FeedOptions::default());
    let assigned: Vec<TopicPartition> = (0..PARTITIONS).map(tp).collect();
    tasks.handle_assignment(&assigned, &HashMap::new());
    let committer = Recorder::default();
    let value = "x".repeat(300);
    let per_partition = PER_TURN / PARTITIONS as usize;
    let mut best = f64::MAX;
    let mut offsets = vec![0i64; PARTITIONS as usize];
    for _ in 0..TURNS {
        let turn: Vec<(i32, Vec<crate::record::InputRecord>)> = (0..PARTITIONS)
            .map(|p| {
                let values = vec![value.as_str(); per_partition];
                let batch = records(p, offsets[p as usize], &values);
                offsets[p as usize] += per_partition as i64;
                (p, batch)
            })
            .collect();
        let waited = tasks.queue_wait_nanos();
        let started = Instant::now();
        for (p, batch) in turn {
            tasks.buffer("in", p, batch);
        }
        tasks.dispatch_ready(&committer);
        tasks.flow_control();
        let spent = started.elapsed().as_nanos() as u64 - (tasks.queue_wait_nanos() - waited);
        best = best.min(spent as f64 / (per_partition * PARTITIONS as usize) as f64);
    }
    let total = (per_partition * PARTITIONS as usize * TURNS) as f64;
    println!(
        "dispatch work per record, best of {TURNS} turns of {} records: {best:.1} ns; waited on full queues {:.1} ns per record on average",
        per_partition * PARTITIONS as usize,
        tasks.queue_wait_nanos() as f64 / total
    );
    tasks.close_all(&committer);
}

#[test]
fn records_the_consumer_delivers_again_are_not_processed_twice() {
    let sink = Arc::new(MemorySink::default());
    let mut tasks = manager(sink.clone(), FeedOptions::default());
    tasks.handle_assignment(&[tp(0)], &HashMap::new());
    let committer = Recorder::default();
    tasks.buffer("in", 0, records(0, 0, &["a", "b", "c"]));
    tasks.dispatch_ready(&committer);
    wait_until("the first delivery was processed", || values(&sink, "final").len() == 3);

    // The consumer rewinds to offset 1 and goes on past where it was: only
    // offset 3 is new.
    tasks.buffer("in", 0, records(0, 1, &["b", "c", "d"]));
    tasks.buffer("in", 0, records(0, 0, &["a"]));
    tasks.dispatch_ready(&committer);
    wait_until("the new record was processed", || values(&sink, "final").len() >= 4);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        values(&sink, "final"),
        ["AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD"],
        "each offset processed once"
    );

    // A rewind the manager asks for itself (a roll-back or a revocation)
    // forgets what was fed: the partition is processed again from there.
    tasks.handle_revocation(&[tp(0)], &committer);
    tasks.handle_assignment(&[tp(0)], &HashMap::from([(tp(0), 2)]));
    tasks.buffer("in", 0, records(0, 2, &["c"]));
    tasks.dispatch_ready(&committer);
    wait_until("the reassigned partition was processed", || {
        values(&sink, "final").len() == 5
    });
    tasks.close_all(&committer);
}

/// A topic written in transactions ends with a commit marker no record is
/// delivered for: one past the last record stays one short of the high
/// watermark, and a task waiting for "the rest" of it would wait forever.
/// The consumer's own position steps over the marker (KAFKA-6607).
#[test]
fn a_partition_ending_with_a_transaction_marker_is_caught_up_at_the_consumers_position() {
    struct Marked(Option<i64>);
    impl Watermarks for Marked {
        fn high(&self, _: &str, _: i32) -> Option<i64> {
            Some(10)
        }
        fn low(&self, _: &str, _: i32) -> Option<i64> {
            Some(0)
        }
        fn position(&self, _: &str, _: i32) -> Option<i64> {
            self.0
        }
    }
    let sink = Arc::new(MemorySink::default());
    let mut m = manager(sink, FeedOptions::default());
    m.positions.of(&tp(0)).position = Some(9);
    let now = Instant::now();
    assert_eq!(m.lag(&tp(0), &Marked(None), now), Lag::Known(1));
    assert_eq!(m.lag(&tp(0), &Marked(Some(10)), now), Lag::Known(0));
    // A consumer position behind the task's is never believed over it.
    assert_eq!(m.lag(&tp(0), &Marked(Some(3)), now), Lag::Known(1));
}
