//! What stops a task (as opposed to what fails one record, which is
//! dead-lettered): its own file so the task's progress (which keeps the
//! failure) and the chain (which raises it) both depend on it, not on each
//! other.

use super::TaskId;
use crate::plugin::PluginError;
use crate::state::StateError;
use thiserror::Error;

/// A failure that stops the task (not a record failure).
#[derive(Debug, Error)]
pub enum TaskError {
    /// The plugin trapped and a fresh instance could not be started.
    #[error("task {task}: the plugin trapped and could not be restarted: {source}")]
    Restart {
        /// The task.
        task: TaskId,
        /// Why the new instance failed.
        source: PluginError,
    },
    /// The plugin trapped and the manifest says `on-trap = "fail"`.
    #[error("task {task}: the plugin trapped and limits.on-trap is \"fail\": {message}")]
    Trapped {
        /// The task.
        task: TaskId,
        /// The trap.
        message: String,
    },
    /// Local state failed (RocksDB, checkpoint, restore).
    #[error("task {task}: {source}")]
    State {
        /// The task.
        task: TaskId,
        /// What failed.
        source: StateError,
    },
    /// Local storage failed inside a plugin's state call: the host's fault,
    /// so the task stops instead of dead-lettering the record.
    #[error("task {task}: {source}")]
    HostFault {
        /// The task.
        task: TaskId,
        /// What failed.
        source: crate::plugin::HostFault,
    },
    /// The producer refused a record for its topic or the cluster (not for
    /// the record itself): the task stops without committing past it.
    #[error("task {task}: cannot produce to {topic}: {source}")]
    Produce {
        /// The task.
        task: TaskId,
        /// Destination topic.
        topic: String,
        /// The client error.
        source: rdkafka::error::KafkaError,
    },
    /// The cluster could not say whether a topic chosen per record exists
    /// (the metadata request failed): the task stops without committing
    /// past the record, as for a producer refusal of the cluster.
    #[error("task {task}: cannot look up topic {topic}: {source}")]
    TopicLookup {
        /// The task.
        task: TaskId,
        /// The topic chosen.
        topic: String,
        /// The metadata error.
        source: crate::kafka::admin::TopicError,
    },
}
