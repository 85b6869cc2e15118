//! The application's life cycle, written down (Kafka Streams'
//! `KafkaStreams.State`).
//!
//! ```text
//!                 start
//!   CREATED ──────────────► REBALANCING ◄──────────┐
//!      │                        │    assignment    │ revocation,
//!      │                        │    done, no task │ a task restoring
//!      │                        ▼    restoring     │
//!      │                     RUNNING ──────────────┘
//!      │                        │
//!      │  signal, drained       │                     a fatal error
//!      └──────────► PENDING_SHUTDOWN ◄── (any state but NOT_RUNNING, ERROR)
//!                        │
//!                        ▼
//!                   NOT_RUNNING
//!
//!   CREATED, REBALANCING, RUNNING, PENDING_SHUTDOWN ──► ERROR
//! ```
//!
//! REBALANCING covers everything before the member may process all it
//! owns: joining the group, a rebalance in progress, and tasks restoring
//! state (as in Kafka Streams). `/ready` answers 200 only in RUNNING. ERROR
//! is final: a fatal error the `--on-fatal` policy did not absorb; the
//! process then exits non-zero.

use parking_lot::Mutex;
use std::fmt;
use std::time::{Duration, Instant};

/// Where the application is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppState {
    /// Loaded, not yet a group member.
    Created,
    /// Joining, rebalancing or restoring: not processing everything it owns.
    Rebalancing,
    /// Processing every task it owns.
    Running,
    /// Stopping: finishing in-flight batches, flushing, committing.
    PendingShutdown,
    /// Stopped cleanly.
    NotRunning,
    /// Stopped by a fatal error.
    Error,
}

impl AppState {
    /// Every state, in diagram order (the exporter writes one series each).
    pub const ALL: [AppState; 6] = [
        AppState::Created,
        AppState::Rebalancing,
        AppState::Running,
        AppState::PendingShutdown,
        AppState::NotRunning,
        AppState::Error,
    ];

    /// Whether the diagram above has an arrow from `self` to `next`.
    pub fn can_become(self, next: AppState) -> bool {
        use AppState::*;
        matches!(
            (self, next),
            (Created, Rebalancing)
                | (Rebalancing, Running)
                | (Running, Rebalancing)
                | (Created | Rebalancing | Running, PendingShutdown)
                | (PendingShutdown, NotRunning)
                | (Created | Rebalancing | Running | PendingShutdown, Error)
        )
    }

    /// The name Kafka Streams uses (`RUNNING`), in logs, JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            AppState::Created => "CREATED",
            AppState::Rebalancing => "REBALANCING",
            AppState::Running => "RUNNING",
            AppState::PendingShutdown => "PENDING_SHUTDOWN",
            AppState::NotRunning => "NOT_RUNNING",
            AppState::Error => "ERROR",
        }
    }
}

impl fmt::Display for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Called on every transition with (from, to): Kafka Streams' state
/// listener.
pub type StateListener = Box<dyn Fn(AppState, AppState) + Send + Sync>;

/// The application state, shared by the poll loop (which moves it) and the
/// HTTP endpoints (which read it). Every transition is logged and passed to
/// the listeners; one the diagram forbids is refused and logged as a bug.
pub struct AppStateCell {
    current: Mutex<(AppState, Instant)>,
    listeners: Mutex<Vec<StateListener>>,
}

impl Default for AppStateCell {
    fn default() -> Self {
        AppStateCell {
            current: Mutex::new((AppState::Created, Instant::now())),
            listeners: Mutex::new(Vec::new()),
        }
    }
}

impl AppStateCell {
    /// The state now.
    pub fn get(&self) -> AppState {
        self.current.lock().0
    }

    /// The state now and how long it has held.
    pub fn get_with_age(&self) -> (AppState, Duration) {
        let (state, since) = *self.current.lock();
        (state, since.elapsed())
    }

    /// Adds a listener, called on every later transition.
    pub fn listen(&self, listener: StateListener) {
        self.listeners.lock().push(listener);
    }

    /// Starts a new life for a new run in the same process: a finished state
    /// (NOT_RUNNING, ERROR) goes back to CREATED. The state is process-wide
    /// while `runtime::run` is a library call that a bench, a test or a
    /// demo makes once per pipeline, one after another; without this the
    /// second run's REBALANCING and RUNNING were refused as illegal and the
    /// HTTP endpoints kept reporting the first run's NOT_RUNNING. A state of
    /// a run still going on is left alone (that run owns it). Returns
    /// whether the state was reset.
    pub fn begin_run(&self) -> bool {
        let mut current = self.current.lock();
        if !matches!(current.0, AppState::NotRunning | AppState::Error) {
            return false;
        }
        tracing::info!("application state {} -> CREATED: a new run in this process", current.0);
        *current = (AppState::Created, Instant::now());
        true
    }

    /// Moves to `next` if the diagram allows it; staying put is a no-op.
    /// Returns whether the state changed.
    pub fn set(&self, next: AppState) -> bool {
        let from = {
            let mut current = self.current.lock();
            let from = current.0;
            if from == next {
                return false;
            }
            if !from.can_become(next) {
                tracing::error!("illegal application state transition {from} -> {next} (a rill bug); staying {from}");
                return false;
            }
            *current = (next, Instant::now());
            from
        };
        tracing::info!(from = %from, to = %next, "application state {from} -> {next}");
        for listener in self.listeners.lock().iter() {
            listener(from, next);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::AppState::{self, *};
    use super::AppStateCell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn only_the_drawn_arrows_are_allowed() {
        let allowed = [
            (Created, Rebalancing),
            (Rebalancing, Running),
            (Running, Rebalancing),
            (Created, PendingShutdown),
            (Rebalancing, PendingShutdown),
            (Running, PendingShutdown),
            (PendingShutdown, NotRunning),
            (Created, Error),
            (Rebalancing, Error),
            (Running, Error),
            (PendingShutdown, Error),
        ];
        for from in AppState::ALL {
            for to in AppState::ALL {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn listeners_see_each_transition_once_and_illegal_ones_are_refused() {
        let cell = AppStateCell::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        cell.listen(Box::new(move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
        }));
        assert!(cell.set(Rebalancing));
        assert!(!cell.set(Rebalancing), "staying is not a transition");
        assert!(cell.set(Running));
        assert!(!cell.set(NotRunning), "RUNNING cannot stop without PENDING_SHUTDOWN");
        assert_eq!(cell.get(), Running);
        assert!(cell.set(PendingShutdown));
        assert!(cell.set(NotRunning));
        assert!(!cell.set(Running), "NOT_RUNNING is final");
        assert_eq!(seen.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_new_run_starts_from_created_after_the_last_one_finished() {
        let cell = AppStateCell::default();
        assert!(!cell.begin_run(), "a fresh cell is already CREATED");
        for end in [NotRunning, Error] {
            assert!(cell.set(Rebalancing));
            assert!(cell.set(Running));
            if end == NotRunning {
                assert!(cell.set(PendingShutdown));
            }
            assert!(cell.set(end));
            assert!(cell.begin_run(), "{end} is the end of a run");
            assert_eq!(cell.get(), Created);
        }
        assert!(cell.set(Rebalancing));
        assert!(!cell.begin_run(), "a run still going on keeps its state");
        assert_eq!(cell.get(), Rebalancing);
        assert!(cell.set(Running), "the second run moves as the first did");
    }
}
