//! Two `rill run` processes in one application: the group splits the
//! partitions, and SIGKILL of one loses nothing.

use rill_host::metricbeat::{Expect, Generator};
use rill_tests::{DevBroker, install_plugin, produce, read_all, rill, wait_exit};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rill_host::metricbeat::TOPICS;

fn member(broker: &str, dir: &Path, name: &str, idle: &str) -> (Child, std::path::PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let child = rill()
        .arg("run")
        .arg(dir.join("metric-branch/plugin.toml"))
        .arg(dir.join("cpu-alert/plugin.toml"))
        .args([
            "--brokers",
            broker,
            "--application-id",
            "e2e-group",
            "--stop-when-idle",
            idle,
        ])
        .args([
            "--commit-interval",
            "200ms",
            "-X",
            "consumer.session.timeout.ms=6000",
            "-X",
            "consumer.heartbeat.interval.ms=500",
        ])
        .arg("--state-dir")
        .arg(dir.join(name))
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

/// The partitions of `topic` this member was last assigned, from its log.
fn assigned(log: &Path, topic: &str) -> HashSet<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rfind(|l| l.contains("assignment now:") && !l.ends_with("assignment now: none"))
        .map(|l| {
            l.split([' ', ','])
                .filter(|w| w.starts_with(&format!("{topic}/")))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_members_split_partitions_and_a_killed_one_loses_nothing() {
    let broker = DevBroker::start(&TOPICS.map(|t| (t, 4)));
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "metric-branch");
    install_plugin(dir.path(), "cpu-alert");

    let mut generator = Generator::new(11);
    let mut inputs = Vec::new();
    let mut expected_cpu = HashSet::new();
    let mut expected_alerts = HashSet::new();
    for i in 0..60_000 {
        let sample = generator.sample();
        let key = format!("k{i}").into_bytes();
        match &sample.expect {
            Expect::Cpu { pct, alert } => {
                expected_cpu.insert(key.clone());
                if *pct > 0.5 {
                    expected_alerts.insert((key.clone(), alert.clone().into_bytes()));
                }
            }
            Expect::CpuWithoutHost => {
                expected_cpu.insert(key.clone());
            }
            _ => {}
        }
        inputs.push((Some(key), sample.value));
    }

    // The survivor must outlast the victim's session timeout and the
    // rebalance after it before it may call the inputs drained, hence the
    // long idle window (under the cooperative protocol the survivor hears
    // of the rebalance only when it is handed the victim's partitions).
    let (mut survivor, survivor_log) = member(&broker.bootstrap, dir.path(), "survivor", "20s");
    let (mut victim, victim_log) = member(&broker.bootstrap, dir.path(), "victim", "20s");
    // Both inputs' partitions are split between the members (the
    // cooperative assignor balances their count, not each topic's).
    let both = |log: &Path| {
        let mut partitions = assigned(log, "metric.all");
        partitions.extend(assigned(log, "metric.cpu"));
        partitions
    };
    wait_for("both members to get partitions", Duration::from_secs(60), || {
        let (a, b) = (both(&survivor_log), both(&victim_log));
        !a.is_empty() && !b.is_empty() && a.len() + b.len() == 8
    });
    let (a, b) = (both(&survivor_log), both(&victim_log));
    assert!(a.is_disjoint(&b), "members share partitions: {a:?} {b:?}");
    assert_eq!(a.len() + b.len(), 8, "all partitions assigned: {a:?} {b:?}");

    // Produce in slices so the victim dies with work in flight.
    let (first, rest) = inputs.split_at(30_000);
    produce(&broker.bootstrap, "metric.all", first);
    std::thread::sleep(Duration::from_millis(300));
    victim.kill().unwrap();
    victim.wait().unwrap();
    produce(&broker.bootstrap, "metric.all", rest);

    let status = wait_exit(&mut survivor, Duration::from_secs(180));
    let log = std::fs::read_to_string(&survivor_log).unwrap();
    assert!(status.success(), "survivor exited with {status}:\n{log}");
    assert_eq!(
        assigned(&survivor_log, "metric.all").len(),
        4,
        "survivor took over every partition:\n{log}"
    );

    // Every input is accounted for; duplicates are allowed (the victim's
    // uncommitted tail is processed again), losses and strangers are not.
    let cpu: HashSet<Vec<u8>> = read_all(&broker.bootstrap, "metric.cpu")
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    assert_eq!(cpu, expected_cpu, "metric.cpu keys");
    let alerts: HashSet<(Vec<u8>, Vec<u8>)> = read_all(&broker.bootstrap, "metric.cpu.alert")
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value.unwrap()))
        .collect();
    assert_eq!(alerts.len(), expected_alerts.len(), "distinct alerts");
    assert_eq!(alerts, expected_alerts, "alerts");
}
