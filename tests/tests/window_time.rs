//! A windowed store's stream time is its own (Kafka Streams'
//! `KStreamWindowAggregate` / `KStreamSessionWindowAggregate` advance their
//! observed stream time only with the records they aggregate): a far-future
//! record that never reaches the window (rejected by the plugin, filtered
//! out, or without a key) closes nothing, so every later on-time record is
//! counted in the window Kafka Streams would count it in. Checked for
//! tumbling, hopping, session and sliding windows (the plugin folding
//! sliding windows made from windows), final results and every update,
//! across a restart that restores the store from its changelog, at-least-once
//! on the selected test broker and exactly-once on crabka-broker.
//!
//! The processor is `plugins/fixture-window-gate`: value `malformed` is
//! rejected, `skip` is filtered out, a keyless record reaches the window.

use rill_tests::{DevBroker, Received, install_plugin, produce_timed, run_until_idle_with};
use std::collections::BTreeMap;

const MIN: i64 = 60_000;
/// A multiple of 10 minutes, so windows start at T0.
const T0: i64 = 1_700_000_400_000;
/// Far in the future of every valid order (minutes after T0).
const FAR: f64 = 500.0;

/// (key, value, minutes after T0), in arrival order. The first run takes
/// the first six, the second (on an empty state directory, so the store and
/// its stream time come back from the changelog) the rest.
const INPUT: [(Option<&str>, &str, f64); 8] = [
    (Some("a"), "order", 1.0),
    (Some("a"), "malformed", FAR), // rejected: dead-lettered, moves nothing
    (Some("a"), "order", 2.0),
    (None, "order", FAR), // keyless: dead-lettered at the window, moves nothing
    (Some("a"), "order", 3.0),
    (Some("a"), "skip", FAR), // filtered out: never reaches the window
    (Some("a"), "order", 4.0),
    (Some("z"), "order", 30.0), // closes a's windows on the store's own time
];

/// A window (key, start, end in minutes after T0) and its count.
type Count = (String, i64, i64, u64);

fn c(key: &str, start: i64, end: i64, count: u64) -> Count {
    (key.to_string(), start, end, count)
}

const TUMBLING: &str = "kind = \"tumbling\"\nsize = \"10m\"\ngrace = \"1m\"";
const HOPPING: &str = "kind = \"hopping\"\nsize = \"10m\"\nadvance = \"5m\"\ngrace = \"1m\"";
const SESSION: &str = "kind = \"session\"\ngap = \"5m\"\ngrace = \"1m\"";
const SLIDING: &str = "kind = \"sliding\"\ntime-difference = \"10m\"\ngrace = \"1m\"";

/// Runs the gate over [`INPUT`] with `window` and `emit`, and returns its
/// results in output order and its dead letters.
fn run(app: &str, window: &str, emit: &str, exactly_once: bool) -> (Vec<Count>, Vec<Received>, String) {
    let topics = [
        ("order", 1),
        ("order_gate_count", 1),
        ("order.gate.dlq", 1),
        (&format!("{app}-counts-changelog") as &str, 1),
    ];
    let broker = if exactly_once {
        DevBroker::start_txn(&topics)
    } else {
        DevBroker::start(&topics)
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "fixture-window-gate");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        &format!("{TUMBLING}\nemit = \"final\""),
        &format!("{window}\nemit = \"{emit}\""),
    );
    std::fs::write(&manifest, text).unwrap();
    let guarantee = if exactly_once { "exactly-once" } else { "at-least-once" };
    let extra = ["--processing-guarantee", guarantee];
    let records: Vec<(Option<&str>, Option<&str>, i64)> = INPUT
        .iter()
        .map(|(k, v, m)| (*k, Some(*v), T0 + (m * MIN as f64) as i64))
        .collect();
    let mut log = String::new();
    for (n, part) in [&records[..6], &records[6..]].into_iter().enumerate() {
        produce_timed(&broker.bootstrap, "order", part);
        // A fresh state directory each run: the second restores the store.
        let state = dir.path().join(format!("state-{n}"));
        log += &run_until_idle_with(&broker.bootstrap, &[&manifest], app, &state, &extra);
    }
    let read = |topic: &str| rill_tests::read_as(&broker.bootstrap, topic, exactly_once);
    let counts = read("order_gate_count")
        .into_iter()
        .filter_map(|r| {
            let value = String::from_utf8(r.value?).unwrap();
            let f: Vec<&str> = value.split(':').collect();
            let minutes = |ms: &str| (ms.parse::<i64>().unwrap() - T0) / MIN;
            Some(c(f[0], minutes(f[1]), minutes(f[2]), f[3].parse().unwrap()))
        })
        .collect();
    (counts, read("order.gate.dlq"), log)
}

