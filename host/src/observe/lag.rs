//! Consumer lag and its status, by Burrow's rules.
//!
//! A partition's status is judged on its last N commits (the *window*,
//! default 10), each one the committed offset, the lag then (end offset
//! minus committed offset) and when. The rules, first match wins:
//!
//! 1. **OK** if the lag is zero anywhere in the window (or now): the
//!    consumer caught up at some point.
//! 2. **REWIND** if a committed offset went backwards.
//! 3. **STOP** if the last commit is older than the window spans (now minus
//!    the last commit's time exceeds the last minus the first's).
//! 4. **STALL** if the consumer commits without moving: the same offset
//!    throughout, with lag.
//! 5. **WARN** if the lag never decreased: the consumer moves but falls
//!    behind (or stays exactly as far behind).
//! 6. otherwise **OK**.
//!
//! A window with fewer than two commits is judged by rule 1 alone and
//! marked incomplete. A group takes its worst partition's status. rill
//! judges its own commits (`/lag`, the exporter); `rill lag` judges any
//! group from outside by sampling its committed offsets.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// The default number of commits a status is judged on.
pub const DEFAULT_WINDOW: usize = 10;

/// A partition's (or group's) status, in increasing severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LagStatus {
    /// Keeping up.
    Ok,
    /// Moving, but the lag never decreased over the window.
    Warn,
    /// No commit for longer than the window spans.
    Stop,
    /// Committing without moving while there is lag.
    Stall,
    /// A committed offset went backwards.
    Rewind,
}

impl LagStatus {
    /// Every status, in increasing severity.
    pub const ALL: [LagStatus; 5] = [
        LagStatus::Ok,
        LagStatus::Warn,
        LagStatus::Stop,
        LagStatus::Stall,
        LagStatus::Rewind,
    ];

    /// `OK`, `WARN`, ...: the label value and the JSON value.
    pub fn name(self) -> &'static str {
        match self {
            LagStatus::Ok => "OK",
            LagStatus::Warn => "WARN",
            LagStatus::Stop => "STOP",
            LagStatus::Stall => "STALL",
            LagStatus::Rewind => "REWIND",
        }
    }
}

impl std::fmt::Display for LagStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One commit of a partition, as the window keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// The committed offset (the next record to read).
    pub offset: i64,
    /// End offset minus committed offset at the time.
    pub lag: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Judges `window` (oldest first) at `now_ms`, with the partition's lag now.
/// Returns the status and whether the window had enough commits to judge
/// every rule.
pub fn evaluate(window: &[Commit], now_ms: i64, current_lag: i64) -> (LagStatus, bool) {
    if current_lag == 0 || window.iter().any(|c| c.lag == 0) {
        return (LagStatus::Ok, window.len() >= 2);
    }
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return (LagStatus::Ok, false);
    };
    if window.len() < 2 {
        return (LagStatus::Ok, false);
    }
    if window.windows(2).any(|w| w[1].offset < w[0].offset) {
        return (LagStatus::Rewind, true);
    }
    if now_ms - last.at_ms > last.at_ms - first.at_ms {
        return (LagStatus::Stop, true);
    }
    if first.offset == last.offset {
        return (LagStatus::Stall, true);
    }
    if window.windows(2).all(|w| w[1].lag >= w[0].lag) {
        return (LagStatus::Warn, true);
    }
    (LagStatus::Ok, true)
}

/// What is known of one partition's lag, as `/lag` and `rill lag` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset, if it has one.
    pub committed_offset: Option<i64>,
    /// The partition's end offset (high watermark), if known.
    pub end_offset: Option<i64>,
    /// End minus committed (the whole partition from its start when nothing
    /// is committed); `None` while the end is unknown.
    pub lag: Option<i64>,
    /// How far behind in time: now minus the timestamp of the oldest record
    /// not yet committed (0 when caught up); `None` when not known.
    pub lag_seconds: Option<f64>,
    /// Burrow's verdict on the window.
    pub status: LagStatus,
    /// Whether the window held enough commits to judge every rule.
    pub complete: bool,
    /// The commits the status was judged on, oldest first.
    pub window: Vec<Commit>,
}

#[derive(Debug, Default)]
struct PartitionTrack {
    window: VecDeque<Commit>,
    committed: Option<i64>,
    end: Option<i64>,
    lag_seconds: Option<f64>,
}

/// Lag windows of a set of partitions: fed with commits and end offsets,
/// read as [`PartitionLag`]s.
#[derive(Debug)]
pub struct LagMonitor {
    size: usize,
    partitions: BTreeMap<(String, i32), PartitionTrack>,
}

impl Default for LagMonitor {
    fn default() -> Self {
        LagMonitor::new(DEFAULT_WINDOW)
    }
}

impl LagMonitor {
    /// A monitor judging on the last `size` commits (at least 2).
    pub fn new(size: usize) -> Self {
        LagMonitor {
            size: size.max(2),
            partitions: BTreeMap::new(),
        }
    }

    /// Records a commit of `offset` for a partition whose end is `end`.
    pub fn commit(&mut self, topic: &str, partition: i32, offset: i64, end: i64, at_ms: i64) {
        let track = self.partitions.entry((topic.to_string(), partition)).or_default();
        track.committed = Some(offset);
        track.end = Some(end.max(offset));
        track.window.push_back(Commit {
            offset,
            lag: (end - offset).max(0),
            at_ms,
        });
        while track.window.len() > self.size {
            track.window.pop_front();
        }
    }

