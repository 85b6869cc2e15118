//! A stage's timers: the manifest's `[[timers]]` plus what its plugin
//! scheduled, each with its [`Schedule`] (the firing rules live in
//! `rill_sdk::time`, shared with the SDK's TestDriver).

use crate::manifest::{TimerClock, TimerSpec};
use crate::plugin::{Clock, TimerRequest};
use rill_sdk::time::Schedule;
use std::collections::BTreeMap;

/// The timers of one stage of a task, by name.
#[derive(Debug, Default)]
pub struct Timers {
    schedules: BTreeMap<String, (Clock, Schedule)>,
}

impl Timers {
    /// The manifest's timers, none fired yet.
    pub fn from_manifest(specs: &[TimerSpec]) -> Self {
        let mut timers = Timers::default();
        for t in specs {
            let clock = match t.clock {
                TimerClock::StreamTime => Clock::StreamTime,
                TimerClock::WallClock => Clock::WallClock,
            };
            timers
                .schedules
                .insert(t.name.clone(), (clock, Schedule::new(t.interval, t.aligned)));
        }
        timers
    }

    /// Applies a plugin's `schedule`/`cancel` calls in order. Scheduling a
    /// timer again with the same clock and interval (a restarted instance
    /// running `init` again) keeps its place.
    pub fn apply(&mut self, requests: Vec<TimerRequest>) {
        for request in requests {
            match request {
                TimerRequest::Schedule {
                    name,
                    clock,
                    interval_ms,
                    aligned,
                } => {
                    let interval = i64::try_from(interval_ms).unwrap_or(i64::MAX);
                    let same = self
                        .schedules
                        .get(&name)
                        .is_some_and(|(c, s)| *c == clock && s.interval == interval && s.aligned == aligned);
                    if !same {
                        self.schedules.insert(name, (clock, Schedule::new(interval, aligned)));
                    }
                }
                TimerRequest::Cancel(name) => {
                    self.schedules.remove(&name);
                }
            }
        }
    }

    /// Whether any timer follows `clock`.
    pub fn any(&self, clock: Clock) -> bool {
        self.schedules.values().any(|(c, _)| *c == clock)
    }

    /// The earliest stream time at which a stream-time timer is due
    /// (`i64::MIN` for one that fires at the first record), if any.
    pub fn next_stream_due(&self) -> Option<i64> {
        self.schedules
            .values()
            .filter(|(c, _)| *c == Clock::StreamTime)
            .map(|(_, s)| s.next.unwrap_or(i64::MIN))
            .min()
    }

    /// The firings due at `now` on `clock` (name, time), each timer moved
    /// past its firing.
    pub fn due(&mut self, clock: Clock, now: i64) -> Vec<(String, i64)> {
        self.schedules
            .iter_mut()
            .filter(|(_, (c, _))| *c == clock)
            .filter_map(|(name, (_, schedule))| Some((name.clone(), schedule.due(now)?)))
            .collect()
    }
}
