//! `cargo bench -p rill-tests --bench exactly_once`: what exactly-once
//! costs, on crabka-broker (`scripts/txn-broker.sh` builds it; the only
//! broker here that honours transactions).
//!
//! 1. The seed pipeline (`apps/metrics.toml`) over N pre-loaded metricbeat
//!    records, at-least-once vs exactly-once, commit interval 100 ms and
//!    1 s: seconds from `rill run` starting to the group's committed
//!    offsets covering every input (for exactly-once: the last transaction
//!    committed), records/s, and the ratio.
//! 2. Restore after SIGKILL with K keys of `order-count` state: the records
//!    a restarted exactly-once instance restores from its changelog, and
//!    seconds, vs the same instance with its state directory deleted (what
//!    Kafka Streams does after an unclean shutdown under EOS: wipe and
//!    rebuild the store from the whole changelog).
//!
//! Environment: RILL_BENCH_RECORDS (default 200000), RILL_BENCH_KEYS
//! (default 1000000).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, TopicPartitionList};
use rill_host::metricbeat::{Generator, TOPICS};
use rill_tests::{DevBroker, install_metrics_app, install_plugin, produce, rill};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 4;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Sum of `group`'s committed offsets on `topic`.
fn committed(watcher: &BaseConsumer, topic: &str) -> i64 {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    watcher
        .committed_offsets(tpl, Duration::from_secs(5))
        .map(|c| {
            c.elements()
                .iter()
                .filter_map(|e| e.offset().to_raw())
                .filter(|o| *o >= 0)
                .sum()
        })
        .unwrap_or(0)
}

