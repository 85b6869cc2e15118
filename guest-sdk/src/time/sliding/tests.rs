//! Kafka Streams' own cases (`KStreamSlidingWindowAggregateTest`): the
//! same records through the [`TestDriver`], with its string aggregator
//! (`"0"` then `+value` per record), must give the windows, aggregates and
//! timestamps Kafka Streams' test expects.

use super::*;
use crate::testing::TestDriver;
use crate::time::{Emit, WindowKind};
use crate::{Error, Output, Processor, Record, Window, WindowResult};

struct Adder;

impl Processor for Adder {
    type Config = crate::NoConfig;
    fn init(_: Self::Config) -> Result<Self, Error> {
        Ok(Adder)
    }
    fn process(&mut self, r: Record) -> Result<Vec<Output>, Error> {
        Ok(vec![Output::forward(r, "w")])
    }
    fn aggregate(&mut self, _: &Window, current: Option<Vec<u8>>, r: &Record) -> Result<Vec<u8>, Error> {
        let mut text = current.unwrap_or_else(|| b"0".to_vec());
        text.push(b'+');
        text.extend_from_slice(r.value.as_deref().unwrap_or_default());
        Ok(text)
    }
    fn emit(&mut self, r: WindowResult) -> Result<Vec<Output>, Error> {
        let value = format!(
            "{}:{}:{}",
            r.window.start,
            r.window.end,
            String::from_utf8(r.value.unwrap_or_default()).unwrap()
        );
        let mut out = Output::new("out", Some(r.window.key), Some(value.into_bytes()));
        out.timestamp = Some(r.timestamp);
        Ok(vec![out])
    }
}

/// (key, "start:end:aggregate", timestamp) of every result, in order.
fn run(grace: i64, emit: Emit, records: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    let mut driver = TestDriver::<Adder>::new("{}").unwrap().with_window(
        "w",
        WindowKind::Sliding { time_difference: 10 },
        grace,
        emit,
    );
    let mut results = Vec::new();
    for (key, value, ts) in records {
        for o in driver.process_at(key.as_bytes(), value.as_bytes(), *ts).unwrap() {
            results.push((
                String::from_utf8(o.key.unwrap()).unwrap(),
                String::from_utf8(o.value.unwrap()).unwrap(),
                o.timestamp.unwrap(),
            ));
        }
    }
    results
}

fn sorted(mut v: Vec<(String, String, i64)>) -> Vec<(String, String, i64)> {
    v.sort();
    v
}

fn expect(rows: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    sorted(
        rows.iter()
            .map(|(k, v, t)| (k.to_string(), v.to_string(), *t))
            .collect(),
    )
}

const SMALL: [(&str, &str, i64); 7] = [
    ("A", "1", 10),
    ("A", "2", 10),
    ("A", "3", 14),
    ("A", "4", 15),
    ("A", "5", 20),
    ("A", "6", 22),
    ("A", "7", 30),
];

#[test]
fn small_input_updates_every_window_a_record_falls_in() {
    let expected = expect(&[
        ("A", "0:10:0+1", 10),
        ("A", "0:10:0+1+2", 10),
        ("A", "4:14:0+1+2+3", 14),
        ("A", "5:15:0+1+2+3+4", 15),
        ("A", "10:20:0+1+2+3+4+5", 20),
        ("A", "11:21:0+3", 14),
        ("A", "11:21:0+3+4", 15),
        ("A", "11:21:0+3+4+5", 20),
        ("A", "12:22:0+3+4+5+6", 22),
        ("A", "15:25:0+4", 15),
        ("A", "15:25:0+4+5", 20),
        ("A", "15:25:0+4+5+6", 22),
        ("A", "16:26:0+5", 20),
        ("A", "16:26:0+5+6", 22),
        ("A", "20:30:0+5+6+7", 30),
        ("A", "21:31:0+6", 22),
        ("A", "21:31:0+6+7", 30),
        ("A", "23:33:0+7", 30),
    ]);
    assert_eq!(sorted(run(5, Emit::Update, &SMALL)), expected);
}

#[test]
fn small_input_final_results_are_the_windows_closed_by_the_last_record() {
    // Stream time 30, grace 5: windows ending before 25 are closed.
    let expected = expect(&[
        ("A", "0:10:0+1+2", 10),
        ("A", "4:14:0+1+2+3", 14),
        ("A", "5:15:0+1+2+3+4", 15),
        ("A", "10:20:0+1+2+3+4+5", 20),
        ("A", "11:21:0+3+4+5", 20),
        ("A", "12:22:0+3+4+5+6", 22),
    ]);
    assert_eq!(sorted(run(5, Emit::Final, &SMALL)), expected);
}

