//! The control plane: turns group assignments into tasks on workers, hands
//! polled batches to them, and commits what their progress allows.
//!
//! It never touches the network itself: offsets go through an
//! [`OffsetCommitter`], so the logic can be driven without a broker.

use super::TaskId;
use super::partition_group::{Lag, PartitionGroup};
use super::progress::TaskProgress;
use super::shutdown::Shutdown;
use super::spec::TaskSpec;
use super::state::TaskState;
use super::stream_task::open_state;
use super::worker::{Command, FatalSlot, Worker, set_fatal};
pub use crate::kafka::member::{CommitError, Offset, OffsetCommitter, RebalanceListener, Watermarks};
use crate::kafka::producer::{RecordSink, Transactions, TxnError};
use crate::plugin::InputRecord;
use crate::state::StateError;
use crate::state::manager::StateManager;
use crate::state::updater::{Restoring, StateUpdater};
use crossbeam_channel::bounded;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

impl RebalanceListener for TaskManager {
    fn assigned(
        &mut self,
        partitions: &[(String, i32)],
        committed: &HashMap<(String, i32), i64>,
    ) -> Vec<(String, i32)> {
        self.handle_assignment(partitions, committed)
    }

    fn revoked(&mut self, partitions: &[(String, i32)], committer: &dyn OffsetCommitter) {
        self.handle_revocation(partitions, committer)
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
            max_buffered: 2_000,
        }
    }
}

