//! What the task manager knows of each input partition, in one owned
//! place: where the consumer is, what may be committed, what was, and the
//! lag bookkeeping. Forgetting a partition (revoked, or its task replaced)
//! forgets all of it at once.

use crate::kafka::member::{Offset, TopicPartition};
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// One input partition's positions.
#[derive(Debug, Default)]
pub(super) struct PartitionPositions {
    /// Latest committable offset (every output before it acknowledged).
    pub reached: Option<i64>,
    /// What the group has committed (or had at assignment), so a failed
    /// commit is retried and an unchanged one skipped.
    pub committed: Option<i64>,
    /// Next offset the consumer delivers: the committed offset at
    /// assignment, then one past the last polled record.
    pub position: Option<i64>,
    /// One past the last record handed to its task since the assignment:
    /// a record below it that the consumer delivers again was processed
    /// already and must not be processed twice (see
    /// [`super::TaskManager::buffer`]).
    pub fed: Option<i64>,
    /// Whether the re-delivery in progress was reported, so a rewound
    /// fetch warns once, not per chunk.
    pub redelivering: bool,
    /// With no position and no known first offset: since when its lag
    /// could not be told.
    pub unknown_since: Option<Instant>,
    /// Its first offset, once asked of the broker.
    pub low: Option<i64>,
    /// The first offset, last offset and first timestamp of each polled
    /// chunk not yet committed: how far behind in time the group is.
    pub polled_times: VecDeque<(i64, i64, i64)>,
}

/// Every input partition's positions.
#[derive(Debug, Default)]
pub(super) struct Positions {
    partitions: HashMap<TopicPartition, PartitionPositions>,
}

impl Positions {
    /// The partition's positions, created empty when unknown.
    pub fn of(&mut self, tp: &TopicPartition) -> &mut PartitionPositions {
        if !self.partitions.contains_key(tp) {
            self.partitions.insert(tp.clone(), PartitionPositions::default());
        }
        self.partitions.get_mut(tp).expect("inserted above")
    }

    /// The partition's positions, if any are known.
    #[cfg(test)]
    pub fn get(&self, tp: &TopicPartition) -> Option<&PartitionPositions> {
        self.partitions.get(tp)
    }

    /// Offsets reached and not yet committed.
    pub fn due(&self) -> Vec<Offset> {
        self.partitions
            .iter()
            .filter_map(|(tp, p)| Some((tp, p.reached?, p.committed)))
            .filter(|(_, reached, committed)| *committed != Some(*reached))
            .map(|(tp, reached, _)| (tp.topic.clone(), tp.partition, reached))
            .collect()
    }

    /// Whether every reached offset is committed.
    pub fn all_committed(&self) -> bool {
        self.partitions
            .values()
            .all(|p| p.reached.is_none() || p.reached == p.committed)
    }

    /// Records a successful commit of `offsets`.
    pub fn committed(&mut self, offsets: Vec<Offset>) {
        for (topic, partition, offset) in offsets {
            self.of(&TopicPartition::new(topic, partition)).committed = Some(offset);
        }
    }

    /// Forgets everything about the partition.
    pub fn forget(&mut self, tp: &TopicPartition) {
        self.partitions.remove(tp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reached_offsets_not_yet_committed_are_due_and_forgetting_forgets_all() {
        let mut p = Positions::default();
        let (a, b) = (TopicPartition::new("in", 0), TopicPartition::new("in", 1));
        p.of(&a).reached = Some(5);
        p.of(&b).committed = Some(3);
        assert_eq!(p.due(), [("in".to_string(), 0, 5)]);
        assert!(!p.all_committed());
        p.committed(p.due());
        assert!(p.due().is_empty() && p.all_committed());
        p.of(&a).position = Some(9);
        p.forget(&a);
        assert!(p.get(&a).is_none());
        assert_eq!(p.get(&b).and_then(|p| p.committed), Some(3));
    }
}
