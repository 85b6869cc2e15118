//! The conformance cases of `docs/design/014-stream-stream-joins.md`, with
//! Kafka Streams' `MockValueJoiner.TOSTRING_JOINER` (`left+right`, a
//! missing side written `null`): each case's records in processing order
//! through [`Join::step`] over [`MemoryBuffers`], and the results the
//! design derives from Kafka Streams' rules and tests.

use super::*;

/// `L` or `R`, key (`None`: keyless), value (`None`: tombstone), timestamp.
type Rec = (Side, Option<&'static str>, Option<&'static str>, i64);

const L: Side = Side::Left;
const R: Side = Side::Right;

fn l(key: &'static str, value: &'static str, ts: i64) -> Rec {
    (L, Some(key), Some(value), ts)
}

fn r(key: &'static str, value: &'static str, ts: i64) -> Rec {
    (R, Some(key), Some(value), ts)
}

fn w(before: i64, after: i64, grace: i64, kind: JoinKind) -> JoinWindow {
    JoinWindow {
        before,
        after,
        grace,
        kind,
    }
}

/// Every result as `(key, "left+right", timestamp)`, with the fate of
/// each record.
fn run(window: JoinWindow, records: &[Rec]) -> (Vec<(String, String, i64)>, Vec<Fate>) {
    feed(&mut Join::new(window), &mut MemoryBuffers::new(), records)
}

/// [`run`] on a join and buffers the caller keeps; offsets count per side.
fn feed(join: &mut Join, buffers: &mut MemoryBuffers, records: &[Rec]) -> (Vec<(String, String, i64)>, Vec<Fate>) {
    let mut offsets = [0u64; 2];
    let mut out = Vec::new();
    let mut fates = Vec::new();
    for &(side, key, value, timestamp) in records {
        let offset = offsets[side as usize];
        offsets[side as usize] += 1;
        let input = Input {
            side,
            key: key.map(str::as_bytes),
            value: value.map(str::as_bytes),
            timestamp,
            offset,
        };
        let Ok(step) = join.step(buffers, input);
        out.extend(step.results.into_iter().map(show));
        fates.push(step.fate);
    }
    (out, fates)
}

fn show(j: Joined) -> (String, String, i64) {
    let text = |v: Option<Vec<u8>>| v.map_or("null".to_string(), |v| String::from_utf8(v).unwrap());
    let key = j.key.map_or("(no key)".to_string(), |k| String::from_utf8(k).unwrap());
    (key, format!("{}+{}", text(j.left), text(j.right)), j.timestamp)
}

fn expect(rows: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    rows.iter()
        .map(|(k, v, t)| (k.to_string(), v.to_string(), *t))
        .collect()
}

#[test]
fn case_1_inner_window_ends_are_inclusive() {
    let (out, _) = run(
        w(100, 100, 0, JoinKind::Inner),
        &[
            r("1", "a1", 899),
            r("0", "a0", 900),
            l("0", "A0", 1000),
            l("1", "A1", 1000),
            r("0", "b0", 1100),
            r("0", "c0", 1101),
        ],
    );
    assert_eq!(out, expect(&[("0", "A0+a0", 1000), ("0", "A0+b0", 1100)]));
}

#[test]
fn case_2_inner_duplicates_join_in_arrival_order() {
    let (out, _) = run(
        w(100, 100, 0, JoinKind::Inner),
        &[l("0", "A0", 0), l("0", "B0", 0), r("0", "a0", 5), l("0", "C0", 6)],
    );
    assert_eq!(out, expect(&[("0", "A0+a0", 5), ("0", "B0+a0", 5), ("0", "C0+a0", 6)]));
}

#[test]
fn case_3_left_null_results_wait_for_the_close() {
    let (out, _) = run(
        w(100, 100, 10, JoinKind::Left),
        &[l("0", "A0", 0), l("1", "A1", 0), r("0", "a0", 101), r("1", "a1", 110)],
    );
    assert_eq!(
        out,
        expect(&[]),
        "A0 and A1 close at 110: nothing before stream time passes it"
    );
    let (out, _) = run(
        w(100, 100, 10, JoinKind::Left),
        &[
            l("0", "A0", 0),
            l("1", "A1", 0),
            r("0", "a0", 101),
            r("1", "a1", 110),
            r("2", "x2", 111),
        ],
    );
    assert_eq!(out, expect(&[("0", "A0+null", 0), ("1", "A1+null", 0)]));
}

