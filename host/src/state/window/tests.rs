//! Windowed counts checked against Kafka Streams' documented rules, with
//! the expected outputs written from those rules (not from rill).

use super::*;
use crate::manifest::{Late, WindowSpec};
use crate::state::store::TaskStore;

fn spec(kind: WindowKind, grace: i64, emit: Emit) -> WindowSpec {
    WindowSpec {
        name: "w".into(),
        kind,
        grace,
        retention: kind.min_retention(grace),
        emit,
        output: "out".into(),
        late: Late::Drop,
        keyless: crate::manifest::Keyless::DeadLetter,
        aggregate: crate::manifest::WindowAggregate::Count,
    }
}

/// A count per window, driven as the task drives it: records one at a
/// time (each its own batch) or all in one batch.
struct Counter {
    _dir: tempfile::TempDir,
    store: TaskStore,
    spec: WindowSpec,
    late: usize,
    keyless: usize,
}

impl Counter {
    fn new(spec: WindowSpec) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TaskStore::open(dir.path(), &["w".into()], &[], None).unwrap();
        store.hide("w");
        Counter {
            _dir: dir,
            store,
            spec,
            late: 0,
            keyless: 0,
        }
    }

    /// One batch of (key, timestamp) records (key `""`: no key); returns
    /// (key, start, end, count or None) per emission in order.
    fn batch(&mut self, records: &[(&str, i64)]) -> Vec<(String, i64, i64, Option<u64>)> {
        let routed: Vec<Routed> = records
            .iter()
            .enumerate()
            .map(|(i, (k, ts))| Routed {
                record: InputRecord {
                    topic: "in".into(),
                    partition: 0,
                    offset: i as i64,
                    timestamp: *ts,
                    key: (!k.is_empty()).then(|| k.as_bytes().to_vec().into()),
                    value: Some(b"v".to_vec().into()),
                    headers: vec![],
                },
                input: i,
            })
            .collect();
        let mut view = self.store.host();
        let plan = plan(&mut view, &self.spec, &routed).unwrap();
        self.late += plan.late.len();
        self.keyless += plan.keyless.len();
        let mut emissions = Vec::new();
        for group in plan.groups.iter().filter(|g| g.is_live()) {
            let current = group.current.as_ref().map(|(v, _)| v.as_slice());
            let merged = group.merged.iter().map(|(_, v, _)| v.as_slice());
            let values = counts(current, merged, group.records.len(), true).unwrap();
            emissions.extend(apply(&mut view, &self.spec, group, &routed, &values).unwrap());
        }
        // Update-mode emissions in record order, as Kafka Streams forwards them.
        emissions.sort_by_key(|e| (e.routed, e.order));
        emissions.extend(close(&mut view, &self.spec, plan.stream_time, true).unwrap());
        let writes: Vec<_> = self
            .store
            .take_writes()
            .into_iter()
            .map(|(s, k, v)| (crate::state::store_cf(&s), k, v))
            .collect();
        self.store.db.write(&writes).unwrap();
        emissions
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8(e.key).unwrap(),
                    e.window.start,
                    e.window.end,
                    e.value.map(|v| std::str::from_utf8(&v).unwrap().parse().unwrap()),
                )
            })
            .collect()
    }

    fn each(&mut self, records: &[(&str, i64)]) -> Vec<(String, i64, i64, Option<u64>)> {
        records.iter().flat_map(|r| self.batch(&[*r])).collect()
    }

    fn stored_windows(&self) -> usize {
        self.store
            .db
            .range(&crate::state::store_cf("w"), Some(b"W"), Some(b"X"), usize::MAX)
            .unwrap()
            .len()
    }
}

fn e(key: &str, start: i64, end: i64, count: Option<u64>) -> (String, i64, i64, Option<u64>) {
    (key.into(), start, end, count)
}

