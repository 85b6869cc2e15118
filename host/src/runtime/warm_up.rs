//! Warm-up before joining (`--warm-up`): an instance that joins a group
//! whose tasks hold large state first follows, as standbys, the changelogs
//! of the tasks it is likely to receive, and subscribes only once they are
//! within `--acceptable-recovery-lag` records of their ends (or at
//! `--warm-up-timeout`). The tasks the group then assigns here are promoted
//! from their standbys and replay only the tail, so scaling out moves no
//! cold task.
//!
//! ```text
//! Planning ──► Warming ──► Joining
//!     │                      ▲
//!     └──────────────────────┘  no live peer, nothing stateful to warm,
//!                               shutdown, or the timeout
//! ```
//!
//! How this differs from Kafka Streams (KIP-441): there the instance joins
//! at once, the assignor keeps each task on its caught-up owner, warm-up
//! replicas (`max.warmup.replicas`) catch up on the newcomer, and a probing
//! rebalance every `probing.rebalance.interval.ms` moves a task once its
//! replica has caught up. rill cannot choose an assignment (librdkafka has
//! no pluggable assignor), and the assignor moves tasks the moment a member
//! joins; so rill warms *before* joining, predicting the tasks it will
//! receive from the peers' published assignments
//! ([`crate::task::placement::likely_received`]), a superset whose only
//! cost is changelog reads while the instance is not yet in the group. No
//! probing rebalances, no cap on concurrent warm-ups.

use crate::kafka::membership::Membership;
use crate::state::checkpoint::Checkpoint;
use crate::task::TaskId;
use crate::task::manager::TaskManager;
use crate::task::placement::likely_received;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `--warm-up`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUpOptions {
    /// Changelog records a warmed task may lack when the instance joins
    /// (`--acceptable-recovery-lag`, Kafka Streams' `acceptable.recovery.lag`).
    pub acceptable_lag: i64,
    /// The longest the warm-up waits (`--warm-up-timeout`).
    pub timeout: Duration,
}

/// Where a warm-up is (see the module's diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmUpPhase {
    /// Reading the membership topic for the peers' assignments.
    Planning,
    /// Following the planned tasks' changelogs as standbys.
    Warming,
    /// Done: the instance subscribes (terminal).
    Joining,
}

impl WarmUpPhase {
    /// Whether a warm-up may go from `self` to `next`.
    pub fn can_become(self, next: WarmUpPhase) -> bool {
        use WarmUpPhase::*;
        matches!((self, next), (Planning, Warming) | (Planning | Warming, Joining))
    }
}

/// How long planning waits to see this instance's own entry in the
/// membership topic: proof that the view has read what the peers published.
const VIEW_WAIT: Duration = Duration::from_secs(30);

/// How often the warm-up looks at its standbys.
const TICK: Duration = Duration::from_millis(200);

