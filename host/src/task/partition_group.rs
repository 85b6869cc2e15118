//! Stream time and the order in which a task processes its inputs (Kafka
//! Streams' `PartitionGroup` and `RecordQueue`).
//!
//! A task owns partition N of each of its input topics (streams and tables).
//! Polled records wait here, one queue per partition in offset order, until
//! the task can process them in timestamp order:
//!
//! - The next record is the head with the smallest timestamp; ties go to the
//!   partition listed first (the manifest's input order), so the order is
//!   stable. Within a partition, offset order is never changed.
//! - While a partition has nothing buffered, the task may only go on if that
//!   partition is known to be caught up (its lag on the broker is zero):
//!   a partition with a known backlog, or whose backlog is not known yet,
//!   blocks the task until its records arrive (KIP-695). So a pre-loaded
//!   table topic is interleaved with the stream by timestamp instead of
//!   being read ahead or behind it.
//! - `max-task-idle` (default 0) additionally lets a caught-up, empty
//!   partition block the task for that long, for data still being produced.
//!
//! Stream time is the largest timestamp the task has processed; it never
//! goes backwards. Windows and timers build on it.

use crate::record::InputRecord;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What is known about the records of a partition still on the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// Not fetched yet: nothing is known.
    Unknown,
    /// Records between the task's position and the end of the partition.
    Known(i64),
}

/// The buffered records of one input partition, in offset order.
#[derive(Debug)]
struct RecordQueue {
    topic: Arc<str>,
    partition: i32,
    records: VecDeque<InputRecord>,
    /// When the task first waited on this partition while it was empty and
    /// caught up (for `max-task-idle`).
    idle_since: Option<Instant>,
}

/// The input partitions of one task and its stream time.
#[derive(Debug)]
pub struct PartitionGroup {
    queues: Vec<RecordQueue>,
    stream_time: Option<i64>,
    max_idle: Duration,
}

impl PartitionGroup {
    /// A group over `partitions` (in tie-breaking order) that lets an empty,
    /// caught-up partition hold the task back for at most `max_idle`.
    pub fn new(partitions: impl IntoIterator<Item = (Arc<str>, i32)>, max_idle: Duration) -> Self {
        PartitionGroup {
            queues: partitions
                .into_iter()
                .map(|(topic, partition)| RecordQueue {
                    topic,
                    partition,
                    records: VecDeque::new(),
                    idle_since: None,
                })
                .collect(),
            stream_time: None,
            max_idle,
        }
    }

    /// Buffers records polled from one partition (in offset order). Records
    /// of a partition the group does not own are dropped (a rill bug).
    pub fn add(&mut self, topic: &str, partition: i32, records: impl IntoIterator<Item = InputRecord>) {
        if let Some(queue) = self
            .queues
            .iter_mut()
            .find(|q| q.partition == partition && &*q.topic == topic)
        {
            queue.records.extend(records);
        }
    }

    /// Records buffered for one partition.
    pub fn buffered(&self, topic: &str, partition: i32) -> usize {
        self.queues
            .iter()
            .find(|q| q.partition == partition && &*q.topic == topic)
            .map_or(0, |q| q.records.len())
    }

    /// Records buffered over all partitions.
    pub fn total_buffered(&self) -> usize {
        self.queues.iter().map(|q| q.records.len()).sum()
    }

    /// Each partition and how many records it has buffered.
    pub fn partitions(&self) -> impl Iterator<Item = (&Arc<str>, i32, usize)> {
        self.queues.iter().map(|q| (&q.topic, q.partition, q.records.len()))
    }

    /// The largest timestamp processed so far, `None` before the first record.
    pub fn stream_time(&self) -> Option<i64> {
        self.stream_time
    }

    /// Takes up to `max` records in processing order, stopping as soon as
    /// an empty partition must be waited for. `lag` tells what is still on
    /// the broker for a partition; `now` is the wall clock (for
    /// `max-task-idle`).
    pub fn take_ready(&mut self, max: usize, now: Instant, lag: impl Fn(&str, i32) -> Lag) -> Vec<InputRecord> {
        // One input (the common case): its records are already in order,
        // so take them in one move.
        if let [queue] = self.queues.as_mut_slice()
            && !queue.records.is_empty()
            && max > 0
        {
            queue.idle_since = None;
            let n = max.min(queue.records.len());
            let taken: Vec<InputRecord> = queue.records.drain(..n).collect();
            let newest = taken.iter().map(|r| r.timestamp).max().expect("n > 0");
            self.stream_time = Some(self.stream_time.map_or(newest, |t| t.max(newest)));
            return taken;
        }
        let mut taken = Vec::new();
        while taken.len() < max && self.ready(now, &lag) {
            let Some(next) = self.next_queue() else { break };
            let record = self.queues[next].records.pop_front().expect("non-empty queue");
            self.stream_time = Some(self.stream_time.map_or(record.timestamp, |t| t.max(record.timestamp)));
            taken.push(record);
        }
        taken
    }

    /// Whether every empty partition may be passed over now.
    fn ready(&mut self, now: Instant, lag: &impl Fn(&str, i32) -> Lag) -> bool {
        let max_idle = self.max_idle;
        let mut ready = true;
        for queue in &mut self.queues {
            if !queue.records.is_empty() {
                queue.idle_since = None;
                continue;
            }
            match lag(&queue.topic, queue.partition) {
                Lag::Unknown | Lag::Known(1..) => {
                    queue.idle_since = None;
                    ready = false;
                }
                Lag::Known(_) => {
                    let since = *queue.idle_since.get_or_insert(now);
                    if now.saturating_duration_since(since) < max_idle {
                        ready = false;
                    }
                }
            }
        }
        ready
    }

