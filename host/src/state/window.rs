//! Windowed stores: which windows a record falls in, which are late, what
//! the plugin must fold, and when windows close and are forgotten. The
//! plugin only folds records into aggregates and formats results; this
//! module owns everything else, on top of the task's store (so windows are
//! in RocksDB, changelogged, and rolled back with a trapped batch).
//!
//! ```text
//!  routed records ──► plan (assign windows, drop late, group per window) ──► plugin `aggregate`
//!                                                                   (or the host's [`counts`])
//!        ──► apply (store aggregates; updates) ──► close (final results; expire) ──► plugin `emit`
//! ```
//!
//! One column family per windowed store holds three kinds of keys (times
//! are order-preserving 8-byte encodings, so byte order is time order):
//!
//! ```text
//! W | key length | key | start | end   → latest record time | aggregate
//! T | closes at | key length | key | start | end  → (empty)   time index
//! M                                     → stream time | closed through
//! ```
//!
//! The time index finds windows to close and expire without scanning the
//! keys. `M` keeps the store's stream time across restarts, so a window
//! closed before a restart stays closed (its final result is not emitted
//! twice, late records stay late).
//!
//! A store's stream time is its own, as in Kafka Streams'
//! `KStreamWindowAggregate` and `KStreamSessionWindowAggregate`: the largest
//! timestamp of the keyed records routed to it. Nothing else moves it: not
//! the task's other records, not records the plugin rejected or filtered,
//! not records without a key (see docs/time.md). Only an explicit
//! `idle-advance` moves it without a record ([`close`] with a later time).

use crate::manifest::{Emit, WindowSpec};
use crate::record::InputRecord;
use crate::state::store::{AccessError, HostView};
use rill_sdk::time::{Bounds, WindowKind};
use std::collections::HashMap;

mod count;
mod sliding;
pub use count::counts;

/// A record a stage emitted to a windowed store.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Key, value, headers; `timestamp` is its event time.
    pub record: InputRecord,
    /// The stage input it came from (index in the stage's run), for
    /// dead letters and attribution.
    pub input: usize,
}

/// Records of one window to fold, and what the window held.
#[derive(Debug, Clone)]
pub struct Group {
    /// The record key.
    pub key: Vec<u8>,
    /// The window (for sessions: after merging).
    pub window: Bounds,
    /// The stored aggregate and latest record time, if the window exists.
    pub current: Option<(Vec<u8>, i64)>,
    /// Sessions only: stored sessions this one absorbs (oldest first).
    pub merged: Vec<(Bounds, Vec<u8>, i64)>,
    /// Indices into the routed records, in order.
    pub records: Vec<usize>,
    /// Sliding windows: how many of the first `records` were copied from
    /// the window this one was created from (folded, never emitted as
    /// this window's own updates).
    pub seeded: usize,
    /// Absorbed into a later group of the same batch (sessions).
    absorbed: bool,
    /// The window is in the store already (else `apply` indexes it).
    stored: bool,
    /// Sliding windows: the routed record whose arrival created this
    /// window as a copy, and the copy's place among that record's updates.
    copied_by: Option<(usize, u32)>,
    /// Sliding windows: each own record's place among that record's
    /// updates (the order Kafka Streams forwards them in).
    order: Vec<u32>,
}

impl Group {
    /// Whether the plugin must fold this group (it was not absorbed).
    pub fn is_live(&self) -> bool {
        !self.absorbed
    }
}

/// What to do with a batch of routed records for one windowed store.
#[derive(Debug, Default)]
pub struct Plan {
    /// Windows to fold, in first-record order.
    pub groups: Vec<Group>,
    /// Routed records every window of which had closed, with the store's
    /// stream time that judged them late.
    pub late: Vec<(usize, i64)>,
    /// Routed records without a key (they leave stream time unchanged).
    pub keyless: Vec<usize>,
    /// The store's stream time after the batch: its stored time, raised
    /// by the timestamp of every keyed record routed to it.
    pub stream_time: i64,
}

/// A window result to emit, attributed to the routed record (or, for
/// closing, the stage input) that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct Emission {
    /// The record key.
    pub key: Vec<u8>,
    /// The window.
    pub window: Bounds,
    /// The aggregate; `None` for a session absorbed by a bigger one.
    pub value: Option<Vec<u8>>,
    /// Latest record time in the window (a session's end).
    pub timestamp: i64,
    /// The routed record that caused it, if one did (else: closing).
    pub routed: Option<usize>,
    /// Its place among the updates of the same record (sliding windows;
    /// 0 for the other kinds, whose updates come in group order).
    pub order: u32,
}

