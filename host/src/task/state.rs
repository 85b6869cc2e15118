//! The task life cycle, written down.
//!
//! ```text
//!            assign
//!   Created ────────► Restoring ──────► Running
//!      │                  │               │  revoke / shutdown:
//!      │                  │               ▼  finish batches, flush, commit
//!      │                  │           Suspended
//!      │                  │               │
//!      └──────────────────┴───────────────┴──────► Closed
//!                     lost partitions, fatal error
//! ```
//!
//! Restoring brings local state up to date from changelogs (and tables
//! from their topics, up to the committed offset) before any record is
//! processed. It runs on the state updater thread while the task's
//! partitions are paused, so other tasks keep processing; a task revoked
//! while restoring goes straight to Closed. For a stateless processor it
//! completes at once.

use std::fmt;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Known, instance not yet started.
    Created,
    /// Restoring state; not processing.
    Restoring,
    /// Processing batches.
    Running,
    /// No new input; finishing in-flight work before its final commit.
    Suspended,
    /// Done; nothing may happen to it any more.
    Closed,
}

impl TaskState {
    /// Whether the diagram above has an arrow from `self` to `next`.
    pub fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, next),
            (Created, Restoring)
                | (Restoring, Running)
                | (Running, Suspended)
                | (Created | Restoring | Running | Suspended, Closed)
        )
    }

    /// Moves to `next`, or explains why that is a bug.
    pub fn transition(&mut self, next: TaskState) -> Result<(), IllegalTransition> {
        if !self.can_become(next) {
            return Err(IllegalTransition { from: *self, to: next });
        }
        *self = next;
        Ok(())
    }
}

/// A transition the diagram does not allow: always a rill bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal task state transition {from:?} -> {to:?}")]
pub struct IllegalTransition {
    /// State before.
    pub from: TaskState,
    /// State asked for.
    pub to: TaskState,
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    #[test]
    fn only_the_drawn_arrows_are_allowed() {
        let all = [Created, Restoring, Running, Suspended, Closed];
        let allowed = [
            (Created, Restoring),
            (Restoring, Running),
            (Running, Suspended),
            (Created, Closed),
            (Restoring, Closed),
            (Running, Closed),
            (Suspended, Closed),
        ];
        for from in all {
            for to in all {
                assert_eq!(from.can_become(to), allowed.contains(&(from, to)), "{from} -> {to}");
            }
        }
        let mut s = TaskState::Closed;
        assert!(s.transition(Running).is_err());
    }
}
