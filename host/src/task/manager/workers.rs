//! Failed workers: the first fatal error, a dead worker thread, and
//! `--on-fatal replace-worker` (a new worker whose tasks restart from
//! their last commit).

use super::*;
use crate::kafka::member::{SourceError, TopicPartition};
use crate::task::worker::Fatal;

impl TaskManager {
    /// The error that stopped a worker, if any.
    pub fn fatal(&self) -> Option<Fatal> {
        self.fatal.lock().clone()
    }

    /// A worker whose thread ended (it only does by panicking).
    pub fn dead_worker(&self) -> Option<usize> {
        self.workers.iter().position(Worker::is_finished)
    }

    /// A worker that must be replaced or the application stopped, and why:
    /// a fatal error on it, its thread gone (a panic), or a task on it
    /// that stopped on a failure (an output its topic or the cluster
    /// refused, local storage failing).
    pub fn failed_worker(&self) -> Option<(usize, WorkerFailure)> {
        if let Some(fatal) = self.fatal() {
            return fatal.worker.map(|w| (w, WorkerFailure::Fatal(fatal)));
        }
        if let Some(worker) = self.dead_worker() {
            return Some((worker, WorkerFailure::Gone { worker }));
        }
        self.tasks.iter().find_map(|(id, t)| {
            let failure = t.progress.failure()?;
            Some((
                t.worker,
                WorkerFailure::Task {
                    task: id.clone(),
                    failure,
                },
            ))
        })
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
        why: &WorkerFailure,
        committer: &dyn OffsetCommitter,
        rewind: &dyn Fn(&[TopicPartition]) -> Result<HashMap<TopicPartition, i64>, SourceError>,
    ) -> Result<(Vec<TopicPartition>, Vec<TopicPartition>), RecoveryError> {
        let now = Instant::now();
        let history = &mut self.replacements[worker];
        history.retain(|at| now.duration_since(*at) < REPLACEMENT_WINDOW);
        if history.len() >= MAX_REPLACEMENTS {
            return Err(RecoveryError::ReplacedTooOften {
                why: why.to_string(),
                worker,
            });
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
            let fresh = self.spawn_worker(worker, why)?;
            drop(std::mem::replace(&mut self.workers[worker], fresh));
            *self.fatal.lock() = None;
            metrics::counter!(crate::observe::metrics::THREAD_REPLACEMENTS, "thread" => format!("rill-worker-{worker}"))
                .increment(1);
            self.aborted = Some(Aborted::WorkerReplaced(why.clone()));
            return Ok((Vec::new(), Vec::new()));
        }
        // What was acknowledged is safe to commit: a failed task's progress
        // stops before its failure.
        self.commit_tasks(&ids, committer);
        let fresh = self.spawn_worker(worker, why)?;
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
            // Its store goes with the old worker: no query may hold it open.
            self.unpublish_stores(id);
            for topic in self.topics_of(id) {
                let tp = TopicPartition::new(topic, id.partition);
                self.forget_partition(&tp);
                partitions.push(tp);
            }
        }
        metrics::counter!(crate::observe::metrics::THREAD_REPLACEMENTS, "thread" => format!("rill-worker-{worker}"))
            .increment(1);
        crate::observe::telemetry().event("worker", &format!("rill-worker-{worker}"), format!("replaced: {why}"));
        let committed = rewind(&partitions).map_err(|source| RecoveryError::Rewind {
            why: why.to_string(),
            source,
        })?;
        let restoring = self.handle_assignment(&partitions, &committed);
        Ok((partitions, restoring))
    }

    /// A new thread for worker `worker`, replaced because of `why`.
    fn spawn_worker(&self, worker: usize, why: &WorkerFailure) -> Result<Worker, RecoveryError> {
        Worker::spawn(
            worker,
            self.producer.clone(),
            self.fatal.clone(),
            self.shutdown.clone(),
            self.clock.clone(),
        ).map_err(|source| {
            RecoveryError::Spawn {
                why: why.to_string(),
                source,
            }
        })
    }
}