const WINDOW: u8 = b'W';
const INDEX: u8 = b'T';
const META: &[u8] = b"M";

/// An i64 as 8 bytes whose byte order is numeric order.
pub(super) fn ord(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The i64 [`ord`] encoded.
pub(super) fn unord(b: &[u8]) -> i64 {
    (u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) ^ (1 << 63)) as i64
}

fn window_prefix(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(5 + key.len() + 16);
    k.push(WINDOW);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn window_key(key: &[u8], w: Bounds) -> Vec<u8> {
    let mut k = window_prefix(key);
    k.extend_from_slice(&ord(w.start));
    k.extend_from_slice(&ord(w.end));
    k
}

fn index_key(closes_at: i64, key: &[u8], w: Bounds) -> Vec<u8> {
    let mut k = vec![INDEX];
    k.extend_from_slice(&ord(closes_at));
    k.extend_from_slice(&window_key(key, w)[1..]);
    k
}

/// (key, window) from an index key.
fn parse_index(k: &[u8]) -> (Vec<u8>, Bounds) {
    let len = u32::from_be_bytes(k[9..13].try_into().expect("4 bytes")) as usize;
    let key = k[13..13 + len].to_vec();
    let rest = &k[13 + len..];
    (
        key,
        Bounds {
            start: unord(&rest[..8]),
            end: unord(&rest[8..16]),
        },
    )
}

fn value(latest: i64, aggregate: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + aggregate.len());
    v.extend_from_slice(&ord(latest));
    v.extend_from_slice(aggregate);
    v
}

fn unvalue(v: &[u8]) -> (Vec<u8>, i64) {
    (v[8..].to_vec(), unord(&v[..8]))
}

/// The key range holding `key`'s windows that start within `[from, to]`
/// (start inclusive, end exclusive), for interactive queries.
pub(super) fn fetch_range(key: &[u8], from: i64, to: i64) -> (Vec<u8>, Vec<u8>) {
    let mut start = window_prefix(key);
    let mut end = start.clone();
    start.extend_from_slice(&ord(from));
    // Past every window starting at `to`, whatever its end.
    end.extend_from_slice(&ord(to));
    end.extend_from_slice(&[0xff; 8]);
    end.push(0);
    (start, end)
}

/// The window and aggregate of a stored entry of `key`, if `(k, v)` is one.
pub(super) fn stored_window(key: &[u8], k: &[u8], v: &[u8]) -> Option<(Bounds, Vec<u8>)> {
    let prefix = window_prefix(key);
    let rest = k.strip_prefix(prefix.as_slice()).filter(|rest| rest.len() == 16)?;
    (v.len() >= 8).then(|| {
        (
            Bounds {
                start: unord(&rest[..8]),
                end: unord(&rest[8..]),
            },
            unvalue(v).0,
        )
    })
}

/// (stream time, closed through) of a store; `i64::MIN` before any record.
pub fn meta(view: &mut HostView<'_>, store: &str) -> Result<(i64, i64), AccessError> {
    Ok(match view.get(store, META)? {
        Some(m) if m.len() == 16 => (unord(&m[..8]), unord(&m[8..])),
        _ => (i64::MIN, i64::MIN),
    })
}