    /// The non-empty queue whose head has the smallest timestamp, the first
    /// such queue on ties.
    fn next_queue(&self) -> Option<usize> {
        let mut best: Option<(i64, usize)> = None;
        for (i, queue) in self.queues.iter().enumerate() {
            if let Some(head) = queue.records.front()
                && best.is_none_or(|(t, _)| head.timestamp < t)
            {
                best = Some((head.timestamp, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, offset: i64, timestamp: i64) -> InputRecord {
        InputRecord {
            topic: topic.into(),
            partition: 0,
            offset,
            timestamp,
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    fn group(max_idle: Duration) -> PartitionGroup {
        PartitionGroup::new([("address".into(), 0), ("order".into(), 0)], max_idle)
    }

    fn order_of(records: &[InputRecord]) -> Vec<(String, i64)> {
        records.iter().map(|r| (r.topic.to_string(), r.offset)).collect()
    }

    const CAUGHT_UP: fn(&str, i32) -> Lag = |_, _| Lag::Known(0);

    #[test]
    fn the_smallest_head_timestamp_goes_first_and_offsets_stay_in_order() {
        let mut g = group(Duration::ZERO);
        g.add("address", 0, [record("address", 0, 1000), record("address", 1, 3000)]);
        g.add(
            "order",
            0,
            [
                record("order", 0, 2000),
                record("order", 1, 1500),
                record("order", 2, 4000),
            ],
        );
        let taken = g.take_ready(100, Instant::now(), CAUGHT_UP);
        // order/1 (1500) is behind order/0 (2000) in its partition: offset
        // order wins within a partition, timestamps decide between them.
        assert_eq!(
            order_of(&taken),
            [("address", 0), ("order", 0), ("order", 1), ("address", 1), ("order", 2)].map(|(t, o)| (t.to_string(), o))
        );
        assert_eq!(g.stream_time(), Some(4000));
    }

    #[test]
    fn ties_go_to_the_partition_listed_first() {
        let mut g = group(Duration::ZERO);
        g.add("order", 0, [record("order", 0, 1000)]);
        g.add("address", 0, [record("address", 0, 1000)]);
        let taken = g.take_ready(10, Instant::now(), CAUGHT_UP);
        assert_eq!(order_of(&taken)[0], ("address".to_string(), 0));
    }

    #[test]
    fn an_empty_partition_with_known_or_unknown_backlog_blocks_the_task() {
        let mut g = group(Duration::ZERO);
        g.add("order", 0, [record("order", 0, 2000)]);
        let now = Instant::now();
        assert!(
            g.take_ready(10, now, |t, _| if t == "address" {
                Lag::Known(4)
            } else {
                Lag::Known(0)
            })
            .is_empty()
        );
        assert!(g.take_ready(10, now, |_, _| Lag::Unknown).is_empty());
        // The backlog arrives: the older address record goes first.
        g.add("address", 0, [record("address", 0, 1000)]);
        let taken = g.take_ready(10, now, CAUGHT_UP);
        assert_eq!(order_of(&taken), [("address".to_string(), 0), ("order".to_string(), 0)]);
    }

    #[test]
    fn a_caught_up_empty_partition_never_blocks_with_zero_idle() {
        let mut g = group(Duration::ZERO);
        g.add("order", 0, [record("order", 0, 2000), record("order", 1, 2001)]);
        assert_eq!(g.take_ready(10, Instant::now(), CAUGHT_UP).len(), 2);
        assert_eq!(g.stream_time(), Some(2001));
    }

    #[test]
    fn max_task_idle_waits_for_a_caught_up_partition_then_goes_on() {
        let mut g = group(Duration::from_millis(100));
        g.add("order", 0, [record("order", 0, 2000)]);
        let start = Instant::now();
        assert!(g.take_ready(10, start, CAUGHT_UP).is_empty());
        assert!(
            g.take_ready(10, start + Duration::from_millis(50), CAUGHT_UP)
                .is_empty()
        );
        assert_eq!(g.take_ready(10, start + Duration::from_millis(100), CAUGHT_UP).len(), 1);
    }

    #[test]
    fn take_ready_stops_at_max_and_when_a_partition_runs_dry() {
        let mut g = group(Duration::ZERO);
        g.add("address", 0, [record("address", 0, 1000)]);
        g.add("order", 0, (0..5).map(|o| record("order", o, 2000 + o)));
        assert_eq!(g.take_ready(2, Instant::now(), CAUGHT_UP).len(), 2);
        // address is now empty and has a backlog: nothing more until it arrives.
        let lagging = |t: &str, _| if t == "address" { Lag::Known(1) } else { Lag::Known(0) };
        assert!(g.take_ready(10, Instant::now(), lagging).is_empty());
        assert_eq!(g.total_buffered(), 4);
        assert_eq!(g.take_ready(10, Instant::now(), CAUGHT_UP).len(), 4);
    }

    #[test]
    fn stream_time_never_goes_backwards() {
        let mut g = PartitionGroup::new([("s".into(), 0)], Duration::ZERO);
        g.add("s", 0, [record("s", 0, 5000), record("s", 1, 3000)]);
        g.take_ready(10, Instant::now(), CAUGHT_UP);
        assert_eq!(g.stream_time(), Some(5000));
    }
}
