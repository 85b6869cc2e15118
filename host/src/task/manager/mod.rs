//! The control plane: turns group assignments into tasks on workers, hands
//! polled batches to them, and commits what their progress allows.
//!
//! It never touches the network itself: offsets go through an
//! [`OffsetCommitter`], so the logic can be driven without a broker.
//!
//! One `TaskManager`, one job per file: task lifecycle (assignment,
//! restore, revocation, closing) here; feeding tasks (buffering, dispatch,
//! flow control) in [`feed`]; the commit paths (at-least-once, the
//! exactly-once transaction, roll-back) in [`commit`]; failed workers in
//! [`workers`]; what goes wrong, as the poll loop decides on it, in
//! [`error`].

mod commit;
mod error;
mod feed;
mod positions;
mod standby;
mod workers;
#[cfg(test)]
mod tests;

use crate::kafka::member::TopicPartition;
pub use crate::kafka::member::{CommitError, Offset, OffsetCommitter, RebalanceListener, Watermarks};
use crate::kafka::producer::{RecordSink, Transactions, TxnError};
use crate::record::InputRecord;
use crate::state::StateError;
use crate::state::manager::StateManager;
use crate::state::queries::Queryable;
use crate::state::updater::{Restoring, StateUpdater};
use crate::task::TaskId;
use crate::task::clock::{Clock, SystemClock};
use crate::task::open_state::{has_checkpoint, open_state};
use crate::task::partition_group::{Lag, PartitionGroup};
use crate::task::progress::{TaskFailure, TaskProgress};
use crate::task::shutdown::Shutdown;
use crate::task::spec::TaskSpec;
use crate::task::state::TaskState;
use crate::task::worker::{Command, FatalSlot, Worker, set_fatal};
use crossbeam_channel::bounded;
pub use error::{Aborted, RecoveryError, WorkerFailure};
pub use standby::{StandbyConfig, StandbyState, WarmUpStatus};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

impl RebalanceListener for TaskManager {
    fn assigned(
        &mut self,
        partitions: &[TopicPartition],
        committed: &HashMap<TopicPartition, i64>,
    ) -> Vec<TopicPartition> {
        self.handle_assignment(partitions, committed)
    }

    fn revoked(&mut self, partitions: &[TopicPartition], committer: &dyn OffsetCommitter) {
        self.handle_revocation(partitions, committer)
    }

    fn lost(&mut self, partitions: &[TopicPartition]) {
        self.handle_lost(partitions)
    }

    fn is_paused(&self, topic: &str, partition: i32) -> bool {
        TaskManager::is_paused(self, topic, partition)
    }
}

/// How tasks are fed: batch size, how long an idle input may hold a task
/// back, and how many records a partition may buffer before its fetching
/// is paused.
#[derive(Debug, Clone, Copy)]
pub struct FeedOptions {
    /// Most records per plugin call.
    pub batch_size: usize,
    /// `--max-task-idle`: how long a caught-up, empty input partition may
    /// hold its task back (Kafka Streams' `max.task.idle.ms`).
    pub max_task_idle: Duration,
    /// Records a partition may have buffered before the consumer stops
    /// fetching it (resumed below half).
    pub max_buffered: usize,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            batch_size: 500,
            max_task_idle: Duration::ZERO,
            max_buffered: 1_000,
        }
    }
}

/// Partitions whose fetching should stop or start again because of how
/// much their tasks have buffered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FlowChange {
    /// Stop fetching these.
    pub pause: Vec<TopicPartition>,
    /// Fetch these again.
    pub resume: Vec<TopicPartition>,
}

struct TaskEntry {
    worker: usize,
    state: TaskState,
    progress: Arc<TaskProgress>,
    /// Whether the consumer was already told to stop fetching it.
    paused_reported: bool,
    /// Polled records waiting to be processed in timestamp order.
    group: PartitionGroup,
    /// Partitions whose fetching is paused because the group holds enough.
    throttled: Vec<TopicPartition>,
    /// The restore in progress, while the task is `Restoring`.
    restore: Option<Restoring<TaskStates, StateError>>,
    /// Its input partitions as `topic-partition`, for `/status`.
    partitions: Vec<String>,
}

/// Each stage's restored state, `None` for stateless stages.
type TaskStates = Vec<Option<StateManager>>;