/// Assigns `routed` records (in processing order) to windows of `spec`.
/// Each keyed record first raises the store's stream time to its own
/// timestamp, then is judged late or not against it (Kafka Streams'
/// order); a keyless record is set aside before it can move the time.
pub fn plan(view: &mut HostView<'_>, spec: &WindowSpec, routed: &[Routed]) -> Result<Plan, AccessError> {
    let (stored_time, _) = meta(view, &spec.name)?;
    let mut plan = Plan {
        stream_time: stored_time,
        ..Plan::default()
    };
    let mut by_window: HashMap<(Vec<u8>, Bounds), usize> = HashMap::new();
    let mut slider = match spec.kind {
        WindowKind::Sliding { time_difference } => Some(sliding::Slider::new(spec, time_difference)),
        _ => None,
    };
    // Sessions known per key: (window, Some(group) or the stored aggregate).
    let mut sessions: HashMap<Vec<u8>, Vec<(Bounds, Slot)>> = HashMap::new();
    for (i, r) in routed.iter().enumerate() {
        let Some(key) = &r.record.key else {
            plan.keyless.push(i);
            continue;
        };
        let key = &key.to_vec();
        let ts = r.record.timestamp;
        let now = plan.stream_time.max(ts);
        plan.stream_time = now;
        if let Some(slider) = &mut slider {
            slider.record(view, &mut plan, routed, i, key, now)?;
            continue;
        }
        match spec.kind {
            WindowKind::Session { .. } => {
                if !sessions.contains_key(key) {
                    let stored = stored_sessions(view, &spec.name, key)?;
                    sessions.insert(key.clone(), stored);
                }
                let known = sessions.get_mut(key).expect("loaded above");
                let (found, kept): (Vec<_>, Vec<_>) =
                    known.drain(..).partition(|(w, _)| spec.kind.session_takes(*w, ts));
                *known = kept;
                let merged = found.iter().fold(Bounds { start: ts, end: ts }, |m, (w, _)| Bounds {
                    start: m.start.min(w.start),
                    end: m.end.max(w.end),
                });
                if now >= spec.kind.closes_at(merged, spec.grace) {
                    known.extend(found);
                    plan.late.push((i, now));
                    continue;
                }
                let mut group = Group {
                    key: key.clone(),
                    window: merged,
                    current: None,
                    merged: Vec::new(),
                    records: Vec::new(),
                    seeded: 0,
                    absorbed: false,
                    stored: false,
                    copied_by: None,
                    order: Vec::new(),
                };
                for (w, slot) in found {
                    match slot {
                        Slot::Stored(aggregate, latest) => group.merged.push((w, aggregate, latest)),
                        Slot::Group(g) => {
                            let old = &mut plan.groups[g];
                            old.absorbed = true;
                            group.merged.append(&mut old.merged);
                            group.records.append(&mut old.records);
                        }
                    }
                }
                group.merged.sort_by_key(|(w, _, _)| *w);
                group.records.push(i);
                group.records.sort_unstable();
                plan.groups.push(group);
                known.push((merged, Slot::Group(plan.groups.len() - 1)));
            }
            _ => {
                let mut open = false;
                for w in spec.kind.windows_for(ts) {
                    if now >= spec.kind.closes_at(w, spec.grace) {
                        continue;
                    }
                    open = true;
                    let g = match by_window.get(&(key.clone(), w)) {
                        Some(&g) => g,
                        None => {
                            let current = view.get(&spec.name, &window_key(key, w))?.map(|v| unvalue(&v));
                            plan.groups.push(Group {
                                key: key.clone(),
                                window: w,
                                stored: current.is_some(),
                                current,
                                merged: Vec::new(),
                                records: Vec::new(),
                                seeded: 0,
                                absorbed: false,
                                copied_by: None,
                                order: Vec::new(),
                            });
                            by_window.insert((key.clone(), w), plan.groups.len() - 1);
                            plan.groups.len() - 1
                        }
                    };
                    plan.groups[g].records.push(i);
                }
                if !open {
                    plan.late.push((i, now));
                }
            }
        }
    }
    Ok(plan)
}

/// Where a known session's aggregate is: stored, or a group of this batch.
enum Slot {
    Stored(Vec<u8>, i64),
    Group(usize),
}

fn stored_sessions(view: &mut HostView<'_>, store: &str, key: &[u8]) -> Result<Vec<(Bounds, Slot)>, AccessError> {
    let start = window_prefix(key);
    let mut end = start.clone();
    end.push(0xff);
    end.extend_from_slice(&[0xff; 16]);
    Ok(view
        .range(store, &start, &end)?
        .into_iter()
        .filter(|(k, _)| k.len() == start.len() + 16)
        .map(|(k, v)| {
            let rest = &k[start.len()..];
            let (aggregate, latest) = unvalue(&v);
            (
                Bounds {
                    start: unord(&rest[..8]),
                    end: unord(&rest[8..16]),
                },
                Slot::Stored(aggregate, latest),
            )
        })
        .collect())
}