#[test]
fn case_4_left_match_at_the_window_edge() {
    let (out, _) = run(
        w(100, 100, 10, JoinKind::Left),
        &[l("0", "A0", 0), r("0", "a0", 100), r("9", "x9", 111)],
    );
    assert_eq!(out, expect(&[("0", "A0+a0", 100)]));
}

#[test]
fn case_5_an_out_of_order_match_within_grace_wins() {
    let (out, fates) = run(
        w(100, 100, 10, JoinKind::Left),
        &[l("0", "A0", 0), r("9", "x9", 105), r("0", "a0", 100), r("9", "y9", 111)],
    );
    assert_eq!(out, expect(&[("0", "A0+a0", 100)]));
    assert_eq!(fates[2], Fate::Buffered, "a0 is out of order but not late");
}

#[test]
fn case_6_an_unmatched_out_of_order_record_waits_for_its_close() {
    let (out, _) = run(
        w(100, 100, 10, JoinKind::Left),
        &[
            r("9", "x9", 205),
            l("0", "A0", 100),
            r("0", "a0", 198),
            r("9", "y9", 211),
        ],
    );
    assert_eq!(out, expect(&[("0", "A0+a0", 198)]));
}

#[test]
fn case_7_late_records_join_only_what_is_open() {
    let (out, fates) = run(
        w(100, 100, 10, JoinKind::Left),
        &[l("0", "A0", 0), r("9", "x9", 300), r("0", "a0", 50), l("1", "B1", 150)],
    );
    assert_eq!(out, expect(&[("0", "A0+null", 0), ("1", "B1+null", 150)]));
    assert_eq!(fates[2], Fate::Late, "a0 closes at 160 < 300");
    assert_eq!(fates[3], Fate::Late, "B1 closes at 260 < 300");
}

#[test]
fn case_8_left_duplicates() {
    let (out, fates) = run(
        w(100, 100, 10, JoinKind::Left),
        &[
            l("0", "A0", 0),
            l("0", "A0-0", 0),
            r("1", "a0", 111),
            r("2", "dummy", 500),
            l("2", "A2", 1000),
            l("2", "A2-0", 1000),
            r("2", "a2", 1001),
            r("3", "a3", 315),
        ],
    );
    assert_eq!(
        out,
        expect(&[
            ("0", "A0+null", 0),
            ("0", "A0-0+null", 0),
            ("2", "A2+a2", 1001),
            ("2", "A2-0+a2", 1001)
        ])
    );
    assert_eq!(fates[7], Fate::Late);
}

#[test]
fn case_9_outer_duplicates_right_before_left() {
    let (out, _) = run(
        w(100, 100, 10, JoinKind::Outer),
        &[
            l("0", "A0", 0),
            l("0", "A0-0", 0),
            r("1", "11", 0),
            r("1", "12", 0),
            r("1", "10", 111),
            r("3", "100", 211),
            l("2", "A2", 200),
            l("2", "A2-0", 200),
            r("2", "13", 201),
            r("2", "14", 201),
            r("3", "100", 1500),
        ],
    );
    assert_eq!(
        out,
        expect(&[
            ("1", "null+11", 0),
            ("1", "null+12", 0),
            ("0", "A0+null", 0),
            ("0", "A0-0+null", 0),
            ("2", "A2+13", 201),
            ("2", "A2-0+13", 201),
            ("2", "A2+14", 201),
            ("2", "A2-0+14", 201),
            ("1", "null+10", 111),
            ("3", "null+100", 211),
        ])
    );
}

#[test]
fn case_10_outer_asymmetric_window() {
    let (out, _) = run(
        w(5, 20, 0, JoinKind::Outer),
        &[
            l("0", "A0", 29),
            l("1", "A1", 30),
            r("2", "12", 31),
            r("3", "13", 36),
            r("4", "14", 37),
            r("5", "15", 50),
        ],
    );
    assert_eq!(
        out,
        expect(&[
            ("2", "null+12", 31),
            ("0", "A0+null", 29),
            ("3", "null+13", 36),
            ("4", "null+14", 37)
        ])
    );
}