/// How many times one worker may be replaced within [`REPLACEMENT_WINDOW`].
pub const MAX_REPLACEMENTS: usize = 3;
/// See [`MAX_REPLACEMENTS`].
pub const REPLACEMENT_WINDOW: Duration = Duration::from_secs(600);

/// How long a revoked task may take to get its outputs acknowledged.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Owns the tasks of this process.
pub struct TaskManager {
    by_topic: HashMap<String, Arc<TaskSpec>>,
    workers: Vec<Worker>,
    tasks: BTreeMap<TaskId, TaskEntry>,
    producer: Arc<dyn RecordSink>,
    fatal: FatalSlot,
    /// Per input partition: position, reached and committed offsets, lag
    /// bookkeeping (see [`positions`]).
    positions: positions::Positions,
    feed: FeedOptions,
    /// Tasks that stopped on a failure, with why, for the run's outcome.
    failures: Vec<TaskFailure>,
    /// Restores tasks' state off the poll loop.
    updater: StateUpdater,
    /// The process's shutdown, handed to replacement workers.
    shutdown: Arc<Shutdown>,
    /// Where workers and tasks read wall-clock and idle time.
    clock: Arc<dyn Clock>,
    /// When each worker was replaced, for [`MAX_REPLACEMENTS`].
    replacements: Vec<Vec<Instant>>,
    /// Exactly-once: the transactional producer whose transaction every
    /// task's outputs, changelog records and dead letters go into; `None`
    /// under at-least-once.
    transactions: Option<Arc<dyn Transactions>>,
    /// Exactly-once: why the open transaction was aborted, until the poll
    /// loop rolls every task back to the last commit ([`Self::roll_back`]).
    aborted: Option<Aborted>,
    /// When transactions were rolled back, for [`MAX_REPLACEMENTS`].
    rollbacks: Vec<Instant>,
    /// The last commit was refused because the group is rebalancing
    /// ([`CommitError::Rebalancing`]): under the eager protocol no batch is
    /// dispatched (incremental ones go on), the poll loop
    /// stops its early commits (every idle turn) and tries again only each
    /// commit interval, until an assignment or revocation starts the next
    /// generation or a retried commit succeeds.
    refused_by_rebalance: bool,
    /// The member rebalances incrementally ([`Self::set_incremental`]).
    incremental: bool,
    /// Nanoseconds the poll loop spent blocked on a full worker queue
    /// (backpressure), so the exit log can tell waiting from dispatch work.
    queue_wait_nanos: std::sync::atomic::AtomicU64,
    /// Standby replicas kept warm here (`--standby-replicas`, [`standby`]).
    standbys: standby::Standbys,
    /// Which stores' partitions this instance can answer queries for
    /// (`state::queries`), kept as tasks restore, run and close.
    queries: Arc<Queryable>,
}

/// How long a partition with no committed offset and nothing polled may
/// have an unknown lag before its first offset is asked of the broker.
const ASK_LOW_AFTER: Duration = Duration::from_secs(1);

impl TaskManager {
    /// A manager for the sub-topologies `subtopologies` with `threads`
    /// workers; `shutdown` is the process's signal flag (see [`Shutdown`]).
    pub fn new(
        subtopologies: &[Arc<TaskSpec>],
        threads: usize,
        producer: Arc<dyn RecordSink>,
        feed: FeedOptions,
        shutdown: Arc<std::sync::atomic::AtomicBool>,
    ) -> std::io::Result<Self> {
        Self::with_clock(subtopologies, threads, producer, feed, shutdown, Arc::new(SystemClock))
    }

