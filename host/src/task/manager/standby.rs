//! Standby replicas (`--standby-replicas N`, Kafka Streams'
//! `num.standby.replicas`): which tasks this instance keeps warm, started
//! and stopped as the membership view and placement say, promoted when the
//! group assigns one of them here.
//!
//! ```text
//! Created ──► CatchingUp ──► Following ──► Promoted (handed to the active task)
//!                 │               │
//!                 └───────────────┴──► Closed (placement moved it, shutdown, error)
//! ```
//!
//! A standby catches up on the state updater through the active task's own
//! restore path (`open_standby_state`), then [`StandbyFollower`] follows
//! its changelogs. Its directory is the active task's, so a promoted task
//! opens it and replays only the changelog tail since the standby's last
//! checkpoint instead of the whole changelog.

use super::TaskManager;
use crate::kafka::membership::{LocalTasks, Membership};
use crate::state::StateError;
use crate::state::manager::StateManager;
use crate::state::standby::StandbyFollower;
use crate::state::updater::Restoring;
use crate::task::TaskId;
use crate::task::open_state::open_standby_state;
use crate::task::placement::{Peer, place_standbys};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Where a standby is in its life (see the module's diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyState {
    /// Created, its state not yet opened.
    Created,
    /// Restoring its changelogs to their end on the state updater.
    CatchingUp,
    /// Following its changelogs.
    Following,
    /// Handed to the active task of the same id (terminal).
    Promoted,
    /// Stopped (terminal).
    Closed,
}

impl StandbyState {
    /// Whether a standby may go from `self` to `next`.
    pub fn can_become(self, next: StandbyState) -> bool {
        use StandbyState::*;
        matches!(
            (self, next),
            (Created, CatchingUp)
                | (CatchingUp, Following)
                | (CatchingUp | Following, Promoted)
                | (Created | CatchingUp | Following, Closed)
        )
    }

    fn name(self) -> &'static str {
        match self {
            StandbyState::Created => "CREATED",
            StandbyState::CatchingUp => "CATCHING_UP",
            StandbyState::Following => "FOLLOWING",
            StandbyState::Promoted => "PROMOTED",
            StandbyState::Closed => "CLOSED",
        }
    }
}

/// What the runtime hands the task manager to run standbys.
pub struct StandbyConfig {
    /// `N`: standbys per stateful task.
    pub replicas: usize,
    /// This instance's membership (its entry, and everyone's).
    pub membership: Arc<Membership>,
    /// The thread that follows caught-up standbys.
    pub follower: StandbyFollower,
}

struct StandbyEntry {
    state: StandbyState,
    catching_up: Option<Restoring<Vec<StateManager>, StateError>>,
    since: Instant,
}

/// The standbys of this instance.
#[derive(Default)]
pub(super) struct Standbys {
    config: Option<StandbyConfig>,
    entries: BTreeMap<TaskId, StandbyEntry>,
    /// Standbys whose start failed (their directory may still be held by
    /// the closing active task): not retried before the instant given.
    retry_after: BTreeMap<TaskId, Instant>,
    last_reconcile: Option<Instant>,
    /// Tasks warmed before joining the group (`--warm-up`), kept as
    /// standbys whatever placement says until [`TaskManager::end_warm_up`].
    warming: BTreeSet<TaskId>,
}

/// How far a warm-up is: per warmed task, whether its standby follows its
/// changelogs and how many records it still lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarmUpStatus {
    /// Warmed tasks with their lag (`None`: still catching up, or not
    /// measured yet).
    pub lags: BTreeMap<TaskId, Option<i64>>,
}

impl WarmUpStatus {
    /// Whether every warmed task follows within `acceptable_lag` records.
    pub fn caught_up(&self, acceptable_lag: i64) -> bool {
        self.lags.values().all(|lag| lag.is_some_and(|l| l <= acceptable_lag))
    }
}

/// How often placement is recomputed and this instance's entry refreshed.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// How long a failed standby start waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

impl TaskManager {
    /// Runs standbys (`--standby-replicas`); without this call none run.
    pub fn set_standbys(&mut self, config: StandbyConfig) {
        metrics::gauge!(crate::observe::metrics::STANDBY_TASKS).set(0.0);
        self.standbys.config = Some(config);
    }

