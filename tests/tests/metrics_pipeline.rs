//! The metrics pipeline end to end: the real `rill` binary, the real sample
//! plugins built for wasm32-wasip2, and `rill dev-broker`.

use rill_tests::{
    DevBroker, MetricsWorkload as Workload, Received, check_metrics_outputs, committed, install_metrics_app,
    install_plugin, kv, metrics_workload as workload, produce, read_all, rill, wait_exit,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rill_host::metricbeat::TOPICS;

fn manifests(dir: &std::path::Path) -> Vec<PathBuf> {
    vec![install_plugin(dir, "metric-branch"), install_plugin(dir, "cpu-alert")]
}

/// Runs `processors` (manifests or an application file) over `records`
/// generated metricbeat records until drained, and checks every output
/// topic holds exactly what the seed's pipeline must write. Returns the
/// broker and workload for further checks.
fn run_pipeline(
    records: usize,
    application_id: &str,
    processors: &dyn Fn(&std::path::Path) -> Vec<PathBuf>,
) -> (DevBroker, Workload) {
    let broker = DevBroker::start(&TOPICS.map(|t| (t, 8)));
    let work = workload(records, 7);
    produce(&broker.bootstrap, "metric.all", &work.inputs);

    let dir = tempfile::tempdir().unwrap();
    let mut rill = rill()
        .arg("run")
        .args(processors(dir.path()))
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            application_id,
            "--threads",
            "2",
        ])
        .args(["--stop-when-idle", "3s", "--log-level", "warn", "--state-dir"])
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut rill, Duration::from_secs(240));
    assert!(status.success(), "rill run exited with {status}");

    check_metrics_outputs(&broker.bootstrap, &work);

    // Dead letters say who failed, why, and exactly where the input was.
    let inputs = read_all(&broker.bootstrap, "metric.all");
    let by_position: HashMap<(i32, i64), &Received> = inputs.iter().map(|r| ((r.partition, r.offset), r)).collect();
    for letter in read_all(&broker.bootstrap, "metric.all.dlq") {
        let h = &letter.headers;
        assert_eq!(h["rill.processor"], "metric-branch");
        assert_eq!(h["rill.error.kind"], "record-error");
        assert!(!h["rill.error"].is_empty());
        assert!(h["rill.processor.version"].starts_with("0.1.0+"), "{h:?}");
        assert_eq!(h["rill.source.topic"], "metric.all");
        points_at_its_source(&letter, &by_position);
    }
    (broker, work)
}

/// Checks a dead letter's source headers name the input record it holds,
/// and the task that owns that record's partition.
fn points_at_its_source(letter: &Received, inputs: &HashMap<(i32, i64), &Received>) {
    let h = &letter.headers;
    let source = inputs[&(
        h["rill.source.partition"].parse().unwrap(),
        h["rill.source.offset"].parse().unwrap(),
    )];
    assert_eq!(
        (&source.key, &source.value),
        (&letter.key, &letter.value),
        "headers point at the source record"
    );
    assert_eq!(h["rill.task"], format!("metric-branch_{}", source.partition));
}

#[test]
fn one_hundred_thousand_records_through_the_application_file_read_metric_all_once() {
    let (broker, _work) = run_pipeline(100_000, "e2e-metrics-app", &|dir| vec![install_metrics_app(dir)]);
    // cpu-alert is fed in memory: nothing of the group ever read metric.cpu,
    // while metric.all is committed to its end.
    assert_eq!(committed(&broker.bootstrap, "e2e-metrics-app", "metric.cpu"), 0);
    assert_eq!(committed(&broker.bootstrap, "e2e-metrics-app", "metric.all"), 100_000);
    // A record cpu-alert refuses dead-letters at cpu-alert, with the position
    // of the metric.all record that started the chain.
    let inputs = read_all(&broker.bootstrap, "metric.all");
    let by_position: HashMap<(i32, i64), &Received> = inputs.iter().map(|r| ((r.partition, r.offset), r)).collect();
    let letters = read_all(&broker.bootstrap, "metric.cpu.dlq");
    assert!(!letters.is_empty());
    for letter in letters {
        let h = &letter.headers;
        assert_eq!(h["rill.processor"], "cpu-alert");
        assert!(h["rill.error"].contains("host"), "{h:?}");
        assert_eq!(h["rill.source.topic"], "metric.all");
        assert_eq!(h["rill.input.topic"], "metric.cpu");
        points_at_its_source(&letter, &by_position);
    }
}

#[test]
fn plain_manifests_still_run_as_two_hops_with_the_same_outputs() {
    let (broker, work) = run_pipeline(20_000, "e2e-metrics", &|dir| {
        vec![install_plugin(dir, "metric-branch"), install_plugin(dir, "cpu-alert")]
    });
    let cpu: usize = work.expected["metric.cpu"].values().sum();
    assert_eq!(committed(&broker.bootstrap, "e2e-metrics", "metric.cpu"), cpu as i64);
    for letter in read_all(&broker.bootstrap, "metric.cpu.dlq") {
        assert_eq!(letter.headers["rill.processor"], "cpu-alert");
        assert_eq!(letter.headers["rill.source.topic"], "metric.cpu");
        assert!(!letter.headers.contains_key("rill.input.topic"));
    }
}

