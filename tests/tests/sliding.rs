//! Sliding windows (KIP-450) end to end: `plugins/order-sliding-count`
//! (time difference 10 minutes, grace 1 minute) on the real binary and
//! the embedded broker, across a run that restores its store from the
//! changelog, at-least-once and exactly-once. Expected outputs are written
//! from Kafka Streams' rules (`KStreamSlidingWindowAggregate`), not from
//! rill: an order at t has the window [t - 10m, t], and [t + 1, t + 1 + 10m]
//! once a later order falls there; both ends inclusive; a window is open
//! while end >= stream time - grace; an order is late once
//! t + 1 + 10m <= stream time - grace.

use rill_tests::{DevBroker, Received, install_manifest, produce_at, run_until_idle_with};

const MIN: i64 = 60_000;
/// Any time far from the epoch (the windows of an order before 10 minutes
/// after the epoch are Kafka Streams' special case, tested elsewhere).
const T0: i64 = 1_700_000_400_000;

/// (key, ms after T0), in arrival order. The first run takes the first
/// four; the second, on an empty state directory (the windows and the
/// store's stream time come back from the changelog), the rest.
const ORDERS: [(&str, i64); 7] = [
    ("a", 0),
    ("a", 5 * MIN),  // A@0's right window [1ms, 10m+1ms], its own [-5m, 5m]
    ("b", 7 * MIN),  // [-3m, 7m]
    ("a", 12 * MIN), // A@5m's right window [5m+1ms, 15m+1ms], its own [2m, 12m]
    // Out of order at stream time 12m (close time 11m): counted in
    // [2m, 12m] and [5m+1ms, 15m+1ms]; [1ms, 10m+1ms] and its own left
    // window [-2m, 8m] are closed; its right window [8m+1ms, 18m+1ms]
    // copies [5m+1ms, 15m+1ms] as it was (A@12m).
    ("a", 8 * MIN),
    ("a", MIN / 2),  // late: 30s + 1ms + 10m <= 12m - 1m
    ("z", 40 * MIN), // closes every window of a and b
];

/// A window (key, start and end in ms after T0) and its count.
type Count = (String, i64, i64, u64);

fn c(key: &str, start: i64, end: i64, count: u64) -> Count {
    (key.to_string(), start, end, count)
}

/// Runs `manifest_file` of order-sliding-count over [`ORDERS`] in two runs
/// (or one); returns the counts in output order and the dead letters.
fn run(app: &str, manifest_file: &str, two_runs: bool, exactly_once: bool) -> (Vec<Count>, Vec<Received>, String) {
    let topics = [
        ("order", 1),
        ("order_sliding_count", 1),
        ("order.sliding.dlq", 1),
        (&format!("{app}-counts-changelog") as &str, 1),
    ];
    let broker = if exactly_once {
        DevBroker::start_txn(&topics)
    } else {
        DevBroker::start(&topics)
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_manifest(dir.path(), "order-sliding-count", manifest_file);
    // Late orders become dead letters here, so none is lost unseen.
    let text = std::fs::read_to_string(&manifest).unwrap() + "late = \"dead-letter\"\n";
    std::fs::write(&manifest, text).unwrap();
    let guarantee = if exactly_once { "exactly-once" } else { "at-least-once" };
    let extra = ["--processing-guarantee", guarantee];
    let orders: Vec<(&str, Option<&str>, i64)> = ORDERS.iter().map(|(k, t)| (*k, Some("order"), T0 + t)).collect();
    let parts: Vec<&[(&str, Option<&str>, i64)]> = if two_runs {
        vec![&orders[..4], &orders[4..]]
    } else {
        vec![&orders[..]]
    };
    let mut log = String::new();
    for (n, part) in parts.into_iter().enumerate() {
        produce_at(&broker.bootstrap, "order", part);
        // A fresh state directory each run: the second restores the store.
        let state = dir.path().join(format!("state-{n}"));
        log += &run_until_idle_with(&broker.bootstrap, &[&manifest], app, &state, &extra);
    }
    let read = |topic: &str| rill_tests::read_as(&broker.bootstrap, topic, exactly_once);
    let counts = read("order_sliding_count")
        .into_iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.value.unwrap()).unwrap();
            assert_eq!(r.key.as_deref(), Some(v["key"].as_str().unwrap().as_bytes()));
            let (start, end) = (v["start"].as_i64().unwrap() - T0, v["end"].as_i64().unwrap() - T0);
            assert_eq!(
                end - start,
                10 * MIN,
                "both ends inclusive: end = start + time difference"
            );
            c(v["key"].as_str().unwrap(), start, end, v["count"].as_u64().unwrap())
        })
        .collect();
    (counts, read("order.sliding.dlq"), log)
}

/// Exactly the order at 30s is a dead letter, as late.
fn one_late(letters: &[Received], log: &str) {
    let dead: Vec<(&str, &str)> = letters
        .iter()
        .map(|r| {
            (
                r.headers["rill.source.offset"].as_str(),
                r.headers["rill.error.kind"].as_str(),
            )
        })
        .collect();
    assert_eq!(dead, [("5", "late")], "{log}");
}

/// Final results, in closing order (end + grace + 1 ms).
fn finals() -> Vec<Count> {
    vec![
        c("a", -10 * MIN, 0, 1),
        c("a", -5 * MIN, 5 * MIN, 2),
        c("b", -3 * MIN, 7 * MIN, 1),
        c("a", 1, 10 * MIN + 1, 1),
        // The second run: A@8m counted in two of them.
        c("a", 2 * MIN, 12 * MIN, 3),
        c("a", 5 * MIN + 1, 15 * MIN + 1, 2),
        c("a", 8 * MIN + 1, 18 * MIN + 1, 1),
    ]
}

#[test]
fn final_sliding_counts_follow_kafka_streams_across_a_restore() {
    let (counts, letters, log) = run("sl-final", "plugin.toml", true, false);
    assert_eq!(counts, finals(), "{log}");
    one_late(&letters, &log);
}

#[test]
fn exactly_once_final_sliding_counts_follow_kafka_streams_across_a_restore() {
    let (counts, letters, log) = run("sl-final-eos", "plugin.toml", true, true);
    assert_eq!(counts, finals(), "{log}");
    one_late(&letters, &log);
}

#[test]
fn update_mode_emits_every_sliding_window_change_in_kafka_streams_order() {
    let (counts, letters, log) = run("sl-update", "update.toml", false, false);
    assert_eq!(
        counts,
        vec![
            c("a", -10 * MIN, 0, 1),
            // A@5m: the previous order's right window, then its own.
            c("a", 1, 10 * MIN + 1, 1),
            c("a", -5 * MIN, 5 * MIN, 2),
            c("b", -3 * MIN, 7 * MIN, 1),
            // A@12m: likewise.
            c("a", 5 * MIN + 1, 15 * MIN + 1, 1),
            c("a", 2 * MIN, 12 * MIN, 2),
            // A@8m: the open windows it falls in, latest first, then its
            // right window, copied.
            c("a", 5 * MIN + 1, 15 * MIN + 1, 2),
            c("a", 2 * MIN, 12 * MIN, 3),
            c("a", 8 * MIN + 1, 18 * MIN + 1, 1),
            c("z", 30 * MIN, 40 * MIN, 1),
        ],
        "{log}"
    );
    one_late(&letters, &log);
}
