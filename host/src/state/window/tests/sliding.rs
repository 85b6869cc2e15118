//! Sliding windows (KIP-450) counted by the host, checked against Kafka
//! Streams' `KStreamSlidingWindowAggregateTest` (its string aggregates
//! become counts: "0+1+2" is 2) and its rules: windows `[t - 10, t]` and
//! `[t + 1, t + 11]`, both ends inclusive, open while end >= stream time -
//! grace, a record late once `t + 1 + 10 <= stream time - grace`.

use super::*;

fn sliding(grace: i64, emit: Emit) -> WindowSpec {
    spec(WindowKind::Sliding { time_difference: 10 }, grace, emit)
}

fn sorted(mut v: Vec<(String, i64, i64, Option<u64>)>) -> Vec<(String, i64, i64, Option<u64>)> {
    v.sort();
    v
}

const SMALL: [(&str, i64); 7] = [
    ("A", 10),
    ("A", 10),
    ("A", 14),
    ("A", 15),
    ("A", 20),
    ("A", 22),
    ("A", 30),
];

#[test]
fn every_window_a_record_falls_in_is_updated_in_batches_as_one_by_one() {
    let expected = sorted(vec![
        e("A", 0, 10, Some(1)),
        e("A", 0, 10, Some(2)),
        e("A", 4, 14, Some(3)),
        e("A", 5, 15, Some(4)),
        e("A", 10, 20, Some(5)),
        e("A", 11, 21, Some(1)),
        e("A", 11, 21, Some(2)),
        e("A", 11, 21, Some(3)),
        e("A", 12, 22, Some(4)),
        e("A", 15, 25, Some(1)),
        e("A", 15, 25, Some(2)),
        e("A", 15, 25, Some(3)),
        e("A", 16, 26, Some(1)),
        e("A", 16, 26, Some(2)),
        e("A", 20, 30, Some(3)),
        e("A", 21, 31, Some(1)),
        e("A", 21, 31, Some(2)),
        e("A", 23, 33, Some(1)),
    ]);
    let mut one_by_one = Counter::new(sliding(5, Emit::Update));
    let each = one_by_one.each(&SMALL);
    assert_eq!(sorted(each.clone()), expected);
    // One batch: windows created from windows the same batch updated
    // start from what those held at that record, and the updates come in
    // the same order.
    let mut batched = Counter::new(sliding(5, Emit::Update));
    assert_eq!(batched.batch(&SMALL), each);
}

#[test]
fn final_results_are_the_windows_closed_once_end_is_before_stream_time_minus_grace() {
    // At 30 with grace 5, windows ending before 25 are closed; [15,25] is not.
    let expected = vec![
        e("A", 0, 10, Some(2)),
        e("A", 4, 14, Some(3)),
        e("A", 5, 15, Some(4)),
        e("A", 10, 20, Some(5)),
        e("A", 11, 21, Some(3)),
        e("A", 12, 22, Some(4)),
    ];
    let mut one_by_one = Counter::new(sliding(5, Emit::Final));
    assert_eq!(one_by_one.each(&SMALL), expected);
    let mut batched = Counter::new(sliding(5, Emit::Final));
    assert_eq!(batched.batch(&SMALL), expected);
    // [15,25] closes one ms later (25 < 31 - 5).
    assert_eq!(one_by_one.each(&[("B", 31)]), vec![e("A", 15, 25, Some(3))]);
}

#[test]
fn an_out_of_order_record_updates_later_windows_latest_first_and_copies_its_right_window() {
    // testAggregateLargeInput, key A, grace 50: A@15 after A@20 and A@22.
    let input = [("A", 10), ("A", 20), ("A", 22), ("A", 15)];
    let expected = vec![
        e("A", 0, 10, Some(1)),
        // A@20: the right window of A@10, then its own left window.
        e("A", 11, 21, Some(1)),
        e("A", 10, 20, Some(2)),
        // A@22 is in none of them: A@20's right window, then its left
        // window from [11,21] (which holds 20, the record before it).
        e("A", 21, 31, Some(1)),
        e("A", 12, 22, Some(2)),
        // A@15, latest first (processReverse): [12,22], [11,21], [10,20];
        // then its left window from [0,10]; then its right window, a copy
        // of [12,22] as it was before A@15 (20 and 22).
        e("A", 12, 22, Some(3)),
        e("A", 11, 21, Some(2)),
        e("A", 10, 20, Some(3)),
        e("A", 5, 15, Some(2)),
        e("A", 16, 26, Some(2)),
    ];
    let mut one_by_one = Counter::new(sliding(50, Emit::Update));
    assert_eq!(one_by_one.each(&input), expected);
    let mut batched = Counter::new(sliding(50, Emit::Update));
    assert_eq!(batched.batch(&input), expected);
}

#[test]
fn a_record_is_late_only_once_its_right_window_closed() {
    for batch in [false, true] {
        let mut c = Counter::new(sliding(5, Emit::Update));
        // 84 + 1 + 10 <= 100 - 5: late. 92 is not: its left window [82,92]
        // is closed (92 < 95) and skipped, [90,100] takes it, and its right
        // window [93,103] copies [90,100] as it was.
        let input = [("A", 100), ("A", 84), ("A", 92)];
        let out = if batch { c.batch(&input) } else { c.each(&input) };
        assert_eq!(
            out,
            vec![
                e("A", 90, 100, Some(1)),
                e("A", 90, 100, Some(2)),
                e("A", 93, 103, Some(1))
            ]
        );
        assert_eq!(c.late, 1);
    }
}

#[test]
fn a_closed_left_window_is_skipped_but_open_windows_still_count_the_record() {
    // testAggregateLargeInput, key B, emit final, grace 10: B@14 arrives at
    // stream time 25 (close time 15): [4,14] is never made, [8,18] counts it.
    let input = [
        ("B", 12),
        ("B", 13),
        ("B", 18),
        ("B", 19),
        ("B", 25),
        ("B", 14),
        ("C", 29),
    ];
    let expected = vec![e("B", 2, 12, Some(1)), e("B", 3, 13, Some(2)), e("B", 8, 18, Some(4))];
    let mut one_by_one = Counter::new(sliding(10, Emit::Final));
    assert_eq!(sorted(one_by_one.each(&input)), expected);
    let mut batched = Counter::new(sliding(10, Emit::Final));
    assert_eq!(sorted(batched.batch(&input)), expected);
}

#[test]
fn windows_are_kept_for_two_time_differences_plus_grace_after_their_start() {
    let mut c = Counter::new(sliding(0, Emit::Final));
    c.each(&[("A", 10)]);
    assert_eq!(c.stored_windows(), 1);
    // Retention 20 from the start 0: [0,10] is kept while 0 + 20 + 1 >=
    // stream time (a record at 21 - 0 - 1 - 20 = 0 may still need it).
    c.each(&[("B", 20)]);
    c.each(&[("C", 21)]);
    assert_eq!(c.stored_windows(), 3);
    c.each(&[("D", 22)]);
    assert_eq!(c.stored_windows(), 3, "D's [12,22] added, A's [0,10] dropped");
}
