//! The store-backed buffers against `rill_sdk`'s in-memory ones: the same
//! records through `Join::step` must give the same results whether the
//! buffers live in maps or in RocksDB, in batches of any size, and across
//! a reopen of the store between batches (stream time reloaded from `M`).

use super::*;
use crate::manifest::JoinKeyless;
use crate::state::store::TaskStore;
use proptest::prelude::*;
use rill_sdk::time::join::{Input, Join, JoinKind, JoinWindow, Joined, MemoryBuffers};

fn spec(window: JoinWindow) -> JoinSpec {
    JoinSpec {
        name: "j".into(),
        left: "l".into(),
        right: "r".into(),
        window,
        output: "out".into(),
        keyless: JoinKeyless::Emit,
        stores: ["j-left".into(), "j-right".into()],
    }
}

/// A record: side, key (0-3), value, timestamp.
type Rec = (Side, u8, u16, i64);

/// Runs `records` in `batches` (sizes, cycled) through store buffers,
/// reopening the store after a batch when `reopen` says so.
fn through_store(
    window: JoinWindow,
    records: &[Rec],
    batches: &[usize],
    reopen: &[bool],
) -> (Vec<Joined>, Option<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(window);
    let open = || {
        let mut store = TaskStore::open(dir.path(), &spec.stores, &[], None).unwrap();
        for s in &spec.stores {
            store.hide(s);
        }
        store
    };
    let mut store = open();
    let mut out = Vec::new();
    let mut at = 0;
    let mut offsets = [0u64; 2];
    let mut b = 0;
    let mut time = None;
    while at < records.len() {
        let size = batches[b % batches.len()].max(1);
        let batch = &records[at..(at + size).min(records.len())];
        {
            let mut view = store.host();
            let mut buffers = StoreBuffers::new(&mut view, &spec);
            let stored = buffers.stream_time().unwrap();
            let mut join = Join {
                window,
                stream_time: stored,
            };
            for &record in batch {
                out.extend(step(&mut join, &mut buffers, record, &mut offsets).unwrap());
            }
            if join.stream_time != stored {
                buffers.set_stream_time(join.stream_time.unwrap()).unwrap();
            }
            time = join.stream_time;
        }
        let writes: Vec<_> = store
            .take_writes()
            .into_iter()
            .map(|(s, k, v)| (crate::state::store_cf(&s), k, v))
            .collect();
        store.write_local(writes).unwrap();
        if reopen[b % reopen.len()] {
            drop(store);
            store = open();
        }
        at += batch.len();
        b += 1;
    }
    (out, time)
}

/// One record through `join`, offsets counted per side.
fn step<B: rill_sdk::time::join::Buffers>(
    join: &mut Join,
    buffers: &mut B,
    (side, key, value, timestamp): Rec,
    offsets: &mut [u64; 2],
) -> Result<Vec<Joined>, B::Error> {
    let offset = offsets[side as usize];
    offsets[side as usize] += 1;
    let key = [b'k', key];
    let value = value.to_string();
    let input = Input {
        side,
        key: Some(&key),
        value: Some(value.as_bytes()),
        timestamp,
        offset,
    };
    Ok(join.step(buffers, input)?.results)
}

fn through_memory(window: JoinWindow, records: &[Rec]) -> (Vec<Joined>, Option<i64>) {
    let mut join = Join::new(window);
    let mut buffers = MemoryBuffers::new();
    let mut offsets = [0u64; 2];
    let mut out = Vec::new();
    for &record in records {
        let Ok(results) = step(&mut join, &mut buffers, record, &mut offsets);
        out.extend(results);
    }
    (out, join.stream_time)
}

fn record() -> impl Strategy<Value = Rec> {
    (any::<bool>(), 0u8..4, any::<u16>(), 0i64..400).prop_map(|(left, key, value, ts)| {
        let side = if left { Side::Left } else { Side::Right };
        (side, key, value, ts)
    })
}

fn window() -> impl Strategy<Value = JoinWindow> {
    (0i64..60, 0i64..60, 0i64..20, 0u8..3).prop_map(|(before, after, grace, kind)| JoinWindow {
        before,
        after,
        grace,
        kind: [JoinKind::Inner, JoinKind::Left, JoinKind::Outer][kind as usize],
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn store_buffers_join_as_memory_buffers_do(
        window in window(),
        // Mostly rising timestamps with some disorder, as partitions give.
        mut records in proptest::collection::vec(record(), 1..60),
        batches in proptest::collection::vec(1usize..8, 1..4),
        reopen in proptest::collection::vec(any::<bool>(), 1..4),
    ) {
        let n = records.len() as i64;
        for (i, r) in records.iter_mut().enumerate() {
            r.3 = (i as i64 * 400 / n) + r.3 % 40;
        }
        let expected = through_memory(window, &records);
        let got = through_store(window, &records, &batches, &reopen);
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn a_closed_record_leaves_no_entry_behind() {
    let window = JoinWindow {
        before: 5,
        after: 5,
        grace: 0,
        kind: JoinKind::Outer,
    };
    let records = [(Side::Left, 0, 1, 0), (Side::Right, 0, 2, 3), (Side::Right, 1, 3, 100)];
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(window);
    let mut store = TaskStore::open(dir.path(), &spec.stores, &[], None).unwrap();
    let mut view = store.host();
    let mut buffers = StoreBuffers::new(&mut view, &spec);
    let mut join = Join::new(window);
    for (offset, &(side, key, value, timestamp)) in records.iter().enumerate() {
        let key = [key];
        let value = [value];
        let input = Input {
            side,
            key: Some(&key),
            value: Some(&value),
            timestamp,
            offset: offset as u64,
        };
        join.step(&mut buffers, input).unwrap();
    }
    assert_eq!(
        (buffers.count(Side::Left).unwrap(), buffers.count(Side::Right).unwrap()),
        (0, 1)
    );
    let index = buffers.view.range("j-left", &[INDEX], &[INDEX + 1]).unwrap();
    assert!(index.is_empty(), "the close index forgets what closed");
}
