//! Where the consumer-group member stands in its group, as its rebalance
//! callbacks move it: what `/status` shows as REBALANCING and what keeps
//! `--stop-when-idle` from stopping mid-rebalance.
//!
//! ```text
//!            assign                 revoke (eager)
//! Unjoined ─────────► Stable ◄──────────────────────► Rebalancing
//!                       ▲   ╲                assign    │
//!                assign │    ╲ revoke, assignment lost  │ revoke, assignment lost
//!                       │     ▼                         ▼
//!                       └──── Lost ◄────────────────────┘
//! ```
//!
//! Under the incremental protocols a revocation of some partitions leaves
//! the member Stable: only the revoked tasks stop, and librdkafka may not
//! follow it with an assignment at all (KIP-848). Under the eager protocol
//! a revocation takes everything and the next assignment (maybe empty)
//! ends the rebalance.

use std::fmt;

/// The member's phase (see the module docs for the diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberPhase {
    /// Subscribed; no assignment yet.
    Unjoined,
    /// Working on its assignment (maybe empty).
    Stable,
    /// Eager protocol: everything was revoked; waiting for the next
    /// assignment.
    Rebalancing,
    /// The assignment was lost (session expired, fenced): the tasks were
    /// closed without committing; waiting to rejoin.
    Lost,
}

/// What moved the member: one rebalance callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseEvent {
    /// Partitions assigned (maybe none).
    Assign,
    /// Partitions revoked under the eager protocol (all of them).
    RevokeAll,
    /// Some partitions revoked under an incremental protocol.
    RevokeSome,
    /// Partitions revoked because the assignment was lost.
    Lose,
}

impl MemberPhase {
    /// The phase after `event`. Every event is allowed in every phase
    /// but one: nothing is revoked from a member that was never assigned
    /// anything, so a revocation leaves `Unjoined` as it is.
    pub fn after(self, event: PhaseEvent) -> MemberPhase {
        use MemberPhase::*;
        match (self, event) {
            (_, PhaseEvent::Assign) => Stable,
            (Unjoined, _) => Unjoined,
            (_, PhaseEvent::Lose) => Lost,
            (Stable | Rebalancing, PhaseEvent::RevokeAll) => Rebalancing,
            (Lost, PhaseEvent::RevokeAll | PhaseEvent::RevokeSome) => Lost,
            (Stable | Rebalancing, PhaseEvent::RevokeSome) => self,
        }
    }

    /// Whether the group's assignment has reached this member and holds
    /// (what `/status` shows as not REBALANCING, tasks aside).
    pub fn is_stable(self) -> bool {
        self == MemberPhase::Stable
    }
}

impl fmt::Display for MemberPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemberPhase::Unjoined => "unjoined",
            MemberPhase::Stable => "stable",
            MemberPhase::Rebalancing => "rebalancing",
            MemberPhase::Lost => "lost",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::MemberPhase::*;
    use super::PhaseEvent::*;

    #[test]
    fn every_phase_and_event() {
        let table = [
            (Unjoined, Assign, Stable),
            (Unjoined, RevokeAll, Unjoined),
            (Unjoined, RevokeSome, Unjoined),
            (Unjoined, Lose, Unjoined),
            (Stable, Assign, Stable),
            (Stable, RevokeAll, Rebalancing),
            (Stable, RevokeSome, Stable),
            (Stable, Lose, Lost),
            (Rebalancing, Assign, Stable),
            (Rebalancing, RevokeAll, Rebalancing),
            (Rebalancing, RevokeSome, Rebalancing),
            (Rebalancing, Lose, Lost),
            (Lost, Assign, Stable),
            (Lost, RevokeAll, Lost),
            (Lost, RevokeSome, Lost),
            (Lost, Lose, Lost),
        ];
        for (from, event, to) in table {
            assert_eq!(from.after(event), to, "{from} after {event:?}");
        }
        assert!(Stable.is_stable());
        assert!(![Unjoined, Rebalancing, Lost].iter().any(|p| p.is_stable()));
    }
}