    /// Updates what is known of a partition between commits: its end
    /// offset, and how far behind in time it is.
    pub fn observe(&mut self, topic: &str, partition: i32, end: Option<i64>, lag_seconds: Option<f64>) {
        let track = self.partitions.entry((topic.to_string(), partition)).or_default();
        if end.is_some() {
            track.end = end;
        }
        track.lag_seconds = lag_seconds;
    }

    /// Forgets a partition (revoked: another member judges it now).
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_string(), partition));
    }

    /// Every partition's lag and status at `now_ms`.
    pub fn snapshot(&self, now_ms: i64) -> Vec<PartitionLag> {
        self.partitions
            .iter()
            .map(|((topic, partition), track)| {
                let lag = track.end.map(|end| (end - track.committed.unwrap_or(0)).max(0));
                let window: Vec<Commit> = track.window.iter().copied().collect();
                let (status, complete) = match lag {
                    Some(lag) => evaluate(&window, now_ms, lag),
                    None => (LagStatus::Ok, false),
                };
                PartitionLag {
                    topic: topic.clone(),
                    partition: *partition,
                    committed_offset: track.committed,
                    end_offset: track.end,
                    lag,
                    lag_seconds: if lag == Some(0) { Some(0.0) } else { track.lag_seconds },
                    status,
                    complete,
                    window,
                }
            })
            .collect()
    }
}

/// A group's status: its worst partition's (OK with no partitions).
pub fn group_status(partitions: &[PartitionLag]) -> LagStatus {
    partitions.iter().map(|p| p.status).max().unwrap_or(LagStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::LagStatus::*;
    use super::*;

    /// A window from (offset, lag) pairs, one commit every 10 s from t = 0.
    fn window(commits: &[(i64, i64)]) -> Vec<Commit> {
        commits
            .iter()
            .enumerate()
            .map(|(i, &(offset, lag))| Commit {
                offset,
                lag,
                at_ms: i as i64 * 10_000,
            })
            .collect()
    }

    /// Judged right after the last commit (t = 90 s for ten commits).
    fn judge(commits: &[(i64, i64)]) -> LagStatus {
        let w = window(commits);
        let now = w.last().unwrap().at_ms + 1;
        evaluate(&w, now, w.last().unwrap().lag).0
    }

    #[test]
    fn zero_lag_anywhere_in_the_window_is_ok_whatever_else_happened() {
        // Offsets even went backwards, but the consumer was caught up once.
        assert_eq!(judge(&[(10, 5), (5, 0), (3, 4)]), Ok);
        // Stalled at a lag of zero: an idle topic.
        assert_eq!(judge(&[(7, 0), (7, 0), (7, 0)]), Ok);
        // Caught up now, though not in the window.
        let w = window(&[(1, 5), (1, 5)]);
        assert_eq!(evaluate(&w, 10_001, 0).0, Ok);
    }

    #[test]
    fn an_offset_going_backwards_is_rewind() {
        assert_eq!(judge(&[(100, 10), (120, 10), (90, 40), (95, 38)]), Rewind);
    }

    #[test]
    fn no_commit_for_longer_than_the_window_spans_is_stop() {
        let w = window(&[(100, 10), (110, 8), (120, 6)]); // spans 20 s
        assert_eq!(
            evaluate(&w, 20_000 + 20_000, 6).0,
            Ok,
            "exactly the span is not yet STOP"
        );
        assert_eq!(evaluate(&w, 20_000 + 20_001, 6).0, Stop);
    }

    #[test]
    fn committing_without_moving_is_stall() {
        assert_eq!(judge(&[(50, 10), (50, 12), (50, 15), (50, 15)]), Stall);
    }

    #[test]
    fn moving_while_the_lag_never_decreases_is_warn() {
        assert_eq!(judge(&[(10, 5), (20, 6), (30, 6), (40, 9)]), Warn);
        assert_eq!(judge(&[(10, 5), (20, 5), (30, 5)]), Warn, "as far behind throughout");
    }

    #[test]
    fn moving_with_the_lag_decreasing_somewhere_is_ok() {
        assert_eq!(judge(&[(10, 5), (20, 9), (30, 7), (40, 8)]), Ok);
    }

    #[test]
    fn one_commit_is_not_enough_to_judge() {
        let w = window(&[(10, 5)]);
        assert_eq!(evaluate(&w, 1_000_000, 5), (Ok, false));
        assert_eq!(evaluate(&[], 1_000_000, 5), (Ok, false));
    }

    #[test]
    fn the_first_matching_rule_wins() {
        // Backwards and stopped: REWIND comes first.
        let w = window(&[(100, 10), (90, 20)]);
        assert_eq!(evaluate(&w, 1_000_000, 20).0, Rewind);
        // Stopped and stalled: STOP comes first.
        let w = window(&[(50, 10), (50, 10)]);
        assert_eq!(evaluate(&w, 1_000_000, 10).0, Stop);
    }

    #[test]
    fn the_monitor_keeps_the_last_n_commits_and_the_group_takes_the_worst() {
        let mut m = LagMonitor::new(3);
        for (i, offset) in [10, 20, 30, 40].into_iter().enumerate() {
            m.commit("a", 0, offset, 100, i as i64 * 1000);
            m.commit("a", 1, 5, 50, i as i64 * 1000);
        }
        let lags = m.snapshot(3_001);
        assert_eq!(lags[0].window.len(), 3, "only the last 3 commits");
        assert_eq!(lags[0].window[0].offset, 20);
        assert_eq!(lags[0].lag, Some(60));
        assert_eq!(lags[0].status, Ok, "moving, the lag falling 80, 70, 60");
        assert_eq!(lags[1].status, Stall);
        assert_eq!(group_status(&lags), Stall);
        m.forget("a", 1);
        assert_eq!(m.snapshot(3_001).len(), 1);
    }
}