#[test]
fn tumbling_final_results_come_once_when_stream_time_passes_end_plus_grace() {
    // size 10, grace 2: [0,10) is open while end > streamTime - grace.
    let input = [
        ("a", 1),
        ("a", 5),
        ("b", 9),
        ("a", 11),
        ("b", 8),
        ("a", 12),
        ("a", 3),
        ("b", 25),
    ];
    let expected = vec![
        // At 12, [0,10) closes: a counted 1, 5; b counted 9 and 8 (8 came at stream time 11 < 12).
        e("a", 0, 10, Some(2)),
        e("b", 0, 10, Some(2)),
        // 3 arrives after the close: late. At 25, [10,20) closes.
        e("a", 10, 20, Some(2)),
    ];
    let mut one_by_one = Counter::new(spec(WindowKind::Tumbling { size: 10 }, 2, Emit::Final));
    assert_eq!(one_by_one.each(&input), expected);
    assert_eq!(one_by_one.late, 1);
    // The same records in one batch give the same results.
    let mut batched = Counter::new(spec(WindowKind::Tumbling { size: 10 }, 2, Emit::Final));
    assert_eq!(batched.batch(&input), expected);
    assert_eq!(batched.late, 1);
    // Retention = size + grace: closed windows are gone from the store.
    assert_eq!(one_by_one.stored_windows(), 1, "only [20,30) of b is left");
}

#[test]
fn hopping_updates_every_window_a_record_falls_in() {
    // size 10, advance 5, no grace, every update (no caching).
    let mut c = Counter::new(spec(WindowKind::Hopping { size: 10, advance: 5 }, 0, Emit::Update));
    assert_eq!(c.each(&[("a", 3)]), vec![e("a", 0, 10, Some(1))]);
    assert_eq!(
        c.each(&[("a", 7)]),
        vec![e("a", 0, 10, Some(2)), e("a", 5, 15, Some(1))]
    );
    assert_eq!(
        c.each(&[("a", 12)]),
        vec![e("a", 5, 15, Some(2)), e("a", 10, 20, Some(1))]
    );
    // Stream time 12 closed [0,10): a record at 6 only counts in [5,15).
    assert_eq!(c.each(&[("a", 6)]), vec![e("a", 5, 15, Some(3))]);
    let mut batched = Counter::new(spec(WindowKind::Hopping { size: 10, advance: 5 }, 0, Emit::Update));
    assert_eq!(
        batched.batch(&[("a", 3), ("a", 7), ("a", 12), ("a", 6)]),
        vec![
            e("a", 0, 10, Some(1)),
            e("a", 0, 10, Some(2)),
            e("a", 5, 15, Some(1)),
            e("a", 5, 15, Some(2)),
            e("a", 10, 20, Some(1)),
            e("a", 5, 15, Some(3)),
        ]
    );
}

#[test]
fn sessions_merge_when_a_record_bridges_them() {
    // gap 5, grace 10, every update: Kafka Streams forwards a tombstone for
    // each merged-away session and the merged one.
    let mut c = Counter::new(spec(WindowKind::Session { gap: 5 }, 10, Emit::Update));
    assert_eq!(c.each(&[("a", 0)]), vec![e("a", 0, 0, Some(1))]);
    assert_eq!(c.each(&[("a", 3)]), vec![e("a", 0, 0, None), e("a", 0, 3, Some(2))]);
    assert_eq!(c.each(&[("a", 20)]), vec![e("a", 20, 20, Some(1))]);
    // 3 + 5 < 10 < 20 - 5: a session of its own, still open (10 >= 20 - 10 - 5).
    assert_eq!(c.each(&[("a", 10)]), vec![e("a", 10, 10, Some(1))]);
    // 15 is within 5 of both [10,10] and [20,20]: they merge into [10,20].
    // (14 would not be: findSessions(ts - gap, ts + gap) needs start <= 19.)
    assert_eq!(
        c.each(&[("a", 15)]),
        vec![e("a", 10, 10, None), e("a", 20, 20, None), e("a", 10, 20, Some(3))]
    );
    // 1 is late: its session [0,3] closed once 3 < stream time - grace - gap (at 19).
    assert_eq!(c.each(&[("a", 1)]), vec![]);
    assert_eq!(c.late, 1);
}