#[test]
fn out_of_order_records_update_later_windows_and_create_right_windows() {
    // KStreamSlidingWindowAggregateTest.testAggregateLargeInput, key A,
    // grace 50 (nothing closes): A@15 arrives after A@20 and A@22.
    let records = [("A", "1", 10), ("A", "2", 20), ("A", "3", 22), ("A", "4", 15)];
    let got = run(50, Emit::Update, &records);
    assert_eq!(
        sorted(got.clone()),
        expect(&[
            ("A", "0:10:0+1", 10),
            ("A", "5:15:0+1+4", 15),
            ("A", "10:20:0+1+2", 20),
            ("A", "10:20:0+1+2+4", 20),
            ("A", "11:21:0+2", 20),
            ("A", "11:21:0+2+4", 20),
            ("A", "12:22:0+2+3", 22),
            ("A", "12:22:0+2+3+4", 22),
            ("A", "16:26:0+2+3", 22),
            ("A", "21:31:0+3", 22),
        ])
    );
    // The late-arriving A@15 updates the windows it falls in latest first
    // (processReverse), then creates its left window and copies its right
    // window from the latest window holding later records.
    let last: Vec<&str> = got[got.len() - 5..].iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(
        last,
        [
            "12:22:0+2+3+4",
            "11:21:0+2+4",
            "10:20:0+1+2+4",
            "5:15:0+1+4",
            "16:26:0+2+3"
        ]
    );
}

#[test]
fn a_record_whose_left_window_closed_still_updates_the_open_ones() {
    // testAggregateLargeInput, key B, emit final with grace 10: B@14 comes
    // at stream time 25 (close time 15), so [4,14] is never created, but
    // [8,18] takes it. C@29 moves stream time on, as Kafka Streams' later
    // keys do, so [8,18] closes (29 > 18 + 10).
    let records = [
        ("B", "1", 12),
        ("B", "2", 13),
        ("B", "3", 18),
        ("B", "4", 19),
        ("B", "5", 25),
        ("B", "6", 14),
        ("C", "1", 29),
    ];
    let got = run(10, Emit::Final, &records);
    assert_eq!(
        sorted(got),
        expect(&[
            ("B", "2:12:0+1", 12),
            ("B", "3:13:0+1+2", 13),
            ("B", "8:18:0+1+2+3+6", 18)
        ])
    );
}

#[test]
fn late_records_are_dropped_when_even_their_right_window_closed() {
    let mut driver = TestDriver::<Adder>::new("{}").unwrap().with_window(
        "w",
        WindowKind::Sliding { time_difference: 10 },
        5,
        Emit::Update,
    );
    driver.process_at(b"A", b"1", 100).unwrap();
    // 84 + 1 + 10 = 95 <= 100 - 5: late.
    assert!(driver.process_at(b"A", b"2", 84).unwrap().is_empty());
    assert_eq!(driver.late_records(), 1);
    // 92 + 1 + 10 > 95: not late. Its left window [82,92] is closed (92 <
    // 95) and skipped; [90,100] takes it; its right window [93,103] is a
    // copy of [90,100] as it was.
    let out = driver.process_at(b"A", b"3", 92).unwrap();
    assert_eq!(driver.late_records(), 1);
    let values: Vec<String> = out
        .into_iter()
        .map(|o| String::from_utf8(o.value.unwrap()).unwrap())
        .collect();
    assert_eq!(values, ["90:100:0+1+3", "93:103:0+1"]);
}

#[test]
fn early_records_share_the_window_from_zero() {
    // processEarly: records before one time difference all fall in [0,10].
    let records = [("A", "1", 3), ("A", "2", 8), ("A", "3", 5)];
    let got = run(100, Emit::Update, &records);
    let want: Vec<(String, String, i64)> = [
        ("0:10:0+1", 3),
        // A@8: the right window of A@3, then [0,10].
        ("4:14:0+2", 8),
        ("0:10:0+1+2", 8),
        // A@5: [4,14] takes it; its right window copies [4,14] as it was.
        ("4:14:0+2+3", 8),
        ("6:16:0+2", 8),
        ("0:10:0+1+2+3", 8),
    ]
    .iter()
    .map(|(v, t)| ("A".to_string(), v.to_string(), *t))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn lookups_cover_two_time_differences_back_and_the_right_window() {
    assert_eq!(lookup(10, 35), (15, 36));
    assert_eq!(lookup(10, 5), (0, 6));
    assert!(is_late(10, 5, 100, 84));
    assert!(!is_late(10, 5, 100, 85));
    assert!(is_late(10, 0, 0, -1));
}
