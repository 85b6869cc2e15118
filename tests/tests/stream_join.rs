//! Stream-stream windowed joins end to end: `plugins/order-payment-join`
//! (`order` left-joined with `payment` within 5 minutes either way, grace 1
//! minute) on the real binary and the embedded broker, in two runs where
//! the second starts from an empty state directory and restores both
//! buffers and the join's stream time from their changelogs; at-least-once
//! and exactly-once. Expected outputs follow Kafka Streams' rules
//! (docs/design/014-stream-stream-joins.md), not rill's output: an order at
//! t matches payments in [t - 5m, t + 5m], both ends inclusive; an order
//! that found none gives `<order>|null` once stream time passes t + 6m, and
//! never before.

use rill_tests::{DevBroker, install_manifest, produce_at, run_until_idle_with};

const MIN: i64 = 60_000;
const T0: i64 = 1_700_000_400_000;

/// (topic, key, value, ms after T0). The first run takes the first eight,
/// the second the rest.
const RECORDS: [(&str, &str, &str, i64); 11] = [
    ("order", "o-1", "Galaxy", 0),
    ("payment", "o-1", "card", 2 * MIN),
    ("order", "o-2", "iPhone", 3 * MIN),
    ("order", "o-3", "G-Wagon", 4 * MIN),
    ("payment", "o-9", "card", 500_000),   // no such order; stream time 500000
    ("payment", "o-2", "card", 470_000),   // 30 s out of order: o-2 open until 540000
    ("payment", "o-3", "cash", 540_000),   // exactly 5 minutes after o-3
    ("order", "o-4", "Bike", 550_000),     // the first run ends with o-4 buffered
    ("payment", "o-4", "card", 850_001),   // 5 minutes + 1 ms after: outside
    ("order", "o-5", "Pen", 911_000),      // closes o-4 (at 910000): Bike|null
    ("payment", "o-0", "card", 1_271_001), // closes o-5 (at 1271000): Pen|null
];

fn run(app: &str, exactly_once: bool) -> (Vec<(String, String)>, usize, String) {
    let left = format!("{app}-order-payment-left-changelog");
    let right = format!("{app}-order-payment-right-changelog");
    let topics = [
        ("order", 1),
        ("payment", 1),
        ("order_payment", 1),
        ("order.payment.dlq", 1),
        (left.as_str(), 1),
        (right.as_str(), 1),
    ];
    let broker = if exactly_once {
        DevBroker::start_txn(&topics)
    } else {
        DevBroker::start(&topics)
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_manifest(dir.path(), "order-payment-join", "plugin.toml");
    let guarantee = if exactly_once { "exactly-once" } else { "at-least-once" };
    // Both topics are loaded before each run: waiting for the empty one
    // lets the task take records in timestamp order across the two, as
    // the expected outputs assume.
    let extra = ["--processing-guarantee", guarantee, "--max-task-idle", "2s"];
    let mut log = String::new();
    for (n, part) in [&RECORDS[..8], &RECORDS[8..]].into_iter().enumerate() {
        for topic in ["order", "payment"] {
            let records: Vec<(&str, Option<&str>, i64)> = part
                .iter()
                .filter(|r| r.0 == topic)
                .map(|(_, k, v, t)| (*k, Some(*v), T0 + t))
                .collect();
            produce_at(&broker.bootstrap, topic, &records);
        }
        let state = dir.path().join(format!("state-{n}"));
        log += &run_until_idle_with(&broker.bootstrap, &[&manifest], app, &state, &extra);
    }
    let read = |topic: &str| rill_tests::read_as(&broker.bootstrap, topic, exactly_once);
    let text = |b: Option<Vec<u8>>| String::from_utf8(b.unwrap_or_default()).unwrap();
    let joined = read("order_payment")
        .into_iter()
        .map(|r| (text(r.key), text(r.value)))
        .collect();
    (joined, read("order.payment.dlq").len(), log)
}

fn expected() -> Vec<(String, String)> {
    [
        ("o-1", "Galaxy|card"),
        ("o-2", "iPhone|card"),
        ("o-3", "G-Wagon|cash"),
        ("o-4", "Bike|null"),
        ("o-5", "Pen|null"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .to_vec()
}

#[test]
fn orders_join_payments_within_the_window_across_a_restore() {
    let (joined, dead, log) = run("sj", false);
    assert_eq!(joined, expected(), "{log}");
    assert_eq!(dead, 0, "{log}");
    assert!(
        rill_tests::restored_records(&log) > 0,
        "the second run restores the buffers:\n{log}"
    );
}

#[test]
fn exactly_once_orders_join_payments_within_the_window_across_a_restore() {
    let (joined, dead, log) = run("sj-eos", true);
    assert_eq!(joined, expected(), "{log}");
    assert_eq!(dead, 0, "{log}");
}
