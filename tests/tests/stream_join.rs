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

/// Orders `O<i>` at `T0 + i` seconds; every third is paid 2 s later, the
/// others see a payment for a key no order has (`X<i>`), so both topics
/// are in timestamp order and a run processes them merged by time. A
/// last payment an hour after closes every order. Returns (orders,
/// payments, expected results as `key -> value`).
fn workload(
    n: usize,
) -> (
    Vec<(String, String, i64)>,
    Vec<(String, String, i64)>,
    Vec<(String, String)>,
) {
    let (mut orders, mut payments, mut expected) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let t = T0 + i as i64 * 1000;
        orders.push((format!("O{i}"), format!("item{i}"), t));
        if i % 3 == 0 {
            payments.push((format!("O{i}"), format!("pay{i}"), t + 2000));
            expected.push((format!("O{i}"), format!("item{i}|pay{i}")));
        } else {
            payments.push((format!("X{i}"), format!("pay{i}"), t + 2000));
            expected.push((format!("O{i}"), format!("item{i}|null")));
        }
    }
    payments.push(("closer".into(), "closer".into(), T0 + n as i64 * 1000 + 3_600_000));
    (orders, payments, expected)
}

/// High watermarks of `topic` (one partition), transaction markers
/// included: how far a member got without reading.
fn written(bootstrap: &str, topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    consumer
        .fetch_watermarks(topic, 0, std::time::Duration::from_secs(10))
        .map_or(0, |(_, high)| high)
}

/// A member SIGKILLed while it has join results out that its group has not
/// committed (frozen, checked, killed), then a fresh member on the same
/// state directory: under exactly-once every order's result is visible
/// exactly once to read_committed readers, whatever the join's buffers
/// held when the first one died.
#[test]
fn exactly_once_join_results_survive_a_sigkill_exactly_once() {
    use std::process::{Command, Stdio};
    let app = "sj-kill";
    let n = 30_000;
    let (orders, payments, expected) = workload(n);
    let left = format!("{app}-order-payment-left-changelog");
    let right = format!("{app}-order-payment-right-changelog");
    let broker = DevBroker::start_txn(&[
        ("order", 1),
        ("payment", 1),
        ("order_payment", 1),
        ("order.payment.dlq", 1),
        (left.as_str(), 1),
        (right.as_str(), 1),
    ]);
    let as_refs = |rs: &[(String, String, i64)]| -> Vec<(String, String, i64)> { rs.to_vec() };
    for (topic, records) in [("order", as_refs(&orders)), ("payment", as_refs(&payments))] {
        let records: Vec<(&str, Option<&str>, i64)> = records
            .iter()
            .map(|(k, v, t)| (k.as_str(), Some(v.as_str()), *t))
            .collect();
        produce_at(&broker.bootstrap, topic, &records);
    }
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_manifest(dir.path(), "order-payment-join", "plugin.toml");
    let state = dir.path().join("state");
    let log = dir.path().join("victim.log");
    let mut victim = rill_tests::rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &broker.bootstrap, "--application-id", app])
        .args(["--processing-guarantee", "exactly-once", "--max-task-idle", "2s"])
        .args(["--commit-interval", "200ms", "-X", "consumer.session.timeout.ms=6000"])
        // A dead member holds a classic rebalance for its rebalance
        // timeout (max.poll.interval.ms, 5 minutes by default).
        .args(["-X", "consumer.max.poll.interval.ms=10000"])
        .arg("--state-dir")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = victim.id().to_string();
    let signal = |sig: &str| Command::new("kill").args([sig, &pid]).status().unwrap().success();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "never caught mid-work:\n{text}");
        assert!(signal("-STOP"), "the victim exited early:\n{text}");
        let done = rill_tests::committed(&broker.bootstrap, app, "order");
        if written(&broker.bootstrap, "order_payment") > 0 && done < n as i64 {
            victim.kill().unwrap();
            victim.wait().unwrap();
            break;
        }
        assert!(signal("-CONT"));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The survivor: the same state directory, its restore from the
    // changelogs (the victim died without a checkpoint), then the rest.
    let log_path = dir.path().join("survivor.log");
    let mut survivor = rill_tests::rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &broker.bootstrap, "--application-id", app])
        .args(["--processing-guarantee", "exactly-once", "--max-task-idle", "2s"])
        .args(["--stop-when-idle", "3s", "-X", "consumer.session.timeout.ms=6000"])
        .args(["-X", "consumer.max.poll.interval.ms=10000"])
        .arg("--state-dir")
        .arg(&state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let status = loop {
        if let Some(status) = survivor.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = survivor.kill();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            panic!(
                "the survivor did not finish; its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(status.success(), "the survivor failed:\n{log}");
    let text = |b: Option<Vec<u8>>| String::from_utf8(b.unwrap_or_default()).unwrap();
    let joined: Vec<(String, String)> = rill_tests::read_as(&broker.bootstrap, "order_payment", true)
        .into_iter()
        .map(|r| (text(r.key), text(r.value)))
        .collect();
    assert_eq!(
        joined.len(),
        expected.len(),
        "one result per order, exactly once:\n{log}"
    );
    assert_eq!(rill_tests::multiset(joined), rill_tests::multiset(expected), "{log}");
    assert!(rill_tests::read_as(&broker.bootstrap, "order.payment.dlq", true).is_empty());
}
