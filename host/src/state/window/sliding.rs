//! Planning a batch for a sliding-window store (KIP-450): each keyed
//! record, in order, looks up its key's windows around it (stored, or made
//! by earlier records of the batch), and `rill_sdk::time::sliding::steps`
//! says which it updates, creates or copies. Every window touched becomes
//! a [`Group`]; a window created from another starts from that window's
//! stored aggregate plus the records of the batch it had folded so far
//! (its `seeded` records), so the plugin (or the host's count) folds a
//! batch in one call, as for the other kinds.

use super::{Group, Plan, Routed, unord, unvalue, window_key};
use crate::manifest::WindowSpec;
use crate::state::store::{AccessError, HostView};
use rill_sdk::time::Bounds;
use rill_sdk::time::sliding::{self, Known, Step};
use std::collections::{BTreeMap, HashMap};

/// A window a key has, as the plan knows it.
#[derive(Clone)]
enum Slot {
    /// In the store, untouched by the batch: (aggregate, latest).
    Stored(Vec<u8>, i64),
    /// A group of the plan.
    Group(usize),
}

/// The planner's view of one sliding store during a batch.
pub(super) struct Slider<'p> {
    spec: &'p WindowSpec,
    time_difference: i64,
    /// Per key: the windows loaded or made, by start.
    keys: HashMap<Vec<u8>, BTreeMap<i64, Slot>>,
    /// Steps taken so far in the batch: the order of update emissions
    /// among those of one record.
    seq: u32,
}

impl<'p> Slider<'p> {
    /// A planner for `spec`, a sliding store of `time_difference`.
    pub(super) fn new(spec: &'p WindowSpec, time_difference: i64) -> Self {
        Slider {
            spec,
            time_difference,
            keys: HashMap::new(),
            seq: 0,
        }
    }

    /// Plans routed record `i` (key `key`) at the store's stream time `now`
    /// (already raised by it): its steps become groups, or it is late.
    pub(super) fn record(
        &mut self,
        view: &mut HostView<'_>,
        plan: &mut Plan,
        routed: &[Routed],
        i: usize,
        key: &[u8],
        now: i64,
    ) -> Result<(), AccessError> {
        let ts = routed[i].record.timestamp;
        let d = self.time_difference;
        if sliding::is_late(d, self.spec.grace, now, ts) {
            plan.late.push((i, now));
            return Ok(());
        }
        let (from, to) = sliding::lookup(d, ts);
        self.load(view, key, from, to)?;
        let windows = self.keys.get_mut(key).expect("loaded above");
        let retention = self.spec.retention;
        let known: Vec<Known> = windows
            .range(from..=to)
            .filter(|(start, _)| sliding::kept(**start, retention, now))
            .map(|(&start, slot)| Known {
                start,
                latest: latest(plan, routed, slot),
            })
            .collect();
        let steps = sliding::steps(d, self.spec.grace, now, ts, &known).expect("not late: checked above");
        // Windows copied are read as they were before this record.
        let source = |start: i64| -> (Option<(Vec<u8>, i64)>, Vec<usize>) {
            match windows.get(&start) {
                Some(Slot::Stored(aggregate, latest)) => (Some((aggregate.clone(), *latest)), Vec::new()),
                Some(Slot::Group(g)) => (plan.groups[*g].current.clone(), plan.groups[*g].records.clone()),
                None => (None, Vec::new()),
            }
        };
        let sources: Vec<_> = steps
            .iter()
            .map(|step| match *step {
                Step::Update { .. } | Step::Create { from: None, .. } => (None, Vec::new()),
                Step::Create { from: Some(f), .. } | Step::Copy { from: f, .. } => source(f),
            })
            .collect();
        for (step, (current, seeds)) in steps.into_iter().zip(sources) {
            self.seq += 1;
            let order = self.seq;
            match step {
                Step::Update { start } => {
                    let g = match windows.get(&start).cloned() {
                        Some(Slot::Group(g)) => g,
                        Some(Slot::Stored(aggregate, latest)) => {
                            let g = new_group(plan, key, d, start, Some((aggregate, latest)), Vec::new(), true);
                            windows.insert(start, Slot::Group(g));
                            g
                        }
                        None => unreachable!("steps update only windows that were known"),
                    };
                    plan.groups[g].records.push(i);
                    plan.groups[g].order.push(order);
                }
                Step::Create { start, .. } => {
                    let g = new_group(plan, key, d, start, current, seeds, false);
                    plan.groups[g].records.push(i);
                    plan.groups[g].order.push(order);
                    windows.insert(start, Slot::Group(g));
                }
                Step::Copy { start, .. } => {
                    let g = new_group(plan, key, d, start, current, seeds, false);
                    plan.groups[g].copied_by = Some((i, order));
                    windows.insert(start, Slot::Group(g));
                }
            }
        }
        Ok(())
    }

    /// Reads the key's stored windows starting in `[from, to]` that the
    /// plan does not know yet.
    fn load(&mut self, view: &mut HostView<'_>, key: &[u8], from: i64, to: i64) -> Result<(), AccessError> {
        let lo = window_key(
            key,
            Bounds {
                start: from,
                end: i64::MIN,
            },
        );
        let mut hi_exclusive = window_key(
            key,
            Bounds {
                start: to,
                end: i64::MAX,
            },
        );
        hi_exclusive.push(0);
        let stored = view.range(&self.spec.name, &lo, &hi_exclusive)?;
        let windows = self.keys.entry(key.to_vec()).or_default();
        let prefix = lo.len() - 16;
        for (k, v) in stored {
            if k.len() != prefix + 16 {
                continue;
            }
            let start = unord(&k[prefix..prefix + 8]);
            let (aggregate, latest) = unvalue(&v);
            windows.entry(start).or_insert(Slot::Stored(aggregate, latest));
        }
        Ok(())
    }
}

/// The latest record time in a window as the plan knows it.
fn latest(plan: &Plan, routed: &[Routed], slot: &Slot) -> i64 {
    match slot {
        Slot::Stored(_, latest) => *latest,
        Slot::Group(g) => {
            let group = &plan.groups[*g];
            group
                .records
                .iter()
                .map(|&r| routed[r].record.timestamp)
                .chain(group.current.as_ref().map(|(_, t)| *t))
                .max()
                .unwrap_or(i64::MIN)
        }
    }
}

/// A new group for the window of `key` starting at `start`, seeded with
/// a copied window's aggregate and the batch records it had folded.
fn new_group(
    plan: &mut Plan,
    key: &[u8],
    time_difference: i64,
    start: i64,
    current: Option<(Vec<u8>, i64)>,
    seeds: Vec<usize>,
    stored: bool,
) -> usize {
    plan.groups.push(Group {
        key: key.to_vec(),
        window: sliding::window(time_difference, start),
        current,
        merged: Vec::new(),
        seeded: seeds.len(),
        records: seeds,
        absorbed: false,
        stored,
        copied_by: None,
        order: Vec::new(),
    });
    plan.groups.len() - 1
}
