//! What workers and tasks see of a process shutdown: the signal flag and
//! the grace period after it. Its own module because both the worker loop
//! and a task's long replay consult it (and neither owns the other's file).

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long after a shutdown signal queued batches are still processed;
/// after that they are abandoned (never committed, so a restart
/// reprocesses them), so a slow or stuck plugin cannot hold shutdown.
pub const FINISH_WITHIN: Duration = Duration::from_secs(5);

/// What workers and tasks see of a shutdown: the signal flag itself (set
/// by the signal handler, so a poll loop blocked on a full worker queue
/// cannot delay it) and when they first saw it.
#[derive(Debug, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    seen: OnceLock<Instant>,
}

impl Shutdown {
    /// Follows `flag`, the process's shutdown signal.
    pub fn new(flag: Arc<AtomicBool>) -> Arc<Self> {
        Arc::new(Shutdown {
            flag,
            seen: OnceLock::new(),
        })
    }

    /// Whether work in hand should be dropped now: the signal came more
    /// than [`FINISH_WITHIN`] ago.
    pub fn abandon(&self) -> bool {
        if !self.flag.load(Ordering::Acquire) {
            return false;
        }
        self.seen.get_or_init(Instant::now).elapsed() >= FINISH_WITHIN
    }
}
