//! What goes wrong in the control plane, as the poll loop decides on it:
//! a worker that must be replaced ([`WorkerFailure`]), a transaction that
//! was aborted and must be rolled back ([`Aborted`]), and a replacement
//! or roll-back that could not be done, which stops the run
//! ([`RecoveryError`]).

use super::{MAX_REPLACEMENTS, REPLACEMENT_WINDOW};
use crate::kafka::member::SourceError;
use crate::kafka::producer::TxnError;
use crate::task::TaskId;
use crate::task::progress::TaskFailure;
use crate::task::worker::Fatal;

/// Why a worker must be replaced (`--on-fatal replace-worker`) or the
/// application stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkerFailure {
    /// A fatal error on the worker (a task that could not start, a trap
    /// under `on-trap = "fail"`, local state failing).
    #[error(transparent)]
    Fatal(Fatal),
    /// The worker's thread ended (it only does by panicking).
    #[error("worker {worker} stopped (its thread ended)")]
    Gone {
        /// The worker.
        worker: usize,
    },
    /// A task on the worker stopped on a failure (an output its topic or
    /// the cluster refused, local storage failing).
    #[error("task {task}: {failure}")]
    Task {
        /// The task.
        task: TaskId,
        /// Why it stopped.
        failure: TaskFailure,
    },
}

/// Exactly-once: why the open transaction was aborted, kept until the
/// poll loop rolls every task back to the last commit.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Aborted {
    /// The transaction could not be committed.
    #[error(transparent)]
    Transaction(TxnError),
    /// A worker failed and was replaced: a batch it dropped half-way may
    /// be in the transaction, which holds every task's work.
    #[error(transparent)]
    WorkerReplaced(WorkerFailure),
}

/// Why a failed worker could not be replaced, or the tasks could not be
/// rolled back to the last commit: the run stops. `why` is what the
/// recovery was for.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The worker was already replaced [`MAX_REPLACEMENTS`] times within
    /// [`REPLACEMENT_WINDOW`]: a fault that repeats is not transient.
    #[error(
        "{why}; worker {worker} was already replaced {MAX_REPLACEMENTS} times within {}, so the fault is not transient",
        humantime::format_duration(REPLACEMENT_WINDOW)
    )]
    ReplacedTooOften {
        /// What the replacement was for.
        why: String,
        /// The worker.
        worker: usize,
    },
    /// Transactions were already rolled back [`MAX_REPLACEMENTS`] times
    /// within [`REPLACEMENT_WINDOW`]: an abort that repeats is not
    /// transient.
    #[error(
        "{why}; transactions were already rolled back {MAX_REPLACEMENTS} times within {}, so the fault is not transient",
        humantime::format_duration(REPLACEMENT_WINDOW)
    )]
    RolledBackTooOften {
        /// Why the transaction was aborted.
        why: String,
    },
    /// No thread could be started for the new worker.
    #[error("{why}; cannot start a new worker: {source}")]
    Spawn {
        /// What the replacement was for.
        why: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Aborting the open transaction or beginning the next one failed.
    #[error("{why}; then {source}")]
    Transaction {
        /// Why the transaction was aborted.
        why: String,
        /// The producer's error.
        source: TxnError,
    },
    /// The consumer could not be moved back to the committed offsets.
    #[error("{why}; rewinding the partitions: {source}")]
    Rewind {
        /// What the recovery was for.
        why: String,
        /// The member's error.
        source: SourceError,
    },
}
