//! Time semantics, shared by the host and by [`crate::testing::TestDriver`]
//! so a plugin's native unit tests see exactly what the host does: which
//! windows a record falls in, when a window closes, when it may be
//! forgotten, and when a timer fires. Kafka Streams' rules are the
//! reference; every function says which one it follows.
//!
//! All times are epoch milliseconds. Stream time is the largest record
//! timestamp a task has processed.

/// The shape of a windowed store's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Fixed-size, gap-free, non-overlapping windows (`TimeWindows` with
    /// advance = size).
    Tumbling {
        /// Window length.
        size: i64,
    },
    /// Fixed-size windows starting every `advance` (overlapping when
    /// `advance < size`).
    Hopping {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        advance: i64,
    },
    /// Per-key periods of activity separated by at least `gap` of
    /// inactivity; a record within `gap` of two sessions merges them.
    Session {
        /// Inactivity gap.
        gap: i64,
    },
    /// Windows of fixed length defined by the records themselves
    /// (KIP-450, `SlidingWindows.ofTimeDifferenceAndGrace`): a window
    /// `[t - time_difference, t]` ends at each record's time `t`, and one
    /// `[t + 1, t + 1 + time_difference]` starts just after it when a later
    /// record falls there; both ends are inclusive. Which windows a record
    /// creates and updates is [`sliding::steps`].
    Sliding {
        /// The largest distance between two records of one window.
        time_difference: i64,
    },
}

pub mod join;
pub mod sliding;

/// When a windowed store emits results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// On every update (Kafka Streams without caching).
    Update,
    /// Once per window, when it closes (`suppress(untilWindowCloses)`,
    /// EMIT FINAL).
    Final,
}

/// A window: `[start, end)` for time windows, `[start, end]` (first and last
/// record) for sessions, `[start, end]` for sliding windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bounds {
    /// Start, inclusive.
    pub start: i64,
    /// End: exclusive for time windows, inclusive for sessions and sliding
    /// windows.
    pub end: i64,
}

impl WindowKind {
    /// The time windows a record at `timestamp` belongs to, oldest first
    /// (Kafka Streams' `TimeWindows.windowsFor`: windows start at
    /// multiples of `advance`, never before 0). Empty for sessions and
    /// sliding windows, whose windows depend on the records around it.
    pub fn windows_for(&self, timestamp: i64) -> Vec<Bounds> {
        let (size, advance) = match *self {
            WindowKind::Tumbling { size } => (size, size),
            WindowKind::Hopping { size, advance } => (size, advance),
            WindowKind::Session { .. } | WindowKind::Sliding { .. } => return Vec::new(),
        };
        let mut start = ((timestamp - size + advance).max(0) / advance) * advance;
        let mut windows = Vec::new();
        while start <= timestamp {
            windows.push(Bounds {
                start,
                end: start + size,
            });
            start += advance;
        }
        windows
    }

    /// The stream time at which `window` closes: from then on a record for
    /// it is late and its final result is due. Kafka Streams: a time window
    /// is open while `end > stream time - grace`; a session while
    /// `end >= stream time - grace - gap`; a sliding window, whose end is
    /// inclusive, while `end >= stream time - grace`
    /// (`KStreamSlidingWindowAggregate`'s `windowEnd >= closeTime`).
    pub fn closes_at(&self, window: Bounds, grace: i64) -> i64 {
        match *self {
            WindowKind::Session { gap } => window.end.saturating_add(gap).saturating_add(grace).saturating_add(1),
            WindowKind::Sliding { .. } => window.end.saturating_add(grace).saturating_add(1),
            _ => window.end.saturating_add(grace),
        }
    }

    /// The least retention the kind allows: a window must be kept until it
    /// closes (Kafka Streams requires retention >= size + grace), and a
    /// sliding window as long as a later record may read it to build its
    /// own (Kafka Streams requires retention >= 2 * time difference + grace).
    pub fn min_retention(&self, grace: i64) -> i64 {
        match *self {
            WindowKind::Tumbling { size } | WindowKind::Hopping { size, .. } => size + grace,
            WindowKind::Session { gap } => gap + grace + 1,
            WindowKind::Sliding { time_difference } => 2 * time_difference + grace,
        }
    }

    /// How long past its close a window is kept, given the store's
    /// `retention` (Kafka Streams counts retention from a time window's
    /// start, from a session's end, and from a sliding window's start: a
    /// sliding window is forgotten once [`sliding::kept`] no longer holds).
    pub fn kept_after_close(&self, retention: i64, grace: i64) -> i64 {
        let to_close = match *self {
            WindowKind::Sliding { time_difference } => time_difference + grace - 1,
            _ => self.min_retention(grace),
        };
        (retention - to_close).max(0)
    }

