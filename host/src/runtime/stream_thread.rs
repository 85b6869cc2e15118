//! The poll loop (Kafka Streams' `StreamThread`): polls records from a
//! [`RecordSource`], hands them to the tasks' partition groups, commits
//! acknowledged progress, pauses and resumes fetching, and decides when the
//! run is over (a signal, a fatal error, or drained inputs with
//! `--stop-when-idle`).
//!
//! The loop never touches Kafka itself: [`crate::kafka::consumer::KafkaSource`]
//! is the real source, and the tests drive it with a broker-less one. It
//! owns nothing of the tasks either: the task manager is handed in (the
//! member's rebalance listener is the same manager).

use super::report::LoopTime;
use super::{OnFatal, RunOptions};
use crate::kafka::member::{RecordSource, SourceError, TopicPartition, show};
use crate::observe::app_state::AppState;
use crate::observe::metrics::{THREAD_COMMIT_LATENCY, THREAD_POLL_LATENCY};
use crate::record::InputRecord;
use crate::task::manager::{RecoveryError, TaskManager, WorkerFailure};
use crate::task::worker::Fatal;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The `thread` label of the poll loop's metrics.
const POLL_THREAD: &str = "rill-poll";

/// Exactly-once: how long after a commit the inputs running dry may
/// commit again before the commit interval is up.
const EOS_EARLY_COMMIT: Duration = Duration::from_millis(100);

/// Records polled per loop turn before batches are handed out.
const POLL_BUDGET: usize = 4096;

/// Why the poll loop ended the run before it was told to (the run then
/// fails): what stopped it, as the runtime reports it.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    /// The member could not take an assignment (the group's committed
    /// offsets could not be read).
    #[error(transparent)]
    Assignment(SourceError),
    /// The group member cannot go on (a fatal consumer error, e.g. fenced
    /// by another instance with the same `--instance-id`).
    #[error(transparent)]
    Member(SourceError),
    /// A fatal error: on a worker (without `--on-fatal replace-worker`),
    /// a restore that failed, or the transactional producer.
    #[error(transparent)]
    Fatal(Fatal),
    /// A worker's thread ended (without `--on-fatal replace-worker`).
    #[error(transparent)]
    Worker(WorkerFailure),
    /// A failed worker could not be replaced, or an aborted transaction's
    /// tasks could not be rolled back.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
}

