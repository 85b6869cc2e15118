//! Tasks: the unit of parallelism, as in Kafka Streams.
//!
//! A task is one processor applied to one partition number of its inputs
//! (`TaskId` `cpu-alert_2`). The consumer group decides which partitions this
//! process owns; the [`manager::TaskManager`] (control plane) turns
//! assignments and revocations into tasks on worker threads; each
//! [`stream_task::StreamTask`] (data plane) runs its own plugin instance over
//! batches, routes outputs and dead letters, and records what may be
//! committed in its [`progress::TaskProgress`].

pub mod clock;
pub mod dead_letter;
pub mod error;
pub mod manager;
pub mod open_state;
pub mod partition_group;
pub mod placement;
pub mod progress;
pub mod routing;
pub mod shutdown;
pub mod spec;
pub mod state;
pub mod stream_task;
#[cfg(test)]
pub(crate) mod testing;
pub mod timers;
pub mod worker;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Names a task: `<processor>_<partition>`. Processor names cannot contain
/// `_` (the manifest refuses it), so the id always parses back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The processor's manifest name.
    pub processor: Arc<str>,
    /// The partition number this task owns in each of its inputs.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.processor, self.partition)
    }
}

impl FromStr for TaskId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (processor, partition) = s
            .rsplit_once('_')
            .ok_or_else(|| format!("task id \"{s}\" has no '_'"))?;
        let partition = partition
            .parse()
            .map_err(|_| format!("task id \"{s}\" does not end in a partition number"))?;
        Ok(TaskId {
            processor: processor.into(),
            partition,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TaskId;

    #[test]
    fn task_ids_round_trip() {
        let id: TaskId = "cpu-alert_12".parse().unwrap();
        assert_eq!(&*id.processor, "cpu-alert");
        assert_eq!(id.partition, 12);
        assert_eq!(id.to_string(), "cpu-alert_12");
        assert!("cpu-alert".parse::<TaskId>().is_err());
        assert!("cpu-alert_x".parse::<TaskId>().is_err());
    }
}
