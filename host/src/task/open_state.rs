//! Opening a task's state before it runs: each stateful stage's RocksDB
//! database, restored from its changelogs and tables (on the state
//! updater thread, `state::updater`), so the task starts on state that is
//! whole.

use super::TaskId;
use super::spec::TaskSpec;
use crate::state::StateError;
use crate::state::manager::StateManager;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

/// Opens the database of every stateful stage of task `id` and restores
/// what its checkpoint lacks: tables up to the group's committed offsets in
/// `committed_tables`, changelogs to their end. Runs on the state updater;
/// stops early when `cancel` is set (the task was revoked meanwhile).
/// Returns one entry per stage, `None` for stateless ones.
pub fn open_state(
    id: &TaskId,
    spec: &TaskSpec,
    committed_tables: &HashMap<String, i64>,
    cancel: &AtomicBool,
) -> Result<Vec<Option<StateManager>>, StateError> {
    open_stages(id, spec, committed_tables, cancel, Role::Active)
}

/// Opens a standby replica's state (`--standby-replicas`): the same
/// directories as the active task's, each changelog restored to its end
/// (tables are left to the active task, which restores them up to the
/// group's committed offset). Nothing is held for a transaction and nothing
/// is counted as the processor's restore.
pub fn open_standby_state(id: &TaskId, spec: &TaskSpec, cancel: &AtomicBool) -> Result<Vec<StateManager>, StateError> {
    let states = open_stages(id, spec, &HashMap::new(), cancel, Role::Standby)?;
    Ok(states.into_iter().flatten().collect())
}

/// Whether every stateful stage of task `id` has a local checkpoint, so
/// opening it replays only the changelog tail since then (for
/// `rill_task_restores_total`; a stage without one restores whole).
pub fn has_checkpoint(id: &TaskId, spec: &TaskSpec) -> bool {
    spec.processors()
        .filter_map(|p| Some((p, p.state.as_ref()?)))
        .all(|(processor, config)| {
            let tag = TaskId {
                processor: processor.name.clone(),
                partition: id.partition,
            }
            .to_string();
            crate::state::checkpoint::Checkpoint::in_dir(&config.root.join(tag))
                .read()
                .is_ok_and(|offsets| !offsets.is_empty())
        })
}

#[derive(PartialEq, Eq)]
enum Role {
    Active,
    Standby,
}

fn open_stages(
    id: &TaskId,
    spec: &TaskSpec,
    committed_tables: &HashMap<String, i64>,
    cancel: &AtomicBool,
    role: Role,
) -> Result<Vec<Option<StateManager>>, StateError> {
    let mut states = Vec::with_capacity(spec.stages.len());
    for processor in spec.processors() {
        let Some(config) = &processor.state else {
            states.push(None);
            continue;
        };
        // Each stage keeps its state where a task of that processor alone
        // would: `<processor>_<partition>`.
        let tag = TaskId {
            processor: processor.name.clone(),
            partition: id.partition,
        }
        .to_string();
        let mut state = StateManager::open(
            config.root.join(&tag),
            id.partition,
            &processor.changelogs,
            &processor.table_topics,
            config.global.clone(),
        )?;
        let tables: HashMap<String, i64> = committed_tables
            .iter()
            .filter(|(topic, _)| processor.table_topics.contains(topic))
            .map(|(t, o)| (t.clone(), *o))
            .collect();
        let restored = state.restore(config.changelogs.as_ref(), &tables, &tag, cancel)?;
        if role == Role::Standby {
            states.push(Some(state));
            continue;
        }
        if config.exactly_once {
            // What was restored is committed; what comes next is not yet.
            state.hold_until_commit();
        }
        processor.totals.restored(restored.records, restored.elapsed);
        states.push(Some(state));
    }
    Ok(states)
}