    /// Whether a session at `window` takes a record at `timestamp` (Kafka
    /// Streams' `findSessions(key, ts - gap, ts + gap)`).
    pub fn session_takes(&self, window: Bounds, timestamp: i64) -> bool {
        match *self {
            WindowKind::Session { gap } => window.end >= timestamp - gap && window.start <= timestamp + gap,
            _ => false,
        }
    }
}

/// A timer's schedule: when it fires next, given the clock it follows.
///
/// Unaligned (Kafka Streams' `schedule`): the first firing is the first
/// time the clock is seen, then every `interval` after it. Aligned (KIP-1146):
/// firings at multiples of `interval` since the epoch. When the clock jumps
/// past several firings, the timer fires once, for the latest one due (as
/// Kafka Streams does, instead of a burst of catch-up calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Milliseconds between firings (at least 1).
    pub interval: i64,
    /// Fire at multiples of the interval.
    pub aligned: bool,
    /// The next firing; `None` until the clock is first seen.
    pub next: Option<i64>,
}

impl Schedule {
    /// A schedule that has not seen its clock yet.
    pub fn new(interval: i64, aligned: bool) -> Self {
        Schedule {
            interval: interval.max(1),
            aligned,
            next: None,
        }
    }

    /// The firing due at clock time `now`, if any, and the schedule moved
    /// past it.
    pub fn due(&mut self, now: i64) -> Option<i64> {
        let next = *self.next.get_or_insert_with(|| {
            if self.aligned {
                now.div_euclid(self.interval) * self.interval
                    + if now.rem_euclid(self.interval) == 0 {
                        0
                    } else {
                        self.interval
                    }
            } else {
                now
            }
        });
        if now < next {
            return None;
        }
        let due = next + (now - next) / self.interval * self.interval;
        self.next = Some(due + self.interval);
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: i64, end: i64) -> Bounds {
        Bounds { start, end }
    }

    #[test]
    fn time_windows_follow_kafka_streams_windows_for() {
        let tumbling = WindowKind::Tumbling { size: 10 };
        assert_eq!(tumbling.windows_for(0), vec![w(0, 10)]);
        assert_eq!(tumbling.windows_for(9), vec![w(0, 10)]);
        assert_eq!(tumbling.windows_for(10), vec![w(10, 20)]);
        // TimeWindows.of(10).advanceBy(5): a record at 12 is in [5,15) and [10,20).
        let hopping = WindowKind::Hopping { size: 10, advance: 5 };
        assert_eq!(hopping.windows_for(12), vec![w(5, 15), w(10, 20)]);
        // No window starts before 0.
        assert_eq!(hopping.windows_for(3), vec![w(0, 10)]);
        assert_eq!(
            WindowKind::Hopping { size: 10, advance: 3 }.windows_for(10),
            vec![w(3, 13), w(6, 16), w(9, 19)]
        );
    }

    #[test]
    fn closing_follows_kafka_streams_close_time() {
        let tumbling = WindowKind::Tumbling { size: 10 };
        // open while end > streamTime - grace: [0,10) with grace 2 closes at 12.
        assert_eq!(tumbling.closes_at(w(0, 10), 2), 12);
        // a session [0,0] with gap 5 and grace 2 is open while 0 >= st - 7.
        let session = WindowKind::Session { gap: 5 };
        assert_eq!(session.closes_at(w(0, 0), 2), 8);
        assert!(session.session_takes(w(0, 3), 8));
        assert!(!session.session_takes(w(0, 3), 9));
        assert!(session.session_takes(w(10, 12), 5));
    }

    #[test]
    fn timers_fire_once_per_due_time_and_skip_missed_ones() {
        let mut unaligned = Schedule::new(60, false);
        assert_eq!(unaligned.due(1_000), Some(1_000));
        assert_eq!(unaligned.due(1_059), None);
        assert_eq!(unaligned.due(1_060), Some(1_060));
        assert_eq!(unaligned.due(1_500), Some(1_480));
        assert_eq!(unaligned.next, Some(1_540));

        let mut aligned = Schedule::new(60, true);
        assert_eq!(aligned.due(1_000), None);
        assert_eq!(aligned.next, Some(1_020));
        assert_eq!(aligned.due(1_020), Some(1_020));
        assert_eq!(aligned.due(1_200), Some(1_200));
        let mut at_multiple = Schedule::new(60, true);
        assert_eq!(at_multiple.due(120), Some(120));
    }
}
