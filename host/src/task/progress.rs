//! What a task may commit: batches in processing order, each with the input
//! offsets it covers and its delivery ack. The committable position of each
//! input partition is the end of the last batch whose outputs are all
//! acknowledged, with every earlier batch acknowledged too.

use super::error::TaskError;
use crate::kafka::producer::{BatchAck, DeliveryError};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Next offset to consume, per input topic, after a batch.
pub type Positions = Vec<(Arc<str>, i64)>;

/// The in-flight batches of one task, oldest first.
#[derive(Default)]
pub struct TaskProgress {
    pending: Mutex<VecDeque<(Positions, Arc<BatchAck>)>>,
    /// Batches handed to the worker and not yet processed.
    queued: AtomicUsize,
    /// Set when the task stops processing after a trap (`pause-task`) or a
    /// failure.
    paused: AtomicBool,
    /// Why the task stopped, when it failed (its outputs could not be
    /// delivered for a reason other than the records themselves).
    failure: Mutex<Option<TaskFailure>>,
    /// Input positions committed since the task last looked (topic, next
    /// offset), for its interceptors' `on-commit`: the commit happens on
    /// the poll loop, the interceptors live on the task's worker.
    committed: Mutex<Vec<(Arc<str>, i64)>>,
}

/// Why a task stopped for good (until a restart) while the application
/// goes on: nothing past it is committed, and `--on-fatal replace-worker`
/// replaces its worker. Shared (cheap to clone) because the manager, the
/// commit path and the run's outcome each report it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TaskFailure {
    /// An output of a processed batch was not delivered.
    #[error(transparent)]
    Undelivered(#[from] DeliveryError),
    /// The task stopped itself: the producer refused a record at once for
    /// its topic or the cluster, or local storage failed inside a plugin's
    /// state call.
    #[error(transparent)]
    Halted(Arc<TaskError>),
}

/// Positions that became committable, or the delivery failure that stops
/// the task from committing at all.
pub type Committable = Result<HashMap<Arc<str>, i64>, DeliveryError>;

impl TaskProgress {
    /// The manager committed `offset` (the next to read) of `topic` on the
    /// task's partition.
    pub fn note_committed(&self, topic: Arc<str>, offset: i64) {
        self.committed.lock().push((topic, offset));
    }

    /// Commits noted since the last call, oldest first.
    pub fn take_committed(&self) -> Vec<(Arc<str>, i64)> {
        std::mem::take(&mut *self.committed.lock())
    }

    /// Records a processed batch whose outputs are in flight under `ack`.
    pub fn push(&self, positions: Positions, ack: Arc<BatchAck>) {
        self.pending.lock().push_back((positions, ack));
    }

    /// Removes the completed prefix of batches and returns the positions
    /// they reached. A failed delivery is returned as an error and stays at
    /// the front, so nothing after it is ever committed.
    pub fn take_committable(&self) -> Committable {
        let mut pending = self.pending.lock();
        let mut reached = HashMap::new();
        while let Some((positions, ack)) = pending.front() {
            if !ack.is_complete() {
                break;
            }
            if let Some(failure) = ack.failure() {
                return Err(failure);
            }
            for (topic, offset) in positions {
                reached.insert(topic.clone(), *offset);
            }
            pending.pop_front();
        }
        Ok(reached)
    }

    /// Marks the task paused: the poll loop stops fetching its partitions.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }

    /// Stops the task for good (until a restart) because of `reason`: it is
    /// paused, and its offsets stay where they were last committed.
    pub fn fail(&self, reason: TaskFailure) {
        self.failure.lock().get_or_insert(reason);
        self.pause();
    }

    /// Why the task failed, if it did.
    pub fn failure(&self) -> Option<TaskFailure> {
        self.failure.lock().clone()
    }

    /// Whether the task paused itself after a trap, or failed.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Counts a batch handed to the task's worker.
    pub fn queue(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a queued batch as done (processed, skipped or failed).
    pub fn dequeue(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// True when no batch is waiting for the worker and every processed
    /// batch has all its outputs acknowledged (committed or not).
    pub fn is_idle(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0 && self.pending.lock().iter().all(|(_, ack)| ack.is_complete())
    }

    /// True when nothing is left to commit.
    pub fn is_committed(&self) -> bool {
        self.pending.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fully_acknowledged_prefix_is_committable() {
        let progress = TaskProgress::default();
        let topic: Arc<str> = "in".into();
        let (a, b) = (BatchAck::new(), BatchAck::new());
        progress.push(vec![(topic.clone(), 10)], a.clone());
        progress.push(vec![(topic.clone(), 20)], b.clone());
        b.seal();
        assert!(
            progress.take_committable().unwrap().is_empty(),
            "b is done but a is not"
        );
        a.seal();
        assert!(progress.is_idle());
        assert!(!progress.is_committed());
        progress.queue();
        assert!(!progress.is_idle(), "a queued batch is work");
        progress.dequeue();
        assert_eq!(progress.take_committable().unwrap()[&topic], 20);
        assert!(progress.is_committed());
    }
}
