//! The time a task reads from outside: the wall clock (wall-clock timers)
//! and the monotonic time `idle-advance` measures idleness with, behind
//! one trait so `rill test` can drive both explicitly instead of waiting
//! for real time to pass. Workers also ask it whether to tick on their own.

use parking_lot::Mutex;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where tasks and workers read time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock time, milliseconds since the epoch (wall-clock timers).
    fn wall_ms(&self) -> i64;
    /// A monotonic time in milliseconds, for measuring how long a task
    /// has been idle (`idle-advance`).
    fn monotonic_ms(&self) -> i64;
    /// How often a worker ticks its tasks on its own; `None`: only when
    /// asked to ([`crate::task::manager::TaskManager::tick`]).
    fn tick_every(&self) -> Option<Duration>;
}

/// The process's clocks: the system's wall clock, and `Instant` for
/// idleness; workers tick every 100 ms.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// The origin of [`SystemClock::monotonic_ms`].
static ORIGIN: LazyLock<Instant> = LazyLock::new(Instant::now);

impl Clock for SystemClock {
    fn wall_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    fn monotonic_ms(&self) -> i64 {
        i64::try_from(ORIGIN.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn tick_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(100))
    }
}

/// A clock that moves only when told to (`rill test`'s wall-clock
/// `advance` steps): wall and monotonic time are the same number, and
/// workers never tick on their own, so what a tick does is deterministic.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Mutex<i64>,
}

impl ManualClock {
    /// A clock standing at `now` (ms since the epoch).
    pub fn new(now: i64) -> Self {
        ManualClock { now: Mutex::new(now) }
    }

    /// Moves the clock to `to`; it never goes back (an earlier `to` is
    /// ignored). Returns where it stands.
    pub fn set(&self, to: i64) -> i64 {
        let mut now = self.now.lock();
        *now = (*now).max(to);
        *now
    }
}

impl Clock for ManualClock {
    fn wall_ms(&self) -> i64 {
        *self.now.lock()
    }

    fn monotonic_ms(&self) -> i64 {
        *self.now.lock()
    }

    fn tick_every(&self) -> Option<Duration> {
        None
    }
}