/// Runs until `shutdown` is set, a fatal error occurs, or (with
/// `options.stop_when_idle`) the inputs are drained and everything is
/// committed. Returns how long the pipeline was busy and where the loop's
/// time went.
pub fn poll_loop<S: RecordSource>(
    options: &RunOptions,
    source: &S,
    tasks: &Mutex<TaskManager>,
    shutdown: &AtomicBool,
) -> Result<(Duration, LoopTime), LoopError> {
    let mut last_commit = Instant::now();
    let mut last_activity = Instant::now();
    let mut seen_rebalances = source.rebalances();
    let mut first_input: Option<Instant> = None;
    let mut last_busy = Instant::now();
    let mut busy = false;
    let mut batches = TurnBatches::default();
    let mut window = LoopStats::default();
    let mut time = LoopTime::default();
    let telemetry = crate::observe::telemetry();
    let metered = crate::observe::metrics::enabled();
    let poll_latency = metrics::histogram!(THREAD_POLL_LATENCY, "thread" => POLL_THREAD);
    let commit_latency = metrics::histogram!(THREAD_COMMIT_LATENCY, "thread" => POLL_THREAD);
    let mut last_lag = Instant::now();
    telemetry.set_state(AppState::Rebalancing);
    while !shutdown.load(Ordering::Acquire) {
        let turn = Instant::now();
        let mut polled = 0;
        while polled < POLL_BUDGET {
            // Short waits while outputs are in flight, so the end of the
            // work is noticed promptly.
            let wait = if busy {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(100)
            };
            let timeout = if polled == 0 { wait } else { Duration::ZERO };
            match source.poll(timeout) {
                None => break,
                Some(Err(error @ SourceError::Fatal { .. })) => return Err(LoopError::Member(error)),
                Some(Err(error)) => {
                    tracing::warn!("consumer: {error}");
                    break;
                }
                Some(Ok(record)) => {
                    polled += 1;
                    batches.push(record);
                }
            }
        }
        let polled_at = Instant::now();
        if polled > 0 {
            // A turn that found nothing was idle waiting, not cost.
            time.poll_nanos += (polled_at - turn).as_nanos() as u64;
            if metered {
                poll_latency.record((polled_at - turn).as_secs_f64());
            }
        }
        time.dispatch_wait_nanos += feed_tasks(source, tasks, &mut batches);
        window.record(polled, polled_at - turn, polled_at.elapsed());
        time.records += polled as u64;
        time.dispatch_nanos += polled_at.elapsed().as_nanos() as u64;
        if polled > 0 {
            last_activity = Instant::now();
            first_input.get_or_insert(last_activity);
        }

        if let Some(error) = source.take_failure() {
            return Err(LoopError::Assignment(error));
        }
        let mut manager = tasks.lock();
        if let Some(why) = manager.take_aborted() {
            // Exactly-once: the transaction aborted; every task goes back
            // to the last commit.
            let (partitions, restoring) = manager.roll_back(&why, &|partitions| {
                let owned = source.owned(partitions);
                Ok((owned.clone(), source.rewind(&owned)?))
            })?;
            drop(manager);
            let ready: Vec<TopicPartition> = partitions.into_iter().filter(|p| !restoring.contains(p)).collect();
            source.set_fetching(&restoring, false);
            source.set_fetching(&ready, true);
            continue;
        }
        if options.on_fatal == OnFatal::ReplaceWorker
            && let Some((worker, why)) = manager.failed_worker()
        {
            let (partitions, restoring) =
                manager.replace_worker(worker, &why, source, &|partitions| source.rewind(partitions))?;
            drop(manager);
            let ready: Vec<TopicPartition> = partitions.into_iter().filter(|p| !restoring.contains(p)).collect();
            source.set_fetching(&restoring, false);
            source.set_fetching(&ready, true);
            continue;
        }
        if let Some(fatal) = manager.fatal() {
            return Err(LoopError::Fatal(fatal));
        }
        if let Some(worker) = manager.dead_worker() {
            return Err(LoopError::Worker(WorkerFailure::Gone { worker }));
        }
        // Also commit when the inputs run dry, so the end of a burst is
        // committed at once rather than up to a commit interval later
        // (nothing is committed when nothing new was acknowledged).
        // Under exactly-once each commit is a transaction: the inputs
        // running dry commit early only after a short pause, not per gap.
        // A commit the coordinator refused because the group is rebalancing
        // is not retried every idle turn (it cannot succeed before this
        // member rejoins): only each commit interval.
        let early = (!options.guarantee.exactly_once() || last_commit.elapsed() >= EOS_EARLY_COMMIT)
            && !manager.commits_refused_by_rebalance();
        if last_commit.elapsed() >= options.commit_interval || (polled == 0 && early && !manager.is_committed()) {
            let committing = Instant::now();
            manager.commit(source);
            time.commit_nanos += committing.elapsed().as_nanos() as u64;
            if metered {
                commit_latency.record(committing.elapsed().as_secs_f64());
            }
            last_commit = Instant::now();
        }
        if last_lag.elapsed() >= options.commit_interval {
            manager.observe_lag(source);
            last_lag = Instant::now();
        }
        telemetry.set_state(
            if !source.assigned() || source.rebalancing() || manager.is_restoring() {
                AppState::Rebalancing
            } else {
                AppState::Running
            },
        );
        let paused = manager.take_newly_paused();
        if !paused.is_empty() {
            tracing::warn!("stopped fetching paused task partitions: {}", show(&paused));
            source.set_fetching(&paused, false);
        }
        busy = polled > 0 || !manager.is_idle();
        if busy {
            last_busy = Instant::now();
        }
        let rebalances = source.rebalances();
        if busy || source.rebalancing() || rebalances != seen_rebalances {
            last_activity = Instant::now();
            seen_rebalances = rebalances;
        }
        drop(manager);

        if let Some(idle) = options.stop_when_idle
            && source.assigned()
            && last_activity.elapsed() >= idle
        {
            let committed = {
                let mut manager = tasks.lock();
                manager.commit(source);
                manager.is_committed()
            };
            if !committed {
                // A commit that failed (brokers unreachable) is retried;
                // stopping now would leave processed work uncommitted.
                last_activity = Instant::now();
                continue;
            }
            let checked = Instant::now();
            // Brokers that cannot be reached say nothing about being
            // drained: keep running until they answer.
            let is_drained = source.drained().unwrap_or_else(|error| {
                tracing::debug!("drain check: {error}");
                false
            });
            tracing::debug!("drain check took {:?}", checked.elapsed());
            if is_drained {
                tracing::info!(
                    "inputs drained and idle for {}; stopping",
                    humantime::format_duration(idle)
                );
                break;
            }
            last_activity = Instant::now();
        }
    }
    time.copy_in_nanos = source.copy_nanos();
    time.poll_nanos = time.poll_nanos.saturating_sub(time.copy_in_nanos);
    Ok((active(first_input, last_busy), time))
}