    /// Hands caught-up standbys to the follower and, once per
    /// [`RECONCILE_EVERY`], publishes this instance's tasks and starts or
    /// stops standbys as placement says. Called from the poll loop.
    pub(super) fn tend_standbys(&mut self) {
        let Some(config) = &self.standbys.config else { return };
        let caught_up: Vec<(TaskId, Result<Vec<StateManager>, StateError>)> = self
            .standbys
            .entries
            .iter()
            .filter_map(|(id, e)| Some((id.clone(), e.catching_up.as_ref()?.try_finish()?)))
            .collect();
        for (id, outcome) in caught_up {
            match outcome {
                Ok(states) => {
                    config.follower.follow(&id.to_string(), states);
                    let entry = self.standbys.entries.get_mut(&id).expect("listed above");
                    entry.catching_up = None;
                    standby_transition(&id, entry, StandbyState::Following);
                }
                Err(error) => {
                    tracing::warn!(task = %id, "standby could not catch up: {error}; trying again in {RETRY_AFTER:?}");
                    if let Some(mut entry) = self.standbys.entries.remove(&id) {
                        standby_transition(&id, &mut entry, StandbyState::Closed);
                    }
                    self.standbys.retry_after.insert(id, Instant::now() + RETRY_AFTER);
                }
            }
        }
        if self
            .standbys
            .last_reconcile
            .is_some_and(|at| at.elapsed() < RECONCILE_EVERY)
        {
            return;
        }
        self.standbys.last_reconcile = Some(Instant::now());
        self.publish_membership();
        self.reconcile_standbys();
    }

    /// Publishes this instance's active tasks and standbys with positions.
    fn publish_membership(&self) {
        let Some(config) = &self.standbys.config else { return };
        let progress = config.follower.progress();
        let tasks = LocalTasks {
            active: self
                .tasks
                .keys()
                .map(|id| (id.processor.to_string(), id.partition))
                .collect(),
            standby: self
                .standbys
                .entries
                .keys()
                .map(|id| {
                    let at = progress.get(&id.to_string()).map_or(0, |p| p.position);
                    (id.processor.to_string(), id.partition, at)
                })
                .collect(),
        };
        config.membership.publish(tasks);
        metrics::gauge!(crate::observe::metrics::STANDBY_TASKS).set(self.standbys.entries.len() as f64);
        crate::observe::telemetry().standbys(
            self.standbys
                .entries
                .iter()
                .map(|(id, e)| {
                    let p = progress.get(&id.to_string()).copied().unwrap_or_default();
                    crate::observe::StandbyView {
                        task: id.to_string(),
                        state: e.state.name().to_string(),
                        position: p.position,
                        lag: p.lag,
                        since_ms: crate::observe::now_ms() - e.since.elapsed().as_millis() as i64,
                    }
                })
                .collect(),
        );
    }

    /// Starts the standbys placement gives this instance and stops those it
    /// took away. A task with no live active owner keeps its standbys:
    /// that is when they are about to be needed.
    fn reconcile_standbys(&mut self) {
        let Some(config) = &self.standbys.config else { return };
        let me = config.membership.instance().to_string();
        let now = crate::observe::now_ms();
        let (view, _) = config.membership.view();
        let live = view.live(now);
        if !live.iter().any(|e| e.instance == me) {
            // Not seen our own entry yet: the view is too young to act on.
            return;
        }
        let peers: Vec<Peer> = live
            .iter()
            .map(|e| Peer {
                instance: e.instance.clone(),
                host: e.host.clone(),
            })
            .collect();
        let mut owners: BTreeMap<TaskId, String> = BTreeMap::new();
        for entry in live.iter().filter(|e| e.instance != me) {
            for (processor, partition) in &entry.active {
                owners.insert(
                    TaskId {
                        processor: processor.as_str().into(),
                        partition: *partition,
                    },
                    entry.instance.clone(),
                );
            }
        }
        // This instance's own tasks are known here first-hand.
        for id in self.tasks.keys() {
            owners.insert(id.clone(), me.clone());
        }
        owners.retain(|id, _| self.spec_of(id).is_some_and(|s| s.is_stateful()));
        let placed = place_standbys(&peers, &owners, config.replicas);
        let wanted: BTreeSet<TaskId> = placed
            .into_iter()
            .filter(|(_, chosen)| chosen.contains(&me))
            .map(|(id, _)| id)
            .chain(self.standbys.warming.iter().cloned())
            .filter(|id| !self.tasks.contains_key(id))
            .collect();
        let stop: Vec<TaskId> = self
            .standbys
            .entries
            .keys()
            .filter(|id| owners.contains_key(*id) && !wanted.contains(*id))
            .cloned()
            .collect();
        for id in stop {
            self.stop_standby(&id, StandbyState::Closed);
        }
        let now = Instant::now();
        self.standbys.retry_after.retain(|_, at| *at > now);
        let start: Vec<TaskId> = wanted
            .into_iter()
            .filter(|id| !self.standbys.entries.contains_key(id) && !self.standbys.retry_after.contains_key(id))
            .collect();
        for id in start {
            self.start_standby(id);
        }
    }

    fn start_standby(&mut self, id: TaskId) {
        let Some(spec) = self.spec_of(&id) else { return };
        let mut entry = StandbyEntry {
            state: StandbyState::Created,
            catching_up: None,
            since: Instant::now(),
        };
        tracing::info!(task = %id, "standby starting");
        let task = id.clone();
        entry.catching_up = Some(self.updater.submit(Box::new(move |cancel: &AtomicBool| {
            open_standby_state(&task, &spec, cancel)
        })));
        standby_transition(&id, &mut entry, StandbyState::CatchingUp);
        self.standbys.entries.insert(id, entry);
    }