fn watcher(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Runs `rill run` with `args` until the group has committed `total`
/// offsets of `topic`; returns the seconds from spawn and the child.
fn run_until_committed(
    bootstrap: &str,
    group: &str,
    topic: &str,
    total: i64,
    args: &[&str],
    log: &Path,
) -> (f64, Child) {
    let started = Instant::now();
    let mut child = rill()
        .arg("run")
        .args(args)
        .args(["--brokers", bootstrap, "--application-id", group])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let watcher = watcher(bootstrap, group);
    loop {
        if committed(&watcher, topic) >= total {
            return (started.elapsed().as_secs_f64(), child);
        }
        assert!(started.elapsed() < Duration::from_secs(900), "{group} did not finish");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{group} exited early:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pipeline(records: usize) {
    println!("pipeline: apps/metrics.toml over {records} pre-loaded records, {PARTITIONS} partitions, 2 threads");
    let mut generator = Generator::new(7);
    let inputs: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..records)
        .map(|i| (Some(format!("k{i}").into_bytes()), generator.sample().value))
        .collect();
    let mut results = Vec::new();
    for commit in ["100ms", "1s"] {
        for guarantee in ["at-least-once", "exactly-once"] {
            let broker = DevBroker::start_txn(&TOPICS.map(|t| (t, PARTITIONS)));
            produce(&broker.bootstrap, "metric.all", &inputs);
            let dir = tempfile::tempdir().unwrap();
            let app = install_metrics_app(dir.path());
            let state = dir.path().join("state");
            let group = format!("bench-eos-{guarantee}-{commit}");
            let (seconds, mut child) = run_until_committed(
                &broker.bootstrap,
                &group,
                "metric.all",
                records as i64,
                &[
                    app.to_str().unwrap(),
                    "--threads",
                    "2",
                    "--commit-interval",
                    commit,
                    "--processing-guarantee",
                    guarantee,
                    "--state-dir",
                    state.to_str().unwrap(),
                ],
                &dir.path().join("rill.log"),
            );
            rill_tests::terminate(&mut child);
            let _ = child.wait();
            let rate = records as f64 / seconds;
            println!("  {guarantee:>13} commit {commit:>5}: {seconds:7.2} s  {rate:>9.0} records/s");
            results.push((commit, guarantee, rate));
        }
    }
    for commit in ["100ms", "1s"] {
        let rate = |g: &str| {
            results
                .iter()
                .find(|(c, gg, _)| *c == commit && *gg == g)
                .map_or(0.0, |r| r.2)
        };
        println!(
            "  commit {commit:>5}: exactly-once / at-least-once = {:.3}",
            rate("exactly-once") / rate("at-least-once")
        );
    }
}

/// Seconds the restores took, from the "restored N records in S s" lines.
fn restore_seconds(log: &str) -> f64 {
    log.lines()
        .filter_map(|l| l.split("restored ").nth(1))
        .filter_map(|rest| rest.split(" in ").nth(1)?.split('s').next()?.parse::<f64>().ok())
        .sum()
}

fn restore(keys: usize) {
    println!(
        "restore: order-count with {keys} keys of state, exactly-once, commit 100 ms, SIGKILL after the last commit"
    );
    let application = "bench-eos-restore";
    let changelog = format!("{application}-counts-changelog");
    let broker = DevBroker::start_txn(&[
        ("order", PARTITIONS),
        ("order_count", PARTITIONS),
        ("order.count.dlq", 1),
        (changelog.as_str(), PARTITIONS),
    ]);
    let orders: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..keys)
        .map(|i| (Some(format!("key-{i}").into_bytes()), b"order".to_vec()))
        .collect();
    let loading = Instant::now();
    produce(&broker.bootstrap, "order", &orders);
    println!("  loaded {keys} orders in {:.1} s", loading.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-count");
    let state = dir.path().join("state");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut all = vec![
            manifest.to_str().unwrap().to_string(),
            "--processing-guarantee".into(),
            "exactly-once".into(),
            "--commit-interval".into(),
            "100ms".into(),
            "--state-dir".into(),
            state.to_str().unwrap().to_string(),
            // A member restarting while its killed predecessor still holds a
            // session waits on crabka until that session ends: keep it short.
            "-X".into(),
            "consumer.session.timeout.ms=6000".into(),
        ];
        all.extend(extra.iter().map(|s| s.to_string()));
        all
    };
    let first: Vec<String> = args(&[]);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let (seconds, mut child) = run_until_committed(
        &broker.bootstrap,
        application,
        "order",
        keys as i64,
        &first,
        &dir.path().join("first.log"),
    );
    println!("  counted {keys} orders in {seconds:.1} s; SIGKILL");
    child.kill().unwrap();
    child.wait().unwrap();
    // Not part of the restore: the killed member's session expires first.
    std::thread::sleep(Duration::from_secs(7));

    let restart = |label: &str, log: &str| {
        let again = args(&["--stop-when-idle", "1s"]);
        let mut child = rill()
            .arg("run")
            .args(&again)
            .args(["--brokers", &broker.bootstrap, "--application-id", application])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join(log)).unwrap())
            .spawn()
            .unwrap();
        let status = rill_tests::wait_exit(&mut child, Duration::from_secs(300));
        let text = std::fs::read_to_string(dir.path().join(log)).unwrap();
        assert!(status.success(), "{label} failed:\n{text}");
        let records = rill_tests::restored_records(&text);
        let seconds = restore_seconds(&text);
        println!("  {label:<44} restored {records:>9} records in {seconds:6.2} s");
        (records, seconds)
    };
    let (kept, kept_s) = restart("rill: restart on its state directory", "kept.log");
    std::fs::remove_dir_all(state.join(application)).unwrap();
    let (wiped, wiped_s) = restart("wipe and rebuild (Kafka Streams under EOS)", "wiped.log");
    println!(
        "  rill restores {:.4} of the records the wipe does ({kept} vs {wiped}), {:.1}x faster ({kept_s:.2} s vs {wiped_s:.2} s)",
        kept as f64 / wiped.max(1) as f64,
        wiped_s / kept_s.max(1e-3)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    pipeline(env("RILL_BENCH_RECORDS", 200_000));
    restore(env("RILL_BENCH_KEYS", 1_000_000));
}