#[test]
fn session_final_results_and_batches_agree() {
    let input = [("a", 0), ("a", 3), ("b", 4), ("a", 20), ("a", 10), ("a", 15), ("b", 40)];
    // gap 5, grace 10: a session closes once its end < stream time - 15.
    let expected = vec![
        // At 20, a's [0,3] (closes at 19) and b's [4,4] (at 20) close, in that order.
        e("a", 0, 3, Some(2)),
        e("b", 4, 4, Some(1)),
        // At 40, a's merged [10,20] closes (at 36).
        e("a", 10, 20, Some(3)),
    ];
    let mut c = Counter::new(spec(WindowKind::Session { gap: 5 }, 10, Emit::Final));
    assert_eq!(c.each(&input), expected);
    let mut batched = Counter::new(spec(WindowKind::Session { gap: 5 }, 10, Emit::Final));
    assert_eq!(batched.batch(&input), expected);
}

mod sliding;

#[test]
fn retention_longer_than_the_window_keeps_closed_windows_until_it_passes() {
    let mut s = spec(WindowKind::Tumbling { size: 10 }, 0, Emit::Final);
    s.retention = 30;
    let mut c = Counter::new(s);
    c.each(&[("a", 1), ("a", 15)]);
    assert_eq!(c.stored_windows(), 2, "[0,10) closed at 10 but is kept until 30");
    c.each(&[("a", 29)]);
    assert_eq!(c.stored_windows(), 3);
    c.each(&[("a", 30)]);
    assert_eq!(c.stored_windows(), 3, "[0,10) dropped at 30, [30,40) added");
}

/// A keyless record with a far-future timestamp is set aside before it can
/// move the store's stream time (Kafka Streams returns before touching
/// `observedStreamTime` for a null key): every window stays open and every
/// later on-time record counts, in one batch or one record at a time.
#[test]
fn a_keyless_far_future_record_moves_no_window_time() {
    const MIN: i64 = 60_000;
    let far = 100 * MIN;
    for one_at_a_time in [false, true] {
        for kind in [
            WindowKind::Tumbling { size: 10 * MIN },
            WindowKind::Hopping {
                size: 10 * MIN,
                advance: 5 * MIN,
            },
            WindowKind::Session { gap: 5 * MIN },
            WindowKind::Sliding {
                time_difference: 10 * MIN,
            },
        ] {
            for emit in [Emit::Final, Emit::Update] {
                let mut c = Counter::new(spec(kind, MIN, emit));
                let input = [("a", MIN), ("", far), ("a", 2 * MIN), ("a", 3 * MIN)];
                let out = if one_at_a_time { c.each(&input) } else { c.batch(&input) };
                let label = format!("{kind:?} {emit:?} one at a time: {one_at_a_time}");
                assert_eq!((c.late, c.keyless), (0, 1), "{label}");
                let (mut meta_view, name) = (c.store.host(), c.spec.name.clone());
                assert_eq!(
                    meta(&mut meta_view, &name).unwrap().0,
                    3 * MIN,
                    "{label}: the store's own time"
                );
                drop(meta_view);
                match emit {
                    // Nothing closed: the keyless record's time never counted.
                    Emit::Final => assert!(out.is_empty(), "{label}: {out:?}"),
                    Emit::Update => assert!(out.iter().any(|e| e.3 == Some(3)), "{label}: {out:?}"),
                }
                // The windows close on the store's own time, with all three.
                let closed = c.batch(&[("b", 20 * MIN)]);
                if emit == Emit::Final {
                    assert!(
                        closed.iter().any(|e| e.0 == "a" && e.3 == Some(3)),
                        "{label}: {closed:?}"
                    );
                }
            }
        }
    }
}