#[test]
fn sigkill_mid_chain_then_a_restart_loses_nothing() {
    let broker = DevBroker::start(&TOPICS.map(|t| (t, 4)));
    let work = workload(40_000, 11);
    produce(&broker.bootstrap, "metric.all", &work.inputs);
    let dir = tempfile::tempdir().unwrap();
    let app = install_metrics_app(dir.path());
    let run = |extra: &[&str]| {
        rill()
            .arg("run")
            .arg(&app)
            .args(["--brokers", &broker.bootstrap, "--application-id", "e2e-kill"])
            .args(["--batch-size", "50", "--log-level", "warn", "--state-dir"])
            .arg(dir.path().join("state"))
            .args(["-X", "consumer.session.timeout.ms=6000"])
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = run(&[]);
    // Kill it once some, not all, alerts are out: mid-chain, mid-batch.
    let alerts: usize = work.expected["metric.cpu.alert"].values().sum();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen = read_all(&broker.bootstrap, "metric.cpu.alert").len();
        if seen > alerts / 4 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no progress before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = run(&["--stop-when-idle", "3s"]);
    assert!(wait_exit(&mut second, Duration::from_secs(120)).success());
    // At least once: every expected record of every output is there.
    for topic in rill_host::metricbeat::written_topics() {
        let got = kv(&read_all(&broker.bootstrap, topic));
        let missing: usize = work.expected[topic]
            .iter()
            .filter(|(k, _)| !got.contains_key(*k))
            .count();
        assert_eq!(missing, 0, "{topic}: records lost after SIGKILL");
    }
    assert_eq!(committed(&broker.bootstrap, "e2e-kill", "metric.all"), 40_000);
}

#[test]
fn a_missing_input_topic_is_a_clear_error() {
    let broker = DevBroker::start(&[("metric.cpu.alert", 1), ("metric.cpu.dlq", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let output = rill()
        .arg("run")
        .arg(install_plugin(dir.path(), "cpu-alert"))
        .args(["--brokers", &broker.bootstrap, "--application-id", "missing-input"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("input topic(s) metric.cpu do not exist"), "{stderr}");
    assert!(stderr.contains("cpu-alert/plugin.toml"), "{stderr}");
}

#[test]
fn a_broker_that_cannot_create_topics_gets_a_message_not_a_hang() {
    let broker = DevBroker::start(&[("metric.cpu", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let mut rill = rill()
        .arg("run")
        .arg(install_plugin(dir.path(), "cpu-alert"))
        .args(["--brokers", &broker.bootstrap, "--application-id", "no-create"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut rill, Duration::from_secs(60));
    let mut stderr = String::new();
    std::io::Read::read_to_string(rill.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("cannot create topic(s) metric.cpu.alert (2 partitions), metric.cpu.dlq (2 partitions)"),
        "{stderr}"
    );
    assert!(stderr.contains("--topic metric.cpu.alert:2"), "{stderr}");
}

#[test]
fn sigterm_finishes_commits_and_a_restart_has_nothing_left_to_do() {
    let broker = DevBroker::start(&TOPICS.map(|t| (t, 3)));
    let work = workload(5_000, 3);
    produce(&broker.bootstrap, "metric.all", &work.inputs);
    let dir = tempfile::tempdir().unwrap();
    let manifests = manifests(dir.path());
    let run = |extra: &[&str]| {
        rill()
            .arg("run")
            .args(&manifests)
            .args([
                "--brokers",
                &broker.bootstrap,
                "--application-id",
                "e2e-sigterm",
                "--log-level",
                "warn",
            ])
            // The dev broker holds the next join for the session timeout
            // after a member leaves (docs/dev-broker.md).
            .args(["-X", "consumer.session.timeout.ms=6000"])
            .args(extra)
            .spawn()
            .unwrap()
    };

    let mut first = run(&[]);
    let expected_alerts: usize = work.expected["metric.cpu.alert"].values().sum();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while read_all(&broker.bootstrap, "metric.cpu.alert").len() < expected_alerts {
        assert!(std::time::Instant::now() < deadline, "outputs did not appear");
        std::thread::sleep(Duration::from_millis(200));
    }
    rill_tests::terminate(&mut first);
    assert!(first.wait().unwrap().success(), "SIGTERM must end rill run with exit 0");

    let mut second = run(&["--stop-when-idle", "2s"]);
    assert!(wait_exit(&mut second, Duration::from_secs(60)).success());
    for topic in rill_host::metricbeat::written_topics() {
        let got: usize = read_all(&broker.bootstrap, topic).len();
        assert_eq!(
            got,
            work.expected[topic].values().sum::<usize>(),
            "{topic}: a restart after SIGTERM reprocessed records"
        );
    }
}