/// Stores a folded group: `values` is the plugin's result (one aggregate
/// per record when `running`, else the last; none for a sliding window
/// copied without records, which keeps the copied aggregate). Returns the
/// update-mode emissions (none in final mode).
pub fn apply(
    view: &mut HostView<'_>,
    spec: &WindowSpec,
    group: &Group,
    routed: &[Routed],
    values: &[Vec<u8>],
) -> Result<Vec<Emission>, AccessError> {
    let store = &spec.name;
    let update = spec.emit == Emit::Update;
    let mut emissions = Vec::new();
    for (w, _, latest) in &group.merged {
        view.delete(store, window_key(&group.key, *w))?;
        view.delete(store, index_key(spec.kind.closes_at(*w, spec.grace), &group.key, *w))?;
        if update && *w != group.window {
            emissions.push(Emission {
                key: group.key.clone(),
                window: *w,
                value: None,
                timestamp: (*latest).max(w.end),
                routed: group.records.first().copied(),
                order: 0,
            });
        }
    }
    let session = matches!(spec.kind, WindowKind::Session { .. });
    let mut latest = group
        .current
        .as_ref()
        .map(|(_, t)| *t)
        .into_iter()
        .chain(group.merged.iter().map(|(_, _, t)| *t))
        .max()
        .unwrap_or(i64::MIN);
    // The aggregate after record `n`, or before any record.
    let after = |n: Option<usize>| -> Vec<u8> {
        match n {
            Some(n) if values.len() == group.records.len() => values[n].clone(),
            Some(_) => values.last().expect("one value").clone(),
            None => group.current.as_ref().map(|(v, _)| v.clone()).unwrap_or_default(),
        }
    };
    let result = |value: Vec<u8>, timestamp: i64, routed: usize, order: u32| Emission {
        key: group.key.clone(),
        window: group.window,
        value: Some(value),
        timestamp,
        routed: Some(routed),
        order,
    };
    if let Some((by, order)) = group.copied_by
        && update
        && group.seeded == 0
    {
        emissions.push(result(after(None), latest, by, order));
    }
    for (n, &r) in group.records.iter().enumerate() {
        latest = latest.max(routed[r].record.timestamp);
        if n < group.seeded {
            if let Some((by, order)) = group.copied_by
                && update
                && n + 1 == group.seeded
            {
                emissions.push(result(after(Some(n)), latest, by, order));
            }
            continue;
        }
        if update && (!session || n + 1 == group.records.len()) {
            let order = group.order.get(n - group.seeded).copied().unwrap_or(0);
            let timestamp = if session { group.window.end } else { latest };
            emissions.push(result(after(Some(n)), timestamp, r, order));
        }
    }
    let last = match group.records.len() {
        0 => after(None),
        n => after(Some(n - 1)),
    };
    view.put(store, window_key(&group.key, group.window), value(latest, &last))?;
    if !group.stored {
        view.put(
            store,
            index_key(spec.kind.closes_at(group.window, spec.grace), &group.key, group.window),
            Vec::new(),
        )?;
    }
    Ok(emissions)
}

/// Closes the windows due at the plan's stream time: their final results
/// (final mode, in closing order), then forgets windows past retention
/// (tombstones in the changelog), and records the new stream time when
/// anything closed or `records` moved it (an idle advance that closes
/// nothing writes nothing, so a quiet task does not fill its changelog).
pub fn close(
    view: &mut HostView<'_>,
    spec: &WindowSpec,
    stream_time: i64,
    records: bool,
) -> Result<Vec<Emission>, AccessError> {
    let store = &spec.name;
    let (stored_time, closed_through) = meta(view, store)?;
    let now = stored_time.max(stream_time);
    let mut emissions = Vec::new();
    if now == i64::MIN {
        return Ok(emissions);
    }
    if spec.emit == Emit::Final && now > closed_through {
        let from = [&[INDEX][..], &ord(closed_through.saturating_add(1))].concat();
        let to = [&[INDEX][..], &ord(now.saturating_add(1))].concat();
        for (k, _) in view.range(store, &from, &to)? {
            let (key, window) = parse_index(&k);
            if let Some(v) = view.get(store, &window_key(&key, window))? {
                let (aggregate, latest) = unvalue(&v);
                emissions.push(Emission {
                    key,
                    window,
                    value: Some(aggregate),
                    timestamp: if matches!(spec.kind, WindowKind::Session { .. }) {
                        window.end
                    } else {
                        latest
                    },
                    routed: None,
                    order: 0,
                });
            }
        }
    }
    let expire_through = now.saturating_sub(spec.kept_after_close());
    let to = [&[INDEX][..], &ord(expire_through.saturating_add(1))].concat();
    let mut expired = false;
    for (k, _) in view.range(store, &[INDEX], &to)? {
        let (key, window) = parse_index(&k);
        view.delete(store, window_key(&key, window))?;
        view.delete(store, k)?;
        expired = true;
    }
    let moved = (now, now) != (stored_time, closed_through);
    if moved && (records || expired || !emissions.is_empty()) {
        view.put(store, META.to_vec(), [ord(now), ord(now)].concat())?;
    }
    Ok(emissions)
}

#[cfg(test)]
pub(crate) mod tests;