/// Runs the warm-up (before the instance joins its group), returning once
/// it may join. Every outcome ends in joining: a warm-up only makes the
/// first assignment cheaper, it never keeps an instance out.
pub fn warm_up(
    manager: &Arc<Mutex<TaskManager>>,
    membership: &Membership,
    options: &WarmUpOptions,
    shutdown: &AtomicBool,
) -> WarmUpPhase {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let mut phase = WarmUpPhase::Planning;
    let me = membership.instance().to_string();
    let peers = loop {
        // Tending publishes this instance's entry.
        manager.lock().warm_up_status();
        let now = crate::observe::now_ms();
        let (view, _) = membership.view();
        let live = view.live(now);
        if live.iter().any(|e| e.instance == me) {
            break live
                .iter()
                .filter(|e| e.instance != me)
                .map(|e| {
                    let tasks = e
                        .active
                        .iter()
                        .map(|(processor, partition)| TaskId {
                            processor: processor.as_str().into(),
                            partition: *partition,
                        })
                        .collect::<Vec<_>>();
                    (e.instance.clone(), tasks)
                })
                .collect::<BTreeMap<_, _>>();
        }
        if shutdown.load(Ordering::Relaxed) || started.elapsed() > VIEW_WAIT.min(options.timeout) {
            tracing::warn!("warm-up: the membership topic did not show this instance in time; joining cold");
            return move_to(phase, WarmUpPhase::Joining);
        }
        std::thread::sleep(TICK);
    };
    let plan = likely_received(&peers);
    manager.lock().warm_up(plan);
    let warming = manager.lock().warm_up_status();
    if warming.lags.is_empty() {
        tracing::info!(peers = peers.len(), "warm-up: no stateful task to warm; joining");
        return move_to(phase, WarmUpPhase::Joining);
    }
    tracing::info!(
        peers = peers.len(),
        "warm-up: warming {} task(s) before joining: {}",
        warming.lags.len(),
        warming
            .lags
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    phase = move_to(phase, WarmUpPhase::Warming);
    loop {
        let status = manager.lock().warm_up_status();
        if status.caught_up(options.acceptable_lag) {
            let lag: i64 = status.lags.values().flatten().sum();
            tracing::info!(
                "warm-up: {} task(s) within {} records of their changelogs' ends ({lag} in all) after {:.1}s; joining",
                status.lags.len(),
                options.acceptable_lag,
                started.elapsed().as_secs_f64()
            );
            return move_to(phase, WarmUpPhase::Joining);
        }
        if shutdown.load(Ordering::Relaxed) {
            return move_to(phase, WarmUpPhase::Joining);
        }
        if Instant::now() >= deadline {
            let behind: Vec<String> = status
                .lags
                .iter()
                .filter(|(_, lag)| !lag.is_some_and(|l| l <= options.acceptable_lag))
                .map(|(id, lag)| match lag {
                    Some(lag) => format!("{id} ({lag} behind)"),
                    None => format!("{id} (catching up)"),
                })
                .collect();
            tracing::warn!(
                "warm-up: --warm-up-timeout ({:?}) reached with {} still behind; joining: {}",
                options.timeout,
                behind.len(),
                behind.join(", ")
            );
            return move_to(phase, WarmUpPhase::Joining);
        }
        std::thread::sleep(TICK);
    }
}

/// Whether the application's state directory `root` holds a task's
/// checkpointed state (a `<processor>_<partition>` directory with a
/// non-empty checkpoint): a restart, not a new instance.
pub fn has_local_tasks(root: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(root) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name() != "global"
            && Checkpoint::in_dir(&e.path())
                .read()
                .is_ok_and(|offsets| !offsets.is_empty())
    })
}

fn move_to(from: WarmUpPhase, to: WarmUpPhase) -> WarmUpPhase {
    debug_assert!(from.can_become(to), "warm-up {from:?} -> {to:?}");
    crate::observe::telemetry().event("warm-up", "", format!("{from:?} -> {to:?}"));
    to
}

#[cfg(test)]
mod tests {
    use super::WarmUpPhase::{self, *};

    #[test]
    fn a_state_directory_with_a_checkpointed_task_is_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!super::has_local_tasks(&dir.path().join("missing")));
        assert!(!super::has_local_tasks(dir.path()));
        std::fs::create_dir_all(dir.path().join("global")).unwrap();
        std::fs::write(dir.path().join("global/.checkpoint"), "t 0 1\n").unwrap();
        assert!(!super::has_local_tasks(dir.path()), "global tables are not tasks");
        std::fs::create_dir_all(dir.path().join("count_3")).unwrap();
        assert!(!super::has_local_tasks(dir.path()), "no checkpoint yet");
        std::fs::write(dir.path().join("count_3/.checkpoint"), "t 3 10\n").unwrap();
        assert!(super::has_local_tasks(dir.path()));
    }

    #[test]
    fn every_allowed_warm_up_transition_and_no_other() {
        let all = [Planning, Warming, Joining];
        let allowed = [(Planning, Warming), (Planning, Joining), (Warming, Joining)];
        for from in all {
            for to in all {
                assert_eq!(
                    WarmUpPhase::can_become(from, to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }
}