    /// Stops the standby of `id`, if any, checkpointing what it holds and
    /// closing its databases; `to` says why (promoted or closed). Returns
    /// whether there was one.
    fn stop_standby(&mut self, id: &TaskId, to: StandbyState) -> bool {
        let Some(mut entry) = self.standbys.entries.remove(id) else {
            return false;
        };
        if let Some(catching_up) = entry.catching_up.take() {
            // A cancelled restore checkpoints what it reached; one that had
            // just finished hands its state back, checkpointed here.
            if let Some(Ok(states)) = catching_up.cancel(Duration::from_secs(30)) {
                for state in states {
                    if let Err(e) = state.checkpoint() {
                        tracing::warn!(task = %id, "standby checkpoint: {e}");
                    }
                }
            }
        } else if let Some(config) = &self.standbys.config {
            config.follower.release(&id.to_string());
        }
        metrics::gauge!(crate::observe::metrics::STANDBY_LAG, "task" => id.to_string()).set(0.0);
        standby_transition(id, &mut entry, to);
        true
    }

    /// The group assigned task `id` here: if this instance keeps it warm,
    /// the standby hands over its directory (checkpointed), so the task's
    /// restore replays only the changelog tail. Returns whether it did.
    pub(super) fn promote_standby(&mut self, id: &TaskId) -> bool {
        let promoted = self.stop_standby(id, StandbyState::Promoted);
        if promoted {
            tracing::info!(task = %id, "task promoted from standby: restoring only the changelog tail");
        }
        promoted
    }

    /// Stops every standby (shutdown), checkpointing each.
    pub(super) fn stop_standbys(&mut self) {
        let ids: Vec<TaskId> = self.standbys.entries.keys().cloned().collect();
        for id in ids {
            self.stop_standby(&id, StandbyState::Closed);
        }
        self.publish_membership();
    }

    /// Warms the stateful ones of `tasks` as standbys before this instance
    /// joins its group (`--warm-up`, see `runtime/warm_up.rs`): started at once and
    /// kept whatever placement says until [`TaskManager::end_warm_up`].
    pub fn warm_up(&mut self, tasks: BTreeSet<TaskId>) {
        if self.standbys.config.is_none() {
            return;
        }
        let tasks: BTreeSet<TaskId> = tasks
            .into_iter()
            .filter(|id| self.spec_of(id).is_some_and(|s| s.is_stateful()))
            .collect();
        for id in &tasks {
            if !self.standbys.entries.contains_key(id) && !self.tasks.contains_key(id) {
                self.start_standby(id.clone());
            }
        }
        self.standbys.warming = tasks;
    }

    /// Tends the standbys (before the poll loop runs, which otherwise does)
    /// and says how far the warmed ones are.
    pub fn warm_up_status(&mut self) -> WarmUpStatus {
        self.tend_standbys();
        let Some(config) = &self.standbys.config else {
            return WarmUpStatus::default();
        };
        let progress = config.follower.progress();
        let lags = self
            .standbys
            .warming
            .iter()
            .map(|id| {
                let following = self
                    .standbys
                    .entries
                    .get(id)
                    .is_some_and(|e| e.state == StandbyState::Following);
                let lag = progress.get(&id.to_string()).and_then(|p| p.lag);
                (id.clone(), lag.filter(|_| following))
            })
            .collect();
        WarmUpStatus { lags }
    }

    /// Ends the warm-up: warmed tasks the group did not assign here stay
    /// standbys only where placement wants them (the others stop at the
    /// next reconcile, their directories and checkpoints kept).
    pub fn end_warm_up(&mut self) {
        self.standbys.warming.clear();
    }

    /// Tasks this instance keeps warm, for tests and `/status`.
    pub fn standby_tasks(&self) -> Vec<TaskId> {
        self.standbys.entries.keys().cloned().collect()
    }
}

/// Moves a standby along its diagram, logging it and noting a `/status` event.
fn standby_transition(id: &TaskId, entry: &mut StandbyEntry, next: StandbyState) {
    if !entry.state.can_become(next) {
        tracing::error!(task = %id, "illegal standby transition {:?} -> {next:?}", entry.state);
        return;
    }
    entry.state = next;
    entry.since = Instant::now();
    let kind = match next {
        StandbyState::CatchingUp => "standby-started",
        StandbyState::Promoted => "standby-promoted",
        StandbyState::Closed => "standby-stopped",
        StandbyState::Created | StandbyState::Following => return,
    };
    crate::observe::telemetry().event(kind, &id.to_string(), next.name().to_string());
}

#[cfg(test)]
mod tests {
    use super::StandbyState::{self, *};

    #[test]
    fn every_allowed_standby_transition_and_no_other() {
        let all = [Created, CatchingUp, Following, Promoted, Closed];
        let allowed = [
            (Created, CatchingUp),
            (CatchingUp, Following),
            (CatchingUp, Promoted),
            (Following, Promoted),
            (Created, Closed),
            (CatchingUp, Closed),
            (Following, Closed),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    StandbyState::can_become(from, to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }
}
