//! Faults from outside the plugin: outputs the brokers refuse (for the
//! record, or for the topic) and every broker going away for a minute.
//! Nothing is lost and nothing healthy is dead-lettered in any of them.

use rill_tests::{DevBroker, install_passthrough, multiset, produce, read_all, rill, wait_exit};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn inputs(from: usize, to: usize) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (from..to)
        .map(|i| (Some(format!("k{i}").into_bytes()), format!("r{i}").into_bytes()))
        .collect()
}

/// `rill run` of the pass-through with its log in a file, stopping once
/// idle for `idle` (or only on a signal).
fn start(broker: &DevBroker, dir: &Path, application: &str, idle: Option<&str>) -> (Child, PathBuf) {
    start_with(broker, dir, application, idle, &[])
}

fn start_with(
    broker: &DevBroker,
    dir: &Path,
    application: &str,
    idle: Option<&str>,
    extra: &[&str],
) -> (Child, PathBuf) {
    let log = dir.join(format!("{application}-{}.log", std::process::id()));
    let mut command = rill();
    command.arg("run").arg(install_passthrough(dir)).args([
        "--brokers",
        &broker.bootstrap,
        "--application-id",
        application,
    ]);
    command.args(extra);
    if let Some(idle) = idle {
        command.args(["--stop-when-idle", idle]);
    }
    let child = command
        .args(["--batch-size", "50"])
        .args(["-X", "consumer.session.timeout.ms=6000", "--state-dir"])
        .arg(dir.join("state"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

fn values(records: &[rill_tests::Received]) -> std::collections::HashMap<Vec<u8>, usize> {
    multiset(records.iter().map(|r| r.value.clone().unwrap()))
}

#[test]
fn outputs_the_brokers_refuse_dead_letter_their_inputs_and_nothing_else() {
    let mut broker = DevBroker::start(&[("in", 3), ("out", 3), ("dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let records = inputs(0, 2000);
    produce(&broker.bootstrap, "in", &records);
    // rill's first Produce request is refused as invalid records: the
    // refusal arrives in the delivery report, after the batch was processed.
    // (Only one: a refused dead letter would rightly stop the task.)
    broker.command("fail-produce invalid-record 1");
    let (mut child, log) = start(&broker, dir.path(), "faults-refused", Some("3s"));
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(status.success(), "{log}");

    let out = read_all(&broker.bootstrap, "out");
    let dlq = read_all(&broker.bootstrap, "dlq");
    assert!(!dlq.is_empty(), "the refused outputs' inputs are dead letters:\n{log}");
    for letter in &dlq {
        assert_eq!(
            letter.headers["rill.error.kind"], "output-refused",
            "{:?}",
            letter.headers
        );
        assert!(
            letter.headers["rill.error"].contains("topic out was refused")
                && letter.headers["rill.error"].contains("InvalidRecord"),
            "{:?}",
            letter.headers["rill.error"]
        );
        assert_eq!(letter.headers["rill.source.topic"], "in");
    }
    // Every input is either an output or a dead letter, exactly once.
    let mut seen = values(&out);
    for (value, n) in values(&dlq) {
        *seen.entry(value).or_insert(0) += n;
    }
    assert_eq!(seen, multiset(records.iter().map(|(_, v)| v.clone())), "{log}");
}

#[test]
fn an_output_refused_for_its_topic_stops_that_task_without_loss() {
    let mut broker = DevBroker::start(&[("in", 3), ("out", 3), ("dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let records = inputs(0, 3000);
    produce(&broker.bootstrap, "in", &records);
    broker.command("fail-produce topic-authorization-failed 1");
    let (mut child, log) = start(&broker, dir.path(), "faults-topic", Some("3s"));
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "a stopped task makes the run fail:\n{text}");
    assert!(text.contains("stopped on a failure"), "{text}");
    assert!(
        text.contains("TopicAuthorizationFailed") || text.contains("Topic authorization failed"),
        "{text}"
    );
    assert!(
        read_all(&broker.bootstrap, "dlq").is_empty(),
        "nothing is dead-lettered for a topic's fault"
    );

    // Once the cause is gone, a restart processes everything that was not
    // committed: no input is lost.
    let (mut child, log) = start(&broker, dir.path(), "faults-topic", Some("3s"));
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    let out = values(&read_all(&broker.bootstrap, "out"));
    for (_, value) in &records {
        assert!(
            out.contains_key(value),
            "{} lost:\n{text}",
            String::from_utf8_lossy(value)
        );
    }
    assert!(read_all(&broker.bootstrap, "dlq").is_empty());
}

#[test]
fn replace_worker_restarts_a_stopped_task_from_its_last_commit_and_carries_on() {
    let mut broker = DevBroker::start(&[("in", 3), ("out", 3), ("dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let records = inputs(0, 3000);
    produce(&broker.bootstrap, "in", &records);
    // The same transient fault that stops a task above: with
    // replace-worker the run recovers by itself.
    broker.command("fail-produce topic-authorization-failed 1");
    let (mut child, log) = start_with(
        &broker,
        dir.path(),
        "faults-replace",
        Some("3s"),
        &["--on-fatal", "replace-worker"],
    );
    let status = wait_exit(&mut child, Duration::from_secs(120));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "the run carries on:\n{text}");
    assert!(text.contains("replacing worker 0"), "{text}");
    let out = values(&read_all(&broker.bootstrap, "out"));
    for (_, value) in &records {
        assert!(
            out.contains_key(value),
            "{} lost:\n{text}",
            String::from_utf8_lossy(value)
        );
    }
    assert!(read_all(&broker.bootstrap, "dlq").is_empty());
}

#[test]
fn every_broker_down_for_a_minute_mid_stream_loses_nothing_and_dead_letters_nothing() {
    let mut broker = DevBroker::start(&[("in", 3), ("out", 3), ("dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let first = inputs(0, 5000);
    produce(&broker.bootstrap, "in", &first);
    let (mut child, log) = start(&broker, dir.path(), "faults-outage", None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_all(&broker.bootstrap, "out").is_empty() {
        assert!(Instant::now() < deadline, "no output before the outage");
        std::thread::sleep(Duration::from_millis(20));
    }
    broker.command("down");
    std::thread::sleep(Duration::from_secs(60));
    if let Some(status) = child.try_wait().unwrap() {
        let text = std::fs::read_to_string(&log).unwrap();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        panic!(
            "rill exited ({status}) while the brokers were down:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    broker.command("up");
    let second = inputs(5000, 10_000);
    produce(&broker.bootstrap, "in", &second);

    // Everything arrives, and rill then stops cleanly on SIGTERM.
    let expected: Vec<&Vec<u8>> = first.iter().chain(&second).map(|(_, v)| v).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = values(&read_all(&broker.bootstrap, "out"));
        if expected.iter().all(|v| out.contains_key(*v)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every input reached the output after the brokers came back:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    rill_tests::terminate(&mut child);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    let out = values(&read_all(&broker.bootstrap, "out"));
    for (_, value) in first.iter().chain(&second) {
        assert!(
            out.contains_key(value),
            "{} lost:\n{text}",
            String::from_utf8_lossy(value)
        );
    }
    assert!(
        read_all(&broker.bootstrap, "dlq").is_empty(),
        "an outage dead-letters nothing"
    );
}
