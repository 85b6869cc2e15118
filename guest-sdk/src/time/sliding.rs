//! Sliding windows (KIP-450): which windows one record creates and which it
//! updates, given the windows its key already has. The host and the
//! [`crate::testing::TestDriver`] both apply these steps, each to its own
//! store, so a plugin's native tests see what the host does.
//!
//! Kafka Streams' `KStreamSlidingWindowAggregate` is the reference: its
//! RocksDB path (`processReverse`: the windows found are visited latest
//! first, which is also the order of the updates it emits) and, for a
//! record earlier than one time difference after the epoch, `processEarly`
//! (no window starts before 0: such records share `[0, time difference]`).
//!
//! A window is `[start, start + time difference]`, both ends inclusive, and
//! each distinct set of records gets one: a record at `t` has a left window
//! `[t - d, t]`, and a right window `[t + 1, t + 1 + d]` once a later record
//! falls in it. A window created from another starts as a copy of that
//! window's aggregate (Kafka Streams never refolds old records).

use super::Bounds;

/// A window a key already has (in the store, kept by retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The window's start; its end is start + time difference.
    pub start: i64,
    /// The latest record time in it.
    pub latest: i64,
}

/// One thing a record does to one window, in Kafka Streams' order.
///
/// A `from` window is read as it was *before* this record: a step that
/// updates the same window earlier in the list does not change the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fold the record into the existing window starting at `start`; its
    /// latest record time becomes the later of its own and the record's.
    Update {
        /// The window's start.
        start: i64,
    },
    /// Create the window starting at `start` from the aggregate of the
    /// window starting at `from` (empty when `None`) and fold the record
    /// in; its latest record time is the record's.
    Create {
        /// The new window's start.
        start: i64,
        /// The window whose aggregate it starts from.
        from: Option<i64>,
    },
    /// Create the record's right window, starting at `start`, as a copy of
    /// the window starting at `from` (aggregate and latest record time),
    /// without the record: it holds only later records.
    Copy {
        /// The new window's start (the record's time + 1).
        start: i64,
        /// The window it copies.
        from: i64,
    },
}

/// The window starting at `start`.
pub fn window(time_difference: i64, start: i64) -> Bounds {
    Bounds {
        start,
        end: start.saturating_add(time_difference),
    }
}

/// The starts (both inclusive) of the windows a record at `timestamp` must
/// know about: every window it may fall in, the window just before its
/// left window, and its right window (Kafka Streams' fetch range).
pub fn lookup(time_difference: i64, timestamp: i64) -> (i64, i64) {
    let from = timestamp.saturating_sub(time_difference.saturating_mul(2)).max(0);
    (from, timestamp.saturating_add(1))
}

/// Whether the window starting at `start` is still kept at `stream_time`
/// by a store of `retention` (counted from the start, as Kafka Streams
/// does): while `start + retention + 1 >= stream time`. The extra
/// millisecond keeps the left window of the record just before a right
/// window that is still open, the oldest window a record that is not late
/// can read (start `stream time - grace - 2 * time difference - 1`).
pub fn kept(start: i64, retention: i64, stream_time: i64) -> bool {
    start.saturating_add(retention).saturating_add(1) >= stream_time
}

/// Whether a record at `timestamp` is late: even its right window, the
/// last it could make, has closed at `stream_time` (Kafka Streams drops it
/// when `timestamp + 1 + time difference <= stream time - grace`). A
/// negative timestamp is late too: no sliding window starts before 0.
pub fn is_late(time_difference: i64, grace: i64, stream_time: i64, timestamp: i64) -> bool {
    timestamp < 0 || timestamp.saturating_add(1).saturating_add(time_difference) <= stream_time.saturating_sub(grace)
}

/// What a record at `timestamp` does, in order, or `None` when it is late
/// ([`is_late`]). `stream_time` is the store's, already raised by this
/// record; `known` the key's windows whose start is in [`lookup`] and
/// which retention still keeps ([`kept`]), in start order. A step that would create
/// or update a closed window (`end < stream time - grace`) is left out,
/// as Kafka Streams skips it; copying a right window is never left out
/// (it cannot be closed when the record is not late).
pub fn steps(time_difference: i64, grace: i64, stream_time: i64, timestamp: i64, known: &[Known]) -> Option<Vec<Step>> {
    if is_late(time_difference, grace, stream_time, timestamp) {
        return None;
    }
    let close_time = stream_time.saturating_sub(grace);
    let mut plan = Plan {
        time_difference,
        close_time,
        timestamp,
        steps: Vec::new(),
        seen: Vec::new(),
    };
    if timestamp < time_difference {
        plan.early(known);
    } else {
        plan.in_range(known);
    }
    Some(plan.steps)
}

