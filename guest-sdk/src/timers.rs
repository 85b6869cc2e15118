//! Timers (Kafka Streams' punctuation): schedule a callback every interval
//! of stream time or wall-clock time. The host calls
//! [`crate::Processor::on_timer`] with the firing's time; outputs and state
//! work as in `process`. Timers can also be declared in the manifest
//! (`[[timers]]`), which needs no code here.

use crate::Error;
use std::time::Duration;

/// Which time a timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Clock {
    /// The processor's stream time (the largest timestamp of the records
    /// it processed without an error): deterministic, replays the same,
    /// advances only with records (or with the wall clock under the
    /// manifest's `idle-advance`).
    StreamTime,
    /// The host's wall clock: fires even while no record arrives.
    WallClock,
}

/// One firing of a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// The timer's name.
    pub name: String,
    /// The clock it follows.
    pub clock: Clock,
    /// The time the firing is for (epoch ms): a multiple of the interval
    /// for aligned timers.
    pub time: i64,
}

/// Schedules `name` every `interval` of `clock`, replacing a timer of that
/// name. `aligned` fires at multiples of the interval since the epoch
/// (every minute on the minute); otherwise first when the clock is first
/// seen, then every interval. Call it from `init` (or any call).
pub fn schedule(name: &str, clock: Clock, interval: Duration, aligned: bool) -> Result<(), Error> {
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
    crate::sys::timer_schedule(name, clock, ms, aligned).map_err(Error::new)
}

/// Stops `name`; stopping a missing timer is not an error.
pub fn cancel(name: &str) {
    crate::sys::timer_cancel(name)
}
