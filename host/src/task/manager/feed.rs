//! Feeding tasks: polled records into each task's partition group, batches
//! to workers in timestamp order as far as the group allows, and flow
//! control (pause a partition whose task holds enough, resume below half).

use super::*;
use crate::kafka::member::TopicPartition;

impl TaskManager {
    /// Buffers records polled from one partition (offset order) with the
    /// task that owns it; records of partitions not assigned here are
    /// dropped (the consumer delivers them again to their new owner).
    ///
    /// Records below the partition's last fed offset are dropped too: the
    /// consumer delivered them again, and processing them twice would
    /// count them twice in state that already holds them (under
    /// exactly-once, outputs past every expected count). librdkafka was
    /// seen rewinding a partition to its assignment-time start after an
    /// incremental rebalance round while the partition had been paused and
    /// resumed; the guard makes that harmless whatever its cause.
    pub fn buffer(&mut self, topic: &str, partition: i32, mut records: Vec<InputRecord>) {
        let tp = TopicPartition::new(topic, partition);
        let p = self.positions.of(&tp);
        skip_redelivered(p, &tp, &mut records);
        let (Some(first), Some(last)) = (records.first(), records.last().map(|r| r.offset)) else {
            return;
        };
        if p.polled_times.len() < 4096 {
            p.polled_times.push_back((first.offset, last, first.timestamp));
        }
        let Some(id) = self.task_for(topic, partition) else {
            tracing::debug!("dropping {} records of unassigned {topic}/{partition}", records.len());
            return;
        };
        if let Some(entry) = self.tasks.get_mut(&id) {
            entry.group.add(topic, partition, records);
            let p = self.positions.of(&tp);
            p.position = Some(last + 1);
            p.fed = Some(last + 1);
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
        if self.refused_by_rebalance && !self.incremental {
            // Eager protocol: nothing processed now could be committed:
            // the group is rebalancing, every partition is about to be
            // revoked and its next owner (maybe this member) resumes from
            // the last commit. Records wait in their buffers (flow control
            // pauses fetching when those fill), so the duplicates a
            // rebalance causes stay within what was processed before the
            // coordinator refused the commit. Incremental protocols revoke
            // only what moves, so every task goes on and the commit is
            // retried each commit interval.
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
                    let partitions: Vec<TopicPartition> = entry
                        .group
                        .partitions()
                        .map(|(t, p, _)| TopicPartition::new(&**t, p))
                        .collect();
                    let lags: Vec<(TopicPartition, Lag)> = partitions
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
                            .find(|(l, _)| l.topic == t && l.partition == p)
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
    pub(super) fn lag(&mut self, tp: &TopicPartition, marks: &dyn Watermarks, now: Instant) -> Lag {
        let Some(high) = marks.high(&tp.topic, tp.partition) else {
            return Lag::Unknown;
        };
        let p = self.positions.of(tp);
        let position = match p.position.or(p.low) {
            Some(position) => position,
            None if high <= 0 => return Lag::Known(0),
            None => {
                let since = *p.unknown_since.get_or_insert(now);
                if now.saturating_duration_since(since) < ASK_LOW_AFTER {
                    return Lag::Unknown;
                }
                match marks.low(&tp.topic, tp.partition) {
                    Some(low) => {
                        p.low = Some(low);
                        low
                    }
                    None => {
                        p.unknown_since = Some(now);
                        return Lag::Unknown;
                    }
                }
            }
        };
        if position >= high {
            return Lag::Known(0);
        }
        // A transactional topic's last offset is a commit marker, never
        // delivered: the consumer's own position steps over it.
        let stepped = marks
            .position(&tp.topic, tp.partition)
            .map_or(position, |c| c.max(position));
        Lag::Known((high - stepped).max(0))
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
                let tp = TopicPartition::new(&**topic, partition);
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

    /// Partitions of tasks that paused since the last call, so the consumer
    /// can stop fetching them.
    pub fn take_newly_paused(&mut self) -> Vec<TopicPartition> {
        let mut partitions = Vec::new();
        for (id, entry) in &mut self.tasks {
            if entry.progress.is_paused() && !entry.paused_reported {
                entry.paused_reported = true;
                partitions.extend(
                    self.by_topic
                        .iter()
                        .filter(|(_, s)| s.name == id.processor)
                        .map(|(t, _)| TopicPartition::new(t.clone(), id.partition)),
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
}

/// Drops the front of `records` (offset order) that lies below what was
/// already fed from the partition, warning once per re-delivery.
fn skip_redelivered(p: &mut positions::PartitionPositions, tp: &TopicPartition, records: &mut Vec<InputRecord>) {
    let Some(fed) = p.fed else { return };
    let again = records.partition_point(|r| r.offset < fed);
    if again == 0 {
        p.redelivering = false;
        return;
    }
    if !p.redelivering {
        tracing::warn!(
            "the consumer delivered {tp} from offset {} again, below {fed} which this member already processed; \
             skipping what it processed (nothing is processed twice)",
            records[0].offset
        );
        p.redelivering = true;
    }
    metrics::counter!(crate::observe::metrics::REDELIVERED).increment(again as u64);
    records.drain(..again);
}