struct Plan {
    time_difference: i64,
    close_time: i64,
    timestamp: i64,
    steps: Vec<Step>,
    /// Starts of the windows visited.
    seen: Vec<i64>,
}

impl Plan {
    fn is_open(&self, start: i64) -> bool {
        start.saturating_add(self.time_difference) >= self.close_time
    }

    /// Adds an update or a creation, unless its window is closed.
    fn fold(&mut self, step: Step) {
        let start = match step {
            Step::Update { start } | Step::Create { start, .. } | Step::Copy { start, .. } => start,
        };
        if self.is_open(start) {
            self.steps.push(step);
        }
    }

    /// The record's right window, copied from `found` if that window holds
    /// records later than this one.
    fn right_window(&mut self, found: Option<Known>) {
        if let Some(found) = found.filter(|w| w.latest > self.timestamp) {
            self.steps.push(Step::Copy {
                start: self.timestamp + 1,
                from: found.start,
            });
        }
    }

    /// A record at or after one time difference: windows visited latest
    /// first, stopping at the first one that ends before the record.
    fn in_range(&mut self, known: &[Known]) {
        let (t, d) = (self.timestamp, self.time_difference);
        let mut left: Option<Known> = None;
        let mut right: Option<Known> = None;
        let (mut left_exists, mut right_exists) = (false, false);
        let mut previous: Option<i64> = None;
        for w in known.iter().rev() {
            self.seen.push(w.start);
            let end = w.start + d;
            if w.start == t + 1 {
                right_exists = true;
            } else if end > t {
                right.get_or_insert(*w);
                self.fold(Step::Update { start: w.start });
            } else if end == t {
                left_exists = true;
                self.fold(Step::Update { start: w.start });
                if w.latest < t {
                    previous = Some(w.latest);
                } else {
                    // A record at this very time came before: every
                    // window this one makes exists already.
                    return;
                }
            } else {
                left = Some(*w);
                previous = Some(w.latest);
                break;
            }
        }
        // The previous record's right window, if this record is in it.
        if let Some(p) = previous
            && !self.seen.contains(&(p + 1))
            && p + 1 + d >= t
        {
            self.fold(Step::Create {
                start: p + 1,
                from: None,
            });
        }
        if !left_exists {
            let from = match previous {
                Some(p) if t - d <= p => left.map(|w| w.start),
                _ => None,
            };
            self.fold(Step::Create { start: t - d, from });
        }
        if !right_exists {
            self.right_window(right);
        }
    }

    /// A record before one time difference after the epoch: its left
    /// window is `[0, d]`, shared by every such record.
    fn early(&mut self, known: &[Known]) {
        let t = self.timestamp;
        let mut combined: Option<Known> = None;
        let mut right: Option<Known> = None;
        let mut right_exists = false;
        let mut previous: Option<i64> = None;
        for w in known {
            self.seen.push(w.start);
            if w.start == 0 {
                combined = Some(*w);
                if w.latest < t {
                    previous = Some(w.latest);
                }
            } else if w.start <= t {
                right = Some(*w);
                self.fold(Step::Update { start: w.start });
            } else if w.start == t + 1 {
                right_exists = true;
            }
        }
        // With no right window found, [0, d] holds only later records
        // when its latest is later than this one.
        if right.is_none() {
            right = combined.filter(|c| c.latest > t);
        }
        if !right_exists {
            self.right_window(right);
        }
        if let Some(p) = previous
            && !self.seen.contains(&(p + 1))
        {
            self.fold(Step::Create {
                start: p + 1,
                from: None,
            });
        }
        match combined {
            None => self.fold(Step::Create { start: 0, from: None }),
            Some(_) => self.fold(Step::Update { start: 0 }),
        }
    }
}

#[cfg(test)]
mod tests;