    /// [`Self::new`] with tasks reading time from `clock` (`rill test`
    /// drives a [`crate::task::clock::ManualClock`]).
    pub fn with_clock(
        subtopologies: &[Arc<TaskSpec>],
        threads: usize,
        producer: Arc<dyn RecordSink>,
        feed: FeedOptions,
        shutdown: Arc<std::sync::atomic::AtomicBool>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Self> {
        let fatal = FatalSlot::default();
        let shutdown = Shutdown::new(shutdown);
        let workers = (0..threads.max(1))
            .map(|i| Worker::spawn(i, producer.clone(), fatal.clone(), shutdown.clone(), clock.clone()))
            .collect::<Result<_, _>>()?;
        for i in 0..threads.max(1) {
            use crate::observe::metrics as m;
            for name in [m::THREAD_TASKS_CREATED, m::THREAD_TASKS_CLOSED, m::THREAD_REPLACEMENTS] {
                metrics::counter!(name, "thread" => format!("rill-worker-{i}")).increment(0);
            }
        }
        for result in ["committed", "aborted"] {
            metrics::counter!(crate::observe::metrics::TRANSACTIONS, "result" => result).increment(0);
        }
        metrics::counter!(crate::observe::metrics::REDELIVERED).increment(0);
        let by_topic = subtopologies
            .iter()
            .flat_map(|spec| spec.input_topics().map(move |t| (t.clone(), spec.clone())))
            .collect();
        Ok(TaskManager {
            by_topic,
            workers,
            tasks: BTreeMap::new(),
            producer,
            fatal,
            positions: positions::Positions::default(),
            feed,
            failures: Vec::new(),
            updater: StateUpdater::start()?,
            replacements: vec![Vec::new(); threads.max(1)],
            shutdown,
            clock,
            transactions: None,
            aborted: None,
            rollbacks: Vec::new(),
            refused_by_rebalance: false,
            incremental: false,
            queue_wait_nanos: Default::default(),
            standbys: Default::default(),
            queries: Arc::default(),
        })
    }

    /// Ticks every task now at the clock's time (wall-clock timers,
    /// `idle-advance`) and returns once every worker has: for a clock that
    /// does not tick on its own. Outputs are acknowledged later, as usual.
    pub fn tick(&self) {
        self.on_every_worker(|reply| Command::Tick { reply });
    }

    /// Moves the stream time of every task (of `partition` when given) to
    /// `to` (see [`crate::task::stream_task::StreamTask::advance_stream_time`]);
    /// returns once every worker has.
    pub fn advance_stream_time(&self, to: i64, partition: Option<i32>) {
        self.on_every_worker(|reply| Command::AdvanceStreamTime { to, partition, reply });
    }

    /// Sends `command` to every worker (after what each has queued) and
    /// waits for each reply.
    fn on_every_worker(&self, command: impl Fn(crossbeam_channel::Sender<()>) -> Command) {
        let replies: Vec<_> = self
            .workers
            .iter()
            .filter_map(|worker| {
                let (reply, done) = bounded(1);
                worker.commands.send(command(reply)).ok().map(|()| done)
            })
            .collect();
        for done in replies {
            // A worker that died replies never; its failure is reported
            // by `failed_worker`.
            let _ = done.recv();
        }
    }

    /// Exactly-once: commits go through `transactions` (see
    /// [`Self::commit`]); `None` keeps at-least-once.
    pub fn set_transactions(&mut self, transactions: Option<Arc<dyn Transactions>>) {
        self.transactions = transactions;
    }

    /// Keeps `queries` (the registry `--http` serves interactive queries
    /// from) up to date with where each task's stores are.
    pub fn set_queries(&mut self, queries: Arc<Queryable>) {
        self.queries = queries;
    }

    /// Tells the query registry about each key-value and windowed store
    /// of task `id`: `state` is `None` while it restores, then each stage's
    /// state.
    fn publish_stores(&self, id: &TaskId, spec: &TaskSpec, states: Option<&[Option<StateManager>]>) {
        for (stage, processor) in spec.processors().enumerate() {
            let manifest = processor.manifest();
            for store in queried_stores(&manifest) {
                match states.map(|s| s.get(stage)) {
                    None => self.queries.restoring(store, id.partition),
                    Some(Some(Some(state))) => self.queries.running(store, id.partition, state.store()),
                    Some(_) => {}
                }
            }
        }
    }

    /// Tells the query registry that task `id`'s stores closed here.
    fn unpublish_stores(&self, id: &TaskId) {
        let Some(spec) = self.spec_of(id) else { return };
        for processor in spec.processors() {
            let manifest = processor.manifest();
            for store in queried_stores(&manifest) {
                self.queries.closed(store, id.partition);
            }
        }
    }

    /// The task that owns `partition` of `topic`, if assigned here.
    pub fn task_for(&self, topic: &str, partition: i32) -> Option<TaskId> {
        let spec = self.by_topic.get(topic)?;
        let id = TaskId {
            processor: spec.name.clone(),
            partition,
        };
        self.tasks.contains_key(&id).then_some(id)
    }

    /// Creates (and starts on a worker) the tasks for newly assigned
    /// partitions. `committed` holds the group's committed offset of each
    /// assigned partition that has one: where the consumer starts, and how
    /// far a table is restored from its topic before the rest is processed
    /// as input. Returns the partitions of tasks that restore first: the
    /// consumer must not fetch them until [`Self::poll_restores`] hands
    /// them back.
    pub fn handle_assignment(
        &mut self,
        partitions: &[TopicPartition],
        committed: &HashMap<TopicPartition, i64>,
    ) -> Vec<TopicPartition> {
        self.refused_by_rebalance = false;
        if !partitions.is_empty() {
            // The group has answered a warm-up (`--warm-up`): from here on,
            // placement alone decides which standbys stay.
            self.end_warm_up();
        }
        for tp in partitions {
            if let Some(offset) = committed.get(tp) {
                let p = self.positions.of(tp);
                p.position = Some(*offset);
                // The group's offset: committing it again would be a no-op.
                p.committed = Some(*offset);
            }
        }
        let mut restoring = Vec::new();
        for TopicPartition { topic, partition } in partitions {
            let Some(spec) = self.by_topic.get(topic).cloned() else {
                continue;
            };
            let id = TaskId {
                processor: spec.name.clone(),
                partition: *partition,
            };
            if self.tasks.contains_key(&id) {
                continue;
            }
            let worker = self.least_loaded_worker();
            let progress = Arc::new(TaskProgress::default());
            let group = PartitionGroup::new(
                spec.input_topics().map(|t| (Arc::<str>::from(t.as_str()), *partition)),
                self.feed.max_task_idle,
            );
            let mut entry = TaskEntry {
                worker,
                state: TaskState::Created,
                progress: progress.clone(),
                paused_reported: false,
                group,
                throttled: Vec::new(),
                restore: None,
                partitions: spec.input_topics().map(|t| format!("{t}-{partition}")).collect(),
            };
            transition(&id, &mut entry, TaskState::Restoring);
            entry.restore = if spec.is_stateful() {
                // Stateful: restored on the state updater while its
                // partitions are paused; it starts once that is done.
                let tables: HashMap<String, i64> = spec
                    .sources
                    .iter()
                    .filter(|s| s.table)
                    .filter_map(|s| {
                        committed
                            .get(&TopicPartition::new(s.topic.as_str(), *partition))
                            .map(|o| (s.topic.clone(), *o))
                    })
                    .collect();
                // A standby of it here hands over its warm directory first.
                let kind = if self.promote_standby(&id) {
                    "standby"
                } else if has_checkpoint(&id, &spec) {
                    "tail"
                } else {
                    "full"
                };
                metrics::counter!(crate::observe::metrics::TASK_RESTORES, "kind" => kind).increment(1);
                let (task, spec) = (id.clone(), spec.clone());
                restoring.extend(spec.input_topics().map(|t| TopicPartition::new(t.as_str(), *partition)));
                self.publish_stores(&id, &spec, None);
                tracing::info!(task = %id, "task restoring");
                Some(self.updater.submit(Box::new(move |cancel: &AtomicBool| {
                    open_state(&task, &spec, &tables, cancel)
                })))
            } else {
                // Stateless: nothing to restore, the worker starts it now.
                metrics::counter!(crate::observe::metrics::TASK_RESTORES, "kind" => "none").increment(1);
                self.start_on_worker(worker, &id, &spec, &progress, Vec::new());
                transition(&id, &mut entry, TaskState::Running);
                tracing::info!(task = %id, worker, "task running");
                None
            };
            self.tasks.insert(id, entry);
        }
        restoring
    }

    /// Starts the tasks whose restore finished on their workers; returns
    /// their partitions, to be fetched again. A restore that failed stops
    /// the application (as a task that cannot start does).
    pub fn poll_restores(&mut self) -> Vec<TopicPartition> {
        self.tend_standbys();
        let mut ready = Vec::new();
        let finished: Vec<(TaskId, Result<TaskStates, StateError>)> = self
            .tasks
            .iter()
            .filter_map(|(id, entry)| Some((id.clone(), entry.restore.as_ref()?.try_finish()?)))
            .collect();
        for (id, outcome) in finished {
            let Some(spec) = self.spec_of(&id) else { continue };
            let entry = self.tasks.get_mut(&id).expect("listed above");
            entry.restore = None;
            match outcome {
                Ok(states) => {
                    let (worker, progress) = (entry.worker, entry.progress.clone());
                    transition(&id, entry, TaskState::Running);
                    ready.extend(
                        spec.input_topics()
                            .map(|t| TopicPartition::new(t.as_str(), id.partition)),
                    );
                    self.publish_stores(&id, &spec, Some(&states));
                    self.start_on_worker(worker, &id, &spec, &progress, states);
                    tracing::info!(task = %id, worker, "task running");
                }
                Err(error) => set_fatal(&self.fatal, None, format!("task {id}: {error}")),
            }
        }
        ready
    }

    fn start_on_worker(
        &self,
        worker: usize,
        id: &TaskId,
        spec: &Arc<TaskSpec>,
        progress: &Arc<TaskProgress>,
        states: Vec<Option<StateManager>>,
    ) {
        self.send(
            worker,
            Command::Start {
                id: id.clone(),
                spec: spec.clone(),
                progress: progress.clone(),
                states,
            },
        );
    }

    fn spec_of(&self, id: &TaskId) -> Option<Arc<TaskSpec>> {
        self.by_topic.values().find(|s| s.name == id.processor).cloned()
    }

    /// Closes the tasks owning any of `partitions`: their queued batches are
    /// finished, their outputs flushed and acknowledged, their offsets
    /// committed once.
    ///
    /// This runs inside librdkafka's revoke callback, and under the eager
    /// protocol the member sends its JoinGroup only once it returns, so it
    /// must return promptly: the commit is tried once and not retried when
    /// the coordinator refuses it because the group is rebalancing (a
    /// broker may refuse commits while it waits for members to rejoin; the
    /// partitions' next owner resumes from the last commit). Waiting for
    /// acknowledgements is bounded by [`DRAIN_TIMEOUT`].
    pub fn handle_revocation(&mut self, partitions: &[TopicPartition], committer: &dyn OffsetCommitter) {
        let ids = self.tasks_owning(partitions);
        self.close_tasks(&ids, Some(committer));
        // What the refusal was about is gone with the closed tasks; the
        // next generation's commits start afresh.
        self.refused_by_rebalance = false;
    }

    /// Closes the tasks owning any of `partitions`, which this member lost
    /// without giving them up (Kafka Streams' `handleLostAll`): their
    /// next owner may be processing them already, so nothing of theirs is
    /// committed and their uncommitted state writes are dropped.
    ///
    /// Exactly-once: the open transaction holds their work, so it is
    /// aborted first; tasks that were not lost are then rolled back to the
    /// last commit by the poll loop, as after any abort.
    pub fn handle_lost(&mut self, partitions: &[TopicPartition]) {
        let ids = self.tasks_owning(partitions);
        if let Some(txn) = self.transactions.clone()
            && self.aborted.is_none()
        {
            self.abandon_transaction(
                &*txn,
                TxnError::Abortable(format!(
                    "this member lost {} (its session expired or it was fenced), so its transaction must not commit",
                    crate::kafka::member::show(partitions)
                )),
            );
        }
        self.close_tasks(&ids, None);
        if self.tasks.is_empty() {
            // Nothing is left to roll back.
            self.aborted = None;
        }
        self.refused_by_rebalance = false;
    }

    /// The tasks owning any of `partitions`, each once (a task owns one
    /// partition of each of its inputs).
    fn tasks_owning(&self, partitions: &[TopicPartition]) -> Vec<TaskId> {
        let mut ids: Vec<TaskId> = partitions
            .iter()
            .filter_map(|tp| self.task_for(&tp.topic, tp.partition))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Says whether the member rebalances incrementally (cooperative or
    /// KIP-848): then a commit refused because the group is rebalancing
    /// does not hold dispatch, since only the partitions that move are
    /// revoked and every other task goes on (see [`Self::dispatch_ready`]).
    pub fn set_incremental(&mut self, incremental: bool) {
        self.incremental = incremental;
    }

    /// Whether the last commit was refused because the group is
    /// rebalancing (see [`CommitError::Rebalancing`]): retrying before the
    /// rebalance reaches this member cannot succeed.
    pub fn commits_refused_by_rebalance(&self) -> bool {
        self.refused_by_rebalance
    }

    /// Closes every task, committing what they processed.
    pub fn close_all(&mut self, committer: &dyn OffsetCommitter) {
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.close_tasks(&ids, Some(committer));
        self.stop_standbys();
    }

    /// Closes `ids`: finishes their queued batches, commits what they
    /// processed (`committer`; `None` after an aborted transaction, when
    /// nothing of theirs may be committed), checkpoints and drops them.
    fn close_tasks(&mut self, ids: &[TaskId], committer: Option<&dyn OffsetCommitter>) {
        if ids.is_empty() {
            return;
        }
        if let Some(committer) = committer
            && self.transactions.is_some()
        {
            // Exactly-once: the transaction commits before the tasks close,
            // so their held writes reach RocksDB and the checkpoint.
            self.commit_transaction(committer);
        }
        let mut replies = Vec::new();
        for id in ids {
            let Some(entry) = self.tasks.get_mut(id) else { continue };
            if let Some(restore) = entry.restore.take() {
                // Still restoring: stop it; it keeps (and checkpoints) what
                // it restored for whoever opens this state next.
                match restore.cancel(DRAIN_TIMEOUT) {
                    Some(Ok(states)) => {
                        for state in states.iter().flatten() {
                            if let Err(error) = state.checkpoint() {
                                tracing::warn!(task = %id, "checkpointing a revoked restore: {error}");
                            }
                        }
                    }
                    Some(Err(error)) => tracing::warn!(task = %id, "revoked while restoring: {error}"),
                    None => tracing::warn!(task = %id, "the revoked restore did not stop in time"),
                }
                continue;
            }
            if entry.state != TaskState::Running {
                // Its restore failed (the application is stopping): no
                // worker runs it, there is nothing to suspend.
                continue;
            }
            transition(id, entry, TaskState::Suspended);
            let (reply, done) = bounded(1);
            let worker = entry.worker;
            self.send(worker, Command::Close { id: id.clone(), reply });
            replies.push(done);
        }
        for done in replies {
            let _ = done.recv();
        }
        if let Err(error) = self.producer.flush(DRAIN_TIMEOUT) {
            tracing::warn!("flushing outputs of closing tasks: {error}");
        }
        if let Some(committer) = committer {
            let deadline = Instant::now() + DRAIN_TIMEOUT;
            while ids.iter().any(|id| {
                self.tasks
                    .get(id)
                    .is_some_and(|t| !t.progress.is_committed() && t.progress.failure().is_none())
            }) && Instant::now() < deadline
            {
                self.collect(ids);
                std::thread::sleep(Duration::from_millis(1));
            }
            self.commit_tasks(ids, committer);
        }
        for id in ids {
            if let Some(mut entry) = self.tasks.remove(id) {
                if let Some(failure) = entry.progress.failure() {
                    self.failures.push(failure);
                }
                transition(id, &mut entry, TaskState::Closed);
                self.unpublish_stores(id);
                // Another member may advance these partitions now; a stale
                // position must never be committed if they come back.
                for topic in self.topics_of(id) {
                    self.forget_partition(&TopicPartition::new(topic, id.partition));
                }
                tracing::info!(task = %id, "task closed");
            }
        }
    }

    /// Whether any task is still restoring its state.
    pub fn is_restoring(&self) -> bool {
        self.tasks.values().any(|t| t.restore.is_some())
    }

    /// Feeds the lag monitor (see [`crate::observe::lag`]) one entry per
    /// assigned input partition: its committed offset, end offset and how
    /// far behind in time it is. Called once per commit interval, so a
    /// member that commits without moving shows as STALL and one whose
    /// loop stopped as STOP.
    pub fn observe_lag(&mut self, marks: &dyn Watermarks) {
        let now = crate::observe::now_ms();
        let mut monitor = crate::observe::telemetry().lag();
        let partitions: Vec<TopicPartition> = self
            .tasks
            .keys()
            .flat_map(|id| {
                self.topics_of(id)
                    .into_iter()
                    .map(|t| TopicPartition::new(t, id.partition))
            })
            .collect();
        for tp in partitions {
            let end = marks.high(&tp.topic, tp.partition);
            let p = self.positions.of(&tp);
            let committed = p.committed;
            let times = &mut p.polled_times;
            if let Some(committed) = committed {
                // Drop chunks wholly committed: the front one then holds
                // the oldest uncommitted record, if it was polled.
                while times.front().is_some_and(|(_, last, _)| *last < committed) {
                    times.pop_front();
                }
            }
            let lag_seconds = times.front().map(|(_, _, ts)| ((now - ts) as f64 / 1000.0).max(0.0));
            match (committed, end) {
                (Some(offset), Some(end)) => {
                    monitor.commit(&tp.topic, tp.partition, offset, end, now);
                    monitor.observe(&tp.topic, tp.partition, Some(end), lag_seconds);
                }
                _ => monitor.observe(&tp.topic, tp.partition, end, lag_seconds),
            }
        }
    }

    /// Why tasks that were closed had failed (the run's outcome).
    pub fn failures(&self) -> Vec<TaskFailure> {
        let mut failures = self.failures.clone();
        failures.extend(self.tasks.values().filter_map(|t| t.progress.failure()));
        failures
    }

    /// True when no task has records buffered, a batch queued or outputs
    /// in flight.
    pub fn is_idle(&self) -> bool {
        self.tasks.values().all(|t| {
            t.restore.is_none() && t.progress.is_idle() && (t.group.total_buffered() == 0 || t.progress.is_paused())
        })
    }

    /// Forgets everything known of a partition this member no longer works
    /// on, so a stale position is never committed if it comes back.
    fn forget_partition(&mut self, tp: &TopicPartition) {
        self.positions.forget(tp);
        crate::observe::telemetry().lag().forget(&tp.topic, tp.partition);
    }

    fn topics_of(&self, id: &TaskId) -> Vec<String> {
        self.by_topic
            .iter()
            .filter(|(_, spec)| spec.name == id.processor)
            .map(|(topic, _)| topic.clone())
            .collect()
    }

    fn least_loaded_worker(&self) -> usize {
        let mut load = vec![0usize; self.workers.len()];
        for entry in self.tasks.values() {
            load[entry.worker] += 1;
        }
        (0..load.len()).min_by_key(|w| load[*w]).unwrap_or(0)
    }

    fn send(&self, worker: usize, command: Command) {
        use crossbeam_channel::TrySendError;
        // Timed only when the queue is full, so the common case costs no
        // clock read.
        let sent = match self.workers[worker].commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => {
                let waiting = Instant::now();
                let sent = self.workers[worker].commands.send(command).map_err(drop);
                self.queue_wait_nanos
                    .fetch_add(waiting.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
                sent
            }
            Err(TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            set_fatal(&self.fatal, Some(worker), format!("worker {worker} stopped"));
        }
    }

    /// Nanoseconds spent so far waiting on full worker queues (part of the
    /// poll loop's dispatch time).
    pub fn queue_wait_nanos(&self) -> u64 {
        self.queue_wait_nanos.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Moves a task along its state diagram, reporting it to `/status` and
/// the worker's task counters.
fn transition(id: &TaskId, entry: &mut TaskEntry, next: TaskState) {
    if let Err(illegal) = entry.state.transition(next) {
        tracing::error!(task = %id, "{illegal}");
        return;
    }
    let thread = format!("rill-worker-{}", entry.worker);
    match next {
        TaskState::Running => {
            metrics::counter!(crate::observe::metrics::THREAD_TASKS_CREATED, "thread" => thread).increment(1)
        }
        TaskState::Closed => {
            metrics::counter!(crate::observe::metrics::THREAD_TASKS_CLOSED, "thread" => thread).increment(1)
        }
        _ => {}
    }
    let state = (next != TaskState::Closed).then(|| next.to_string());
    crate::observe::telemetry().task(
        &id.to_string(),
        state.as_deref(),
        entry.worker,
        entry.partitions.clone(),
    );
}

/// The stores of `manifest` that queries read: its key-value stores and
/// its windowed stores.
fn queried_stores(manifest: &crate::manifest::Manifest) -> impl Iterator<Item = &String> {
    manifest.stores.iter().chain(manifest.windows.iter().map(|w| &w.name))
}