#[test]
fn case_11_no_after_closes_each_left_record_at_its_own_time() {
    let (out, _) = run(
        w(100, 0, 0, JoinKind::Left),
        &[
            l("0", "A0", 1000),
            l("1", "A1", 1001),
            l("2", "A2", 1002),
            l("3", "A3", 1003),
            r("0", "a0", 999),
            r("1", "a1", 999),
            r("2", "a2", 999),
            r("3", "a3", 999),
        ],
    );
    assert_eq!(
        out,
        expect(&[
            ("0", "A0+null", 1000),
            ("1", "A1+null", 1001),
            ("2", "A2+null", 1002),
            ("3", "A3+a3", 1003)
        ])
    );
}

#[test]
fn case_12_keyless_and_null_values() {
    let mut join = Join::new(w(100, 100, 0, JoinKind::Left));
    let mut buffers = MemoryBuffers::new();
    let records = [
        (L, None, Some("K"), 10),
        (R, None, Some("k"), 10),
        (L, Some("0"), None, 10),
    ];
    let (out, fates) = feed(&mut join, &mut buffers, &records);
    assert_eq!(out, expect(&[("(no key)", "K+null", 10)]));
    assert_eq!(fates, [Fate::Keyless, Fate::Keyless, Fate::Dropped]);
    assert_eq!(join.stream_time, None, "none of them moves stream time");
    assert!(buffers.is_empty());

    let (out, _) = run(w(100, 100, 0, JoinKind::Outer), &[(R, None, Some("k"), 10)]);
    assert_eq!(out, expect(&[("(no key)", "null+k", 10)]));
}

#[test]
fn a_replayed_record_overwrites_itself() {
    let mut join = Join::new(w(100, 100, 0, JoinKind::Inner));
    let mut buffers = MemoryBuffers::new();
    let a0 = Input {
        side: L,
        key: Some(b"0"),
        value: Some(b"A0"),
        timestamp: 0,
        offset: 7,
    };
    let Ok(_) = join.step(&mut buffers, a0);
    let Ok(_) = join.step(&mut buffers, a0);
    assert_eq!(buffers.len(L), 1);
    let Ok(step) = join.step(
        &mut buffers,
        Input {
            side: R,
            key: Some(b"0"),
            value: Some(b"a0"),
            timestamp: 1,
            offset: 0,
        },
    );
    assert_eq!(step.results.len(), 1);
}

#[test]
fn advance_closes_what_is_due_and_never_goes_back() {
    let mut join = Join::new(w(5, 5, 1, JoinKind::Left));
    let mut buffers = MemoryBuffers::new();
    let Ok(_) = join.step(
        &mut buffers,
        Input {
            side: L,
            key: Some(b"k"),
            value: Some(b"v"),
            timestamp: 10,
            offset: 0,
        },
    );
    let Ok(none) = join.advance(&mut buffers, 16);
    assert!(none.is_empty(), "closes at 16: still open at 16");
    let Ok(closed) = join.advance(&mut buffers, 17);
    assert_eq!(
        closed.into_iter().map(show).collect::<Vec<_>>(),
        expect(&[("k", "v+null", 10)])
    );
    let Ok(none) = join.advance(&mut buffers, 3);
    assert!(none.is_empty());
    assert_eq!(join.stream_time, Some(17));
    assert!(buffers.is_empty(), "a closed record leaves its buffer");
}

/// The sample `plugins/order-payment-join` (W(5m, 5m, 1m), left): its
/// table in design 014, with `|` for the joiner.
#[test]
fn the_order_payment_sample() {
    let window = w(300_000, 300_000, 60_000, JoinKind::Left);
    let mut join = Join::new(window);
    let mut buffers = MemoryBuffers::new();
    let records = [
        l("o-1", "Galaxy", 0),
        r("o-1", "card", 120_000),
        l("o-2", "iPhone", 180_000),
        l("o-3", "G-Wagon", 240_000),
        r("o-9", "card", 500_000),
        r("o-2", "card", 470_000),
        r("o-3", "cash", 540_000),
        l("o-4", "Bike", 550_000),
        r("o-4", "card", 850_001),
        l("o-5", "Pen", 911_000),
    ];
    let (mut out, _) = feed(&mut join, &mut buffers, &records);
    let Ok(closed) = join.advance(&mut buffers, 1_271_001);
    out.extend(closed.into_iter().map(show));
    assert_eq!(
        out,
        expect(&[
            ("o-1", "Galaxy+card", 120_000),
            ("o-2", "iPhone+card", 470_000),
            ("o-3", "G-Wagon+cash", 540_000),
            ("o-4", "Bike+null", 550_000),
            ("o-5", "Pen+null", 911_000),
        ])
    );
}