/// The last count of each window (key, start) in output order: what an
/// update-mode reader ends up with (a session grows its end as it goes).
fn latest(counts: &[Count]) -> BTreeMap<(String, i64), (i64, u64)> {
    counts.iter().map(|(k, s, e, n)| ((k.clone(), *s), (*e, *n))).collect()
}

fn check(label: &str, window: &str, finals: Vec<Count>, updates: Vec<Count>, exactly_once: bool) {
    for (emit, expected) in [("final", finals), ("update", updates)] {
        let app = format!("{label}-{emit}");
        let (counts, letters, log) = run(&app, window, emit, exactly_once);
        if emit == "final" {
            assert_eq!(
                counts, expected,
                "{app}: every valid order counted once, in its window\n{log}"
            );
        } else {
            assert_eq!(latest(&counts), latest(&expected), "{app}: {counts:?}\n{log}");
        }
        // Exactly the malformed and the keyless order are dead letters:
        // nothing was late (the manifest dead-letters late records).
        let dead: Vec<(&str, &str)> = letters
            .iter()
            .map(|r| {
                (
                    r.headers["rill.source.offset"].as_str(),
                    r.headers["rill.error.kind"].as_str(),
                )
            })
            .collect();
        assert_eq!(dead, [("1", "record-error"), ("3", "record-error")], "{app}\n{log}");
    }
}

/// The Kafka Streams results of [`INPUT`] for a window kind: final
/// results, and the last update of each window in update mode.
fn expected(window: &str) -> (Vec<Count>, Vec<Count>) {
    match window {
        TUMBLING => (vec![c("a", 0, 10, 4)], vec![c("a", 0, 10, 4), c("z", 30, 40, 1)]),
        // Windows of 10 every 5: orders at 1..4 fall in [-5,5) and [0,10).
        HOPPING => (
            vec![c("a", -5, 5, 4), c("a", 0, 10, 4)],
            vec![c("a", -5, 5, 4), c("a", 0, 10, 4), c("z", 25, 35, 1), c("z", 30, 40, 1)],
        ),
        // KIP-450: each order's [t-10, t], and the right window
        // [p+1ms, p+10m+1ms] of each order p followed by one within 10
        // minutes (minutes rounded toward 0: [1m+1ms, 11m+1ms] is (1, 11)).
        // Windows made from windows: [-7,3] starts from [-8,2] (1, 2).
        SLIDING => {
            let finals = vec![
                c("a", -9, 1, 1),
                c("a", -8, 2, 2),
                c("a", -7, 3, 3),
                c("a", -6, 4, 4),
                c("a", 1, 11, 3),
                c("a", 2, 12, 2),
                c("a", 3, 13, 1),
            ];
            let mut updates = finals.clone();
            updates.push(c("z", 20, 30, 1));
            (finals, updates)
        }
        // Orders at 1..4 within a 5 minute gap make one session [1,4].
        _ => (vec![c("a", 1, 4, 4)], vec![c("a", 1, 4, 4), c("z", 30, 30, 1)]),
    }
}

fn case(label: &str, window: &str, exactly_once: bool) {
    let (finals, updates) = expected(window);
    let label = if exactly_once {
        format!("{label}-eos")
    } else {
        label.to_string()
    };
    check(&label, window, finals, updates, exactly_once);
}

#[test]
fn far_future_records_that_never_reach_a_tumbling_window_leave_its_time() {
    case("wt-tumbling", TUMBLING, false);
}

#[test]
fn far_future_records_that_never_reach_a_hopping_window_leave_its_time() {
    case("wt-hopping", HOPPING, false);
}

#[test]
fn far_future_records_that_never_reach_a_session_window_leave_its_time() {
    case("wt-session", SESSION, false);
}

#[test]
fn far_future_records_that_never_reach_a_sliding_window_leave_its_time() {
    case("wt-sliding", SLIDING, false);
}

#[test]
fn exactly_once_sliding_window_time_is_its_own() {
    case("wt-sliding", SLIDING, true);
}

#[test]
fn exactly_once_tumbling_window_time_is_its_own() {
    case("wt-tumbling", TUMBLING, true);
}

#[test]
fn exactly_once_hopping_window_time_is_its_own() {
    case("wt-hopping", HOPPING, true);
}

#[test]
fn exactly_once_session_window_time_is_its_own() {
    case("wt-session", SESSION, true);
}
