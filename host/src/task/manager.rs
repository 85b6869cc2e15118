//! The control plane: turns group assignments into tasks on workers, hands
//! polled batches to them, and commits what their progress allows.
//!
//! It never touches the network itself: offsets go through an
//! [`OffsetCommitter`], so the logic can be driven without a broker.

use super::TaskId;
use super::progress::TaskProgress;
use super::spec::ProcessorSpec;
use super::state::TaskState;
use super::worker::{Command, FatalSlot, Worker};
use crate::kafka::producer::RecordSink;
use crate::plugin::InputRecord;
use crossbeam_channel::bounded;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A topic partition with the offset to resume from.
pub type Offset = (String, i32, i64);

/// Commits consumer offsets synchronously (the consumer, in production).
pub trait OffsetCommitter {
    /// Commits `offsets`; an error is logged by the caller.
    fn commit(&self, offsets: &[Offset]) -> Result<(), String>;
}

struct TaskEntry {
    worker: usize,
    state: TaskState,
    progress: Arc<TaskProgress>,
    /// Whether the consumer was already told to stop fetching it.
    paused_reported: bool,
}

/// How long a revoked task may take to get its outputs acknowledged.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Owns the tasks of this process.
pub struct TaskManager {
    by_topic: HashMap<String, Arc<ProcessorSpec>>,
    workers: Vec<Worker>,
    tasks: BTreeMap<TaskId, TaskEntry>,
    producer: Arc<dyn RecordSink>,
    fatal: FatalSlot,
    /// Latest committable offset per input partition, and what was
    /// committed, so a failed commit is retried and an unchanged one skipped.
    reached: HashMap<(String, i32), i64>,
    committed: HashMap<(String, i32), i64>,
}

impl TaskManager {
    /// A manager for `processors` with `threads` workers.
    pub fn new(
        processors: &[Arc<ProcessorSpec>],
        threads: usize,
        producer: Arc<dyn RecordSink>,
    ) -> std::io::Result<Self> {
        let fatal = FatalSlot::default();
        let workers = (0..threads.max(1))
            .map(|i| Worker::spawn(i, producer.clone(), fatal.clone()))
            .collect::<Result<_, _>>()?;
        let by_topic = processors
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
        })
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
    /// partitions.
    pub fn handle_assignment(&mut self, partitions: &[(String, i32)]) -> Result<(), String> {
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
            let mut state = TaskState::Created;
            let (reply, answer) = bounded(1);
            self.send(
                worker,
                Command::Start {
                    id: id.clone(),
                    spec,
                    progress: progress.clone(),
                    reply,
                },
            );
            match answer.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(format!("task {id}: {error}")),
                Err(_) => return Err(format!("task {id}: worker {worker} stopped")),
            }
            // Stateless processors have nothing to restore.
            transition(&id, &mut state, TaskState::Restoring);
            transition(&id, &mut state, TaskState::Running);
            tracing::info!(task = %id, worker, "task running");
            self.tasks.insert(
                id,
                TaskEntry {
                    worker,
                    state,
                    progress,
                    paused_reported: false,
                },
            );
        }
        Ok(())
    }

    /// Closes the tasks owning any of `partitions`: their queued batches are
    /// finished, their outputs flushed and acknowledged, their offsets
    /// committed.
    pub fn handle_revocation(&mut self, partitions: &[(String, i32)], committer: &dyn OffsetCommitter) {
        let ids: Vec<TaskId> = partitions
            .iter()
            .filter_map(|(topic, partition)| self.task_for(topic, *partition))
            .collect();
        self.close_tasks(&ids, committer);
    }

    /// Closes every task, committing what they processed.
    pub fn close_all(&mut self, committer: &dyn OffsetCommitter) {
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.close_tasks(&ids, committer);
    }

    fn close_tasks(&mut self, ids: &[TaskId], committer: &dyn OffsetCommitter) {
        if ids.is_empty() {
            return;
        }
        let mut replies = Vec::new();
        for id in ids {
            let Some(entry) = self.tasks.get_mut(id) else { continue };
            transition(id, &mut entry.state, TaskState::Suspended);
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
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        while ids
            .iter()
            .any(|id| self.tasks.get(id).is_some_and(|t| !t.progress.is_committed()))
            && Instant::now() < deadline
        {
            if self.collect(ids).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Err(error) = self.commit_tasks(ids, committer) {
            tracing::error!("closing tasks: {error}");
        }
        for id in ids {
            if let Some(mut entry) = self.tasks.remove(id) {
                transition(id, &mut entry.state, TaskState::Closed);
                // Another member may advance these partitions now; a stale
                // position must never be committed if they come back.
                for topic in self.topics_of(id) {
                    self.reached.remove(&(topic.clone(), id.partition));
                    self.committed.remove(&(topic, id.partition));
                }
                tracing::info!(task = %id, "task closed");
            }
        }
    }

    /// Hands a batch to its task's worker (waits if the worker is busy).
    pub fn dispatch(&self, id: &TaskId, records: Vec<InputRecord>) {
        if let Some(entry) = self.tasks.get(id) {
            entry.progress.queue();
            self.send(
                entry.worker,
                Command::Batch {
                    id: id.clone(),
                    records,
                },
            );
        }
    }

    /// Commits every task's acknowledged progress. An error means a record
    /// could not be delivered: the application must stop without committing
    /// past it.
    pub fn commit(&mut self, committer: &dyn OffsetCommitter) -> Result<(), String> {
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.commit_tasks(&ids, committer)
    }

    fn collect(&mut self, ids: &[TaskId]) -> Result<(), String> {
        for id in ids {
            let Some(entry) = self.tasks.get(id) else { continue };
            for (topic, offset) in entry.progress.take_committable()? {
                self.reached.insert((topic.to_string(), id.partition), offset);
            }
        }
        Ok(())
    }

    fn commit_tasks(&mut self, ids: &[TaskId], committer: &dyn OffsetCommitter) -> Result<(), String> {
        self.collect(ids)?;
        let due: Vec<Offset> = self
            .reached
            .iter()
            .filter(|(tp, offset)| self.committed.get(*tp) != Some(offset))
            .map(|((topic, partition), offset)| (topic.clone(), *partition, *offset))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        match committer.commit(&due) {
            Ok(()) => {
                for (topic, partition, offset) in due {
                    self.committed.insert((topic, partition), offset);
                }
            }
            Err(error) => tracing::warn!("offset commit failed (will retry): {error}"),
        }
        Ok(())
    }

    /// True when no task has a batch queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.tasks.values().all(|t| t.progress.is_idle())
    }

    /// The error that stopped a worker, if any.
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
            self.fatal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(format!("worker {worker} stopped"));
        }
    }
}

fn transition(id: &TaskId, state: &mut TaskState, next: TaskState) {
    if let Err(illegal) = state.transition(next) {
        tracing::error!(task = %id, "{illegal}");
    }
}