/// Partitions whose fetching should stop or start again because of how
/// much their tasks have buffered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FlowChange {
    /// Stop fetching these.
    pub pause: Vec<(String, i32)>,
    /// Fetch these again.
    pub resume: Vec<(String, i32)>,
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
    throttled: Vec<(String, i32)>,
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
    /// Latest committable offset per input partition, and what was
    /// committed, so a failed commit is retried and an unchanged one skipped.
    reached: HashMap<(String, i32), i64>,
    committed: HashMap<(String, i32), i64>,
    /// Next offset the consumer delivers per assigned input partition: the
    /// committed offset at assignment, then one past the last polled record.
    positions: HashMap<(String, i32), i64>,
    /// Partitions with no position whose lag could not be told yet, since
    /// when, and their first offset once asked of the broker.
    unknown_since: HashMap<(String, i32), Instant>,
    lows: HashMap<(String, i32), i64>,
    feed: FeedOptions,
    /// Tasks that stopped on a failure, with why, for the run's outcome.
    failures: Vec<String>,
    /// Restores tasks' state off the poll loop.
    updater: StateUpdater,
    /// Per input partition, the first offset and timestamp of each polled
    /// chunk not yet committed (first offset, last offset, timestamp of the
    /// first): how far behind in time the group is.
    polled_times: HashMap<(String, i32), std::collections::VecDeque<(i64, i64, i64)>>,
    /// The process's shutdown, handed to replacement workers.
    shutdown: Arc<Shutdown>,
    /// When each worker was replaced, for [`MAX_REPLACEMENTS`].
    replacements: Vec<Vec<Instant>>,
    /// Exactly-once: the transactional producer whose transaction every
    /// task's outputs, changelog records and dead letters go into; `None`
    /// under at-least-once.
    transactions: Option<Arc<dyn Transactions>>,
    /// Exactly-once: why the open transaction was aborted, until the poll
    /// loop rolls every task back to the last commit ([`Self::roll_back`]).
    aborted: Option<String>,
    /// When transactions were rolled back, for [`MAX_REPLACEMENTS`].
    rollbacks: Vec<Instant>,
    /// The last commit was refused because the group is rebalancing
    /// ([`CommitError::Rebalancing`]): no batch is dispatched, the poll loop
    /// stops its early commits (every idle turn) and tries again only each
    /// commit interval, until an assignment or revocation starts the next
    /// generation or a retried commit succeeds.
    refused_by_rebalance: bool,
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
        let fatal = FatalSlot::default();
        let shutdown = Shutdown::new(shutdown);
        let workers = (0..threads.max(1))
            .map(|i| Worker::spawn(i, producer.clone(), fatal.clone(), shutdown.clone()))
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
            reached: HashMap::new(),
            committed: HashMap::new(),
            positions: HashMap::new(),
            unknown_since: HashMap::new(),
            lows: HashMap::new(),
            feed,
            failures: Vec::new(),
            updater: StateUpdater::start()?,
            polled_times: HashMap::new(),
            replacements: vec![Vec::new(); threads.max(1)],
            shutdown,
            transactions: None,
            aborted: None,
            rollbacks: Vec::new(),
            refused_by_rebalance: false,
        })
    }

    /// Exactly-once: commits go through `transactions` (see
    /// [`Self::commit`]); `None` keeps at-least-once.
    pub fn set_transactions(&mut self, transactions: Option<Arc<dyn Transactions>>) {
        self.transactions = transactions;
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
        partitions: &[(String, i32)],
        committed: &HashMap<(String, i32), i64>,
    ) -> Vec<(String, i32)> {
        self.refused_by_rebalance = false;
        for tp in partitions {
            if let Some(offset) = committed.get(tp) {
                self.positions.insert(tp.clone(), *offset);
                // The group's offset: committing it again would be a no-op.
                self.committed.insert(tp.clone(), *offset);
            }
        }
        let mut restoring = Vec::new();
        for (topic, partition) in partitions {
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
                            .get(&(s.topic.clone(), *partition))
                            .map(|o| (s.topic.clone(), *o))
                    })
                    .collect();
                let (task, spec) = (id.clone(), spec.clone());
                restoring.extend(spec.input_topics().map(|t| (t.clone(), *partition)));
                tracing::info!(task = %id, "task restoring");
                Some(self.updater.submit(Box::new(move |cancel: &AtomicBool| {
                    open_state(&task, &spec, &tables, cancel)
                })))
            } else {
                // Stateless: nothing to restore, the worker starts it now.
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
    pub fn poll_restores(&mut self) -> Vec<(String, i32)> {
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
                    ready.extend(spec.input_topics().map(|t| (t.clone(), id.partition)));
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
    pub fn handle_revocation(&mut self, partitions: &[(String, i32)], committer: &dyn OffsetCommitter) {
        // A task owns one partition of each input: name it once.
        let mut ids: Vec<TaskId> = partitions
            .iter()
            .filter_map(|(topic, partition)| self.task_for(topic, *partition))
            .collect();
        ids.sort();
        ids.dedup();
        self.close_tasks(&ids, Some(committer));
        // What the refusal was about is gone with the closed tasks; the
        // next generation's commits start afresh.
        self.refused_by_rebalance = false;
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
                // Another member may advance these partitions now; a stale
                // position must never be committed if they come back.
                for topic in self.topics_of(id) {
                    self.forget_partition(&(topic, id.partition));
                }
                tracing::info!(task = %id, "task closed");
            }
        }
    }

    /// Buffers records polled from one partition (offset order) with the
    /// task that owns it; records of partitions not assigned here are
    /// dropped (the consumer delivers them again to their new owner).
    pub fn buffer(&mut self, topic: &str, partition: i32, records: Vec<InputRecord>) {
        let (Some(first), Some(last)) = (records.first(), records.last().map(|r| r.offset)) else {
            return;
        };
        let tp = (topic.to_string(), partition);
        let times = self.polled_times.entry(tp).or_default();
        if times.len() < 4096 {
            times.push_back((first.offset, last, first.timestamp));
        }
        let Some(id) = self.task_for(topic, partition) else {
            tracing::debug!("dropping {} records of unassigned {topic}/{partition}", records.len());
            return;
        };
        if let Some(entry) = self.tasks.get_mut(&id) {
            entry.group.add(topic, partition, records);
            self.positions.insert((topic.to_string(), partition), last + 1);
        }
    }

    /// Hands each task's records to its worker in timestamp order, in
    /// batches of at most `batch_size`, as far as its partition group lets
    /// it go (waits if a worker's queue is full).
    pub fn dispatch_ready(&mut self, marks: &dyn Watermarks) {
        if self.aborted.is_some() {
            // The tasks are about to be rolled back: nothing more for them.
            return;
        }
        if self.refused_by_rebalance {
            // Nothing processed now could be committed: the group is
            // rebalancing and the partitions' next owner (maybe this
            // member) resumes from the last commit. Records wait in their
            // buffers (flow control pauses fetching when those fill), so
            // the duplicates a rebalance causes stay within what was
            // processed before the coordinator refused the commit.
            return;
        }
        let now = Instant::now();
        let ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, e)| e.restore.is_none() && e.group.total_buffered() > 0 && !e.progress.is_paused())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            loop {
                let batch = {
                    let Some(entry) = self.tasks.get(&id) else { break };
                    // Each partition's lag (used once it runs dry), worked
                    // out before the group is borrowed mutably.
                    let partitions: Vec<(String, i32)> =
                        entry.group.partitions().map(|(t, p, _)| (t.to_string(), p)).collect();
                    let lags: Vec<((String, i32), Lag)> = partitions
                        .into_iter()
                        .map(|tp| {
                            let lag = self.lag(&tp, marks, now);
                            (tp, lag)
                        })
                        .collect();
                    let batch_size = self.feed.batch_size;
                    let entry = self.tasks.get_mut(&id).expect("present above");
                    entry.group.take_ready(batch_size, now, |t, p| {
                        lags.iter()
                            .find(|((lt, lp), _)| lt == t && *lp == p)
                            .map_or(Lag::Unknown, |(_, lag)| *lag)
                    })
                };
                if batch.is_empty() {
                    break;
                }
                let full = batch.len() >= self.feed.batch_size;
                let entry = &self.tasks[&id];
                entry.progress.queue();
                self.send(
                    entry.worker,
                    Command::Batch {
                        id: id.clone(),
                        records: batch,
                    },
                );
                if !full {
                    break;
                }
            }
        }
    }

    /// What is left on the broker for an empty partition; asks the broker
    /// for the first offset only for a partition with no position that has
    /// been unknown for a while (a partition emptied by retention).
    fn lag(&mut self, tp: &(String, i32), marks: &dyn Watermarks, now: Instant) -> Lag {
        let Some(high) = marks.high(&tp.0, tp.1) else {
            return Lag::Unknown;
        };
        let position = match self.positions.get(tp).or_else(|| self.lows.get(tp)) {
            Some(position) => *position,
            None if high <= 0 => return Lag::Known(0),
            None => {
                let since = *self.unknown_since.entry(tp.clone()).or_insert(now);
                if now.saturating_duration_since(since) < ASK_LOW_AFTER {
                    return Lag::Unknown;
                }
                match marks.low(&tp.0, tp.1) {
                    Some(low) => {
                        self.lows.insert(tp.clone(), low);
                        low
                    }
                    None => {
                        self.unknown_since.insert(tp.clone(), now);
                        return Lag::Unknown;
                    }
                }
            }
        };
        Lag::Known((high - position).max(0))
    }

    /// Stops fetching partitions whose task has buffered `max_buffered`
    /// records and fetches them again once below half, so a task waiting
    /// on one input cannot buffer another without bound.
    pub fn flow_control(&mut self) -> FlowChange {
        let limit = self.feed.max_buffered.max(self.feed.batch_size);
        let mut change = FlowChange::default();
        for entry in self.tasks.values_mut() {
            let mut over = Vec::new();
            let mut under = Vec::new();
            for (topic, partition, buffered) in entry.group.partitions() {
                let tp = (topic.to_string(), partition);
                let throttled = entry.throttled.contains(&tp);
                if !throttled && buffered >= limit {
                    over.push(tp);
                } else if throttled && buffered < limit / 2 {
                    under.push(tp);
                }
            }
            entry.throttled.retain(|tp| !under.contains(tp));
            entry.throttled.extend(over.iter().cloned());
            // A paused task's partitions stay paused whatever it buffers.
            if !entry.progress.is_paused() {
                change.resume.extend(under);
            }
            change.pause.extend(over);
        }
        change
    }

    /// Commits every task's acknowledged progress. A task whose outputs
    /// could not be delivered is stopped instead (see [`Self::collect`]).
    pub fn commit(&mut self, committer: &dyn OffsetCommitter) {
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.commit_tasks(&ids, committer);
    }

    /// Takes each task's committable positions. A task with an undelivered
    /// output (refused for its topic or the cluster, or timed out) fails:
    /// it stops, loudly, and nothing past the failure is ever committed.
    fn collect(&mut self, ids: &[TaskId]) {
        for id in ids {
            let Some(entry) = self.tasks.get(id) else { continue };
            match entry.progress.take_committable() {
                Ok(reached) => {
                    for (topic, offset) in reached {
                        self.reached.insert((topic.to_string(), id.partition), offset);
                    }
                }
                Err(failure) => {
                    if entry.progress.failure().is_none() {
                        tracing::error!(
                            task = %id,
                            "{failure}; stopping the task without committing past it (a restart reprocesses from the last commit)"
                        );
                        entry.progress.fail(failure);
                    }
                }
            }
        }
    }

    fn commit_tasks(&mut self, ids: &[TaskId], committer: &dyn OffsetCommitter) {
        if self.transactions.is_some() {
            // One transaction holds every task's work: it commits whole.
            self.commit_transaction(committer);
            return;
        }
        self.collect(ids);
        let due: Vec<Offset> = self
            .reached
            .iter()
            .filter(|(tp, offset)| self.committed.get(*tp) != Some(offset))
            .map(|((topic, partition), offset)| (topic.clone(), *partition, *offset))
            .collect();
        if due.is_empty() {
            return;
        }
        match committer.commit(&due) {
            Ok(()) => {
                self.refused_by_rebalance = false;
                for (topic, partition, offset) in due {
                    self.committed.insert((topic, partition), offset);
                }
            }
            Err(error @ CommitError::Rebalancing(_)) => {
                if !self.refused_by_rebalance {
                    tracing::info!(
                        "offset commit refused: {error}; processing holds and the commit is retried each commit \
                         interval until the rebalance reaches this member (a revoked partition's next owner \
                         resumes from the last commit)"
                    );
                }
                self.refused_by_rebalance = true;
            }
            Err(error) => tracing::warn!("offset commit failed (will retry): {error}"),
        }
    }

    /// Exactly-once commit (Kafka Streams' EOS v2, one transaction for the
    /// whole process): every worker stops after the batches it was given,
    /// the producer's deliveries settle, the input positions those batches
    /// reached go into the transaction with the group metadata, and it
    /// commits; then the workers apply their tasks' held writes to RocksDB
    /// and go on in the next transaction. Any failure aborts instead, and
    /// the poll loop rolls every task back ([`Self::roll_back`]); a fatal
    /// producer error (fenced) stops the application.
    ///
    /// ```text
    /// workers: ... batch batch │stopped│ ........ apply held writes │ next txn
    /// manager:                  flush, offsets, commit ──► begin ──►│
    ///                           (failure: abort ──► begin, workers drop nothing yet,
    ///                            poll loop: roll_back)
    /// ```
    fn commit_transaction(&mut self, committer: &dyn OffsetCommitter) {
        let Some(txn) = self.transactions.clone() else { return };
        if self.aborted.is_some() {
            // Aborted already; nothing may commit until the roll-back.
            return;
        }
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.collect(&ids);
        let due = self.due_offsets();
        if due.is_empty() && self.tasks.values().all(|t| t.progress.is_idle()) && !self.sent_since_commit() {
            return;
        }
        let barriers = self.stop_workers();
        let outcome = self.finish_transaction(&*txn, committer, &ids);
        let committed = outcome.is_ok();
        let outcome = outcome.and_then(|due| {
            tracing::debug!(offsets = due.len(), "transaction committed");
            for (topic, partition, offset) in due {
                self.committed.insert((topic, partition), offset);
            }
            txn.begin()
        });
        self.resume_workers(barriers, committed);
        if let Err(error) = outcome {
            self.abandon_transaction(&*txn, error);
        }
    }

    /// Offsets reached and not yet committed.
    fn due_offsets(&self) -> Vec<Offset> {
        self.reached
            .iter()
            .filter(|(tp, offset)| self.committed.get(*tp) != Some(offset))
            .map(|((topic, partition), offset)| (topic.clone(), *partition, *offset))
            .collect()
    }

    /// Whether the open transaction may hold records no input offset
    /// accounts for (timers, a batch still in flight).
    fn sent_since_commit(&self) -> bool {
        self.transactions.as_ref().is_some_and(|t| t.has_records())
            || self.tasks.values().any(|t| !t.progress.is_committed())
    }

    /// With every worker stopped: settles deliveries, refuses to commit a
    /// transaction holding part of a failed batch, commits. Returns the
    /// offsets committed.
    fn finish_transaction(
        &mut self,
        txn: &dyn Transactions,
        committer: &dyn OffsetCommitter,
        ids: &[TaskId],
    ) -> Result<Vec<Offset>, TxnError> {
        if let Some(fatal) = self.fatal() {
            // A batch the failed worker dropped half-way may be in it.
            return Err(TxnError::Abortable(fatal));
        }
        if let Some(worker) = self.dead_worker() {
            return Err(TxnError::Abortable(format!(
                "worker {worker} stopped (its thread ended)"
            )));
        }
        txn.flush()?;
        self.collect(ids);
        if let Some((id, failure)) = self
            .tasks
            .iter()
            .find_map(|(id, t)| Some((id.clone(), t.progress.failure()?)))
        {
            // Part of the failed batch may be in the transaction.
            return Err(TxnError::Abortable(format!("task {id} failed: {failure}")));
        }
        let due = self.due_offsets();
        let lost = || {
            TxnError::Abortable(
                "this member lost its partitions (its session expired), so its transaction must not commit".into(),
            )
        };
        let group = committer.group_metadata();
        if committer.lost() {
            return Err(lost());
        }
        txn.send_offsets(&due, group.as_ref())?;
        // The session may have expired while the offsets were on their way.
        if committer.lost() {
            return Err(lost());
        }
        txn.commit()?;
        Ok(due)
    }

    /// The transaction could not commit: abort it (a fatal error, or an
    /// abort that fails, stops the application) and have the poll loop
    /// roll every task back.
    fn abandon_transaction(&mut self, txn: &dyn Transactions, error: TxnError) {
        let why = error.to_string();
        crate::observe::telemetry().event("transaction", "aborted", why.clone());
        metrics::counter!(crate::observe::metrics::TRANSACTIONS, "result" => "aborted").increment(1);
        if let TxnError::Fatal(message) = error {
            tracing::error!("{message}; stopping (another instance may own this application's transactional.id)");
            set_fatal(&self.fatal, None, message);
            return;
        }
        tracing::warn!("{why}; aborting it and rolling every task back to the last commit");
        if let Err(error) = txn.abort().and_then(|()| txn.begin()) {
            set_fatal(&self.fatal, None, format!("{why}; then {error}"));
            return;
        }
        self.aborted = Some(why);
    }

    /// Stops every worker after the commands it was given (see
    /// [`Command::Barrier`]); returns how to resume each.
    fn stop_workers(&self) -> Vec<(crossbeam_channel::Sender<bool>, crossbeam_channel::Receiver<()>)> {
        let mut barriers = Vec::new();
        let mut stops = Vec::new();
        for worker in 0..self.workers.len() {
            let (stopped_tx, stopped) = bounded(1);
            let (outcome, outcome_rx) = bounded(1);
            let (done_tx, done) = bounded(1);
            self.send(
                worker,
                Command::Barrier {
                    stopped: stopped_tx,
                    outcome: outcome_rx,
                    done: done_tx,
                },
            );
            stops.push(stopped);
            barriers.push((outcome, done));
        }
        for stopped in stops {
            // A worker that died drops the command: nothing to wait for.
            let _ = stopped.recv();
        }
        barriers
    }

    /// Tells every stopped worker how the transaction ended and waits until
    /// each has applied (`committed`) its tasks' held writes.
    fn resume_workers(
        &self,
        barriers: Vec<(crossbeam_channel::Sender<bool>, crossbeam_channel::Receiver<()>)>,
        committed: bool,
    ) {
        if committed {
            metrics::counter!(crate::observe::metrics::TRANSACTIONS, "result" => "committed").increment(1);
        }
        for (outcome, _) in &barriers {
            let _ = outcome.send(committed);
        }
        for (_, done) in barriers {
            let _ = done.recv();
        }
    }

    /// Exactly-once: why the transaction was aborted, once, for the poll
    /// loop to [`Self::roll_back`].
    pub fn take_aborted(&mut self) -> Option<String> {
        self.aborted.take()
    }

    /// Exactly-once, after an aborted transaction (`why`): every task is
    /// dropped without committing or keeping its held writes, and created
    /// again from its checkpoint (which never includes uncommitted writes)
    /// with its partitions read again from the committed offsets (`rewind`
    /// moves the consumer there and returns the partitions still assigned,
    /// with their committed offsets; a lost one is left to the next
    /// rebalance). Returns the partitions and those to keep
    /// paused while the tasks restore. Refuses (the caller stops) the
    /// [`MAX_REPLACEMENTS`]th roll-back within [`REPLACEMENT_WINDOW`]: an
    /// abort that repeats is not transient.
    pub fn roll_back(
        &mut self,
        why: &str,
        rewind: &dyn Fn(&[(String, i32)]) -> Result<(Vec<(String, i32)>, HashMap<(String, i32), i64>), String>,
    ) -> Result<(Vec<(String, i32)>, Vec<(String, i32)>), String> {
        let now = Instant::now();
        self.rollbacks.retain(|at| now.duration_since(*at) < REPLACEMENT_WINDOW);
        if self.rollbacks.len() >= MAX_REPLACEMENTS {
            return Err(format!(
                "{why}; transactions were already rolled back {MAX_REPLACEMENTS} times within {}, so the fault is not transient",
                humantime::format_duration(REPLACEMENT_WINDOW)
            ));
        }
        self.rollbacks.push(now);
        // Whatever the workers did since the abort is void too.
        if let Some(txn) = self.transactions.clone() {
            let barriers = self.stop_workers();
            let outcome = txn.abort().and_then(|()| txn.begin());
            self.resume_workers(barriers, false);
            outcome.map_err(|e| format!("{why}; then {e}"))?;
        }
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        let mut partitions: Vec<(String, i32)> = ids
            .iter()
            .flat_map(|id| self.topics_of(id).into_iter().map(|t| (t, id.partition)))
            .collect();
        partitions.sort();
        self.close_tasks(&ids, None);
        let (partitions, committed) =
            rewind(&partitions).map_err(|e| format!("{why}; rewinding the partitions: {e}"))?;
        let restoring = self.handle_assignment(&partitions, &committed);
        tracing::info!("rolled back to the last commit: {} task(s) restarted", ids.len());
        Ok((partitions, restoring))
    }

    /// True when everything processed is committed: no batch awaits its
    /// acknowledgements and the last commit of every position succeeded.
    pub fn is_committed(&self) -> bool {
        self.tasks
            .values()
            .all(|t| t.progress.is_committed() || t.progress.is_paused())
            && self
                .reached
                .iter()
                .all(|(tp, offset)| self.committed.get(tp) == Some(offset))
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
        let partitions: Vec<(String, i32)> = self
            .tasks
            .keys()
            .flat_map(|id| self.topics_of(id).into_iter().map(|t| (t, id.partition)))
            .collect();
        for tp in partitions {
            let end = marks.high(&tp.0, tp.1);
            let committed = self.committed.get(&tp).copied();
            let times = self.polled_times.entry(tp.clone()).or_default();
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
                    monitor.commit(&tp.0, tp.1, offset, end, now);
                    monitor.observe(&tp.0, tp.1, Some(end), lag_seconds);
                }
                _ => monitor.observe(&tp.0, tp.1, end, lag_seconds),
            }
        }
    }

    /// Why tasks that were closed had failed (the run's outcome).
    pub fn failures(&self) -> Vec<String> {
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

    /// The error that stopped a worker, if any.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().as_ref().map(|f| f.message.clone())
    }

    /// A worker whose thread ended (it only does by panicking).
    pub fn dead_worker(&self) -> Option<usize> {
        self.workers.iter().position(Worker::is_finished)
    }

    /// A worker that must be replaced or the application stopped, and why:
    /// a fatal error on it, its thread gone (a panic), or a task on it
    /// that stopped on a failure (an output its topic or the cluster
    /// refused, local storage failing).
    pub fn failed_worker(&self) -> Option<(usize, String)> {
        if let Some(fatal) = self.fatal.lock().as_ref() {
            return fatal.worker.map(|w| (w, fatal.message.clone()));
        }
        if let Some(w) = self.dead_worker() {
            return Some((w, format!("worker {w} stopped (its thread ended)")));
        }
        self.tasks
            .iter()
            .find_map(|(id, t)| Some((t.worker, format!("task {id}: {}", t.progress.failure()?))))
    }

    /// `--on-fatal replace-worker` (Kafka Streams' REPLACE_THREAD): commits
    /// what the worker's tasks had acknowledged, drops them and the worker
    /// (its plugin instances and open state go with it), starts a new
    /// worker in its place, and creates the tasks again, their state
    /// reopened from checkpoint and changelog and their partitions read
    /// again from the last commit (`rewind` moves the consumer there and
    /// returns the committed offsets). Returns the tasks' partitions, and
    /// those to keep paused while the new tasks restore. Refuses (the caller stops the
    /// application) a worker replaced [`MAX_REPLACEMENTS`] times within
    /// [`REPLACEMENT_WINDOW`]: a fault that repeats is not transient.
    pub fn replace_worker(
        &mut self,
        worker: usize,
        why: &str,
        committer: &dyn OffsetCommitter,
        rewind: &dyn Fn(&[(String, i32)]) -> Result<HashMap<(String, i32), i64>, String>,
    ) -> Result<(Vec<(String, i32)>, Vec<(String, i32)>), String> {
        let now = Instant::now();
        let history = &mut self.replacements[worker];
        history.retain(|at| now.duration_since(*at) < REPLACEMENT_WINDOW);
        if history.len() >= MAX_REPLACEMENTS {
            return Err(format!(
                "{why}; worker {worker} was already replaced {MAX_REPLACEMENTS} times within {}, so the fault is not transient",
                humantime::format_duration(REPLACEMENT_WINDOW)
            ));
        }
        history.push(now);
        let ids: Vec<TaskId> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.worker == worker && t.restore.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        tracing::warn!(
            worker,
            "{why}; replacing worker {worker} and restarting its tasks ({}) from their last commit",
            ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        );
        if self.transactions.is_some() {
            // Exactly-once: the failed worker may have left half a batch
            // in the transaction, which holds every task's work: abort it
            // and roll every task back (the poll loop does, next).
            let fresh = Worker::spawn(worker, self.producer.clone(), self.fatal.clone(), self.shutdown.clone())
                .map_err(|e| format!("{why}; cannot start a new worker: {e}"))?;
            drop(std::mem::replace(&mut self.workers[worker], fresh));
            *self.fatal.lock() = None;
            metrics::counter!(crate::observe::metrics::THREAD_REPLACEMENTS, "thread" => format!("rill-worker-{worker}"))
                .increment(1);
            self.aborted = Some(why.to_string());
            return Ok((Vec::new(), Vec::new()));
        }
        // What was acknowledged is safe to commit: a failed task's progress
        // stops before its failure.
        self.commit_tasks(&ids, committer);
        let fresh = Worker::spawn(worker, self.producer.clone(), self.fatal.clone(), self.shutdown.clone())
            .map_err(|e| format!("{why}; cannot start a new worker: {e}"))?;
        // Dropping the old handle closes its queue and joins its thread,
        // which drops its tasks: plugin instances and open stores.
        drop(std::mem::replace(&mut self.workers[worker], fresh));
        *self.fatal.lock() = None;
        let mut partitions = Vec::new();
        for id in &ids {
            let Some(mut entry) = self.tasks.remove(id) else {
                continue;
            };
            transition(id, &mut entry, TaskState::Closed);
            for topic in self.topics_of(id) {
                let tp = (topic, id.partition);
                self.forget_partition(&tp);
                partitions.push(tp);
            }
        }
        metrics::counter!(crate::observe::metrics::THREAD_REPLACEMENTS, "thread" => format!("rill-worker-{worker}"))
            .increment(1);
        crate::observe::telemetry().event("worker", &format!("rill-worker-{worker}"), format!("replaced: {why}"));
        let committed = rewind(&partitions).map_err(|e| format!("{why}; rewinding its partitions: {e}"))?;
        let restoring = self.handle_assignment(&partitions, &committed);
        Ok((partitions, restoring))
    }

    /// Forgets everything known of a partition this member no longer works
    /// on, so a stale position is never committed if it comes back.
    fn forget_partition(&mut self, tp: &(String, i32)) {
        self.reached.remove(tp);
        self.committed.remove(tp);
        self.positions.remove(tp);
        self.unknown_since.remove(tp);
        self.lows.remove(tp);
        self.polled_times.remove(tp);
        crate::observe::telemetry().lag().forget(&tp.0, tp.1);
    }

    /// Partitions of tasks that paused since the last call, so the consumer
    /// can stop fetching them.
    pub fn take_newly_paused(&mut self) -> Vec<(String, i32)> {
        let mut partitions = Vec::new();
        for (id, entry) in &mut self.tasks {
            if entry.progress.is_paused() && !entry.paused_reported {
                entry.paused_reported = true;
                partitions.extend(
                    self.by_topic
                        .iter()
                        .filter(|(_, s)| s.name == id.processor)
                        .map(|(t, _)| (t.clone(), id.partition)),
                );
            }
        }
        partitions
    }

    /// Whether the task owning `partition` of `topic` is paused.
    pub fn is_paused(&self, topic: &str, partition: i32) -> bool {
        self.task_for(topic, partition)
            .and_then(|id| self.tasks.get(&id))
            .is_some_and(|t| t.progress.is_paused())
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
        if self.workers[worker].commands.send(command).is_err() {
            set_fatal(&self.fatal, Some(worker), format!("worker {worker} stopped"));
        }
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