fn active(first_input: Option<Instant>, last_busy: Instant) -> Duration {
    first_input.map_or(Duration::ZERO, |first| last_busy.saturating_duration_since(first))
}

/// Records gathered in one poll turn, by partition. librdkafka hands over a
/// partition's fetched records in a row, so the partition of the previous
/// record is tried first and a turn costs no hashing per record.
#[derive(Default)]
struct TurnBatches {
    partitions: Vec<(Arc<str>, i32, Vec<InputRecord>)>,
    last: usize,
}

impl TurnBatches {
    fn push(&mut self, record: InputRecord) {
        let same = |(topic, partition, _): &(Arc<str>, i32, Vec<InputRecord>)| {
            *partition == record.partition && **topic == *record.topic
        };
        if !self.partitions.get(self.last).is_some_and(same) {
            self.last = match self.partitions.iter().position(same) {
                Some(i) => i,
                None => {
                    let topic: Arc<str> = record.topic.clone();
                    self.partitions.push((topic, record.partition, Vec::new()));
                    self.partitions.len() - 1
                }
            };
        }
        self.partitions[self.last].2.push(record);
    }
}

/// Hands what one poll turn gathered to the tasks' partition groups, sends
/// every task the records it may process now (timestamp order across its
/// inputs, see `task::partition_group`), and pauses or resumes fetching of
/// partitions by how much their tasks hold. Returns the nanoseconds it
/// waited on full worker queues.
fn feed_tasks<S: RecordSource>(source: &S, manager: &Mutex<TaskManager>, batches: &mut TurnBatches) -> u64 {
    let mut manager = manager.lock();
    for (topic, partition, batch) in batches.partitions.iter_mut().filter(|(_, _, b)| !b.is_empty()) {
        manager.buffer(topic, *partition, std::mem::take(batch));
    }
    let waited_before = manager.queue_wait_nanos();
    manager.dispatch_ready(source);
    let waited = manager.queue_wait_nanos() - waited_before;
    let flow = manager.flow_control();
    let restored = manager.poll_restores();
    drop(manager);
    source.set_fetching(&flow.pause, false);
    source.set_fetching(&flow.resume, true);
    source.set_fetching(&restored, true);
    waited
}

/// Where the poll loop's time goes, logged at debug level once a second.
#[derive(Default)]
struct LoopStats {
    started: Option<Instant>,
    records: usize,
    turns: usize,
    polling: Duration,
    dispatching: Duration,
}

impl LoopStats {
    fn record(&mut self, records: usize, polling: Duration, dispatching: Duration) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.records += records;
        self.turns += 1;
        self.polling += polling;
        self.dispatching += dispatching;
        if started.elapsed() >= Duration::from_secs(1) {
            tracing::debug!(
                records = self.records,
                turns = self.turns,
                polling_ms = self.polling.as_millis() as u64,
                dispatching_ms = self.dispatching.as_millis() as u64,
                "poll loop, last second"
            );
            *self = LoopStats::default();
        }
    }
}
