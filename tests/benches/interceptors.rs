//! `cargo bench -p rill-tests --bench interceptors`: the metrics pipeline
//! (apps/metrics.toml) against the same pipeline with the seed's two
//! logging interceptors (apps/metrics-intercepted.toml: every record
//! consumed, committed, sent and acknowledged written to a log file), the
//! real binary and plugins, on a fresh embedded broker each run. Timed
//! from process start until the group's committed offsets cover every
//! input record. Prints records/s of each and the ratio on/off (issue 24's
//! goal: at least 0.9).
//!
//! All runs share one state directory, so each component is compiled once
//! (`<state-dir>/compiled/`) and the best round times a warm start, as the
//! pipeline bench does: otherwise the intercepted app, with four components
//! to compile instead of two, would be timed compiling.
//!
//! After each intercepted run the consumer log must hold one `consume`
//! line per input record, so a fast run that logged nothing fails.
//!
//! Environment: RILL_BENCH_RECORDS (default 100000), RILL_BENCH_ROUNDS (3),
//! RILL_BENCH_PARTITIONS (8).

use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::metricbeat::{Generator, TOPICS};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The state directory of every run (its compile cache shared by all).
fn state_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seconds `app` takes over `records` on a fresh broker.
fn measure(intercepted: bool, round: usize, records: &[Vec<u8>], partitions: i32) -> f64 {
    let broker = EmbeddedBroker::start(1).unwrap();
    for topic in TOPICS {
        broker.create_topic(topic, partitions).unwrap();
    }
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    let keys: Vec<Vec<u8>> = (0..records.len()).map(|i| format!("k{i}").into_bytes()).collect();
    rill_host::kafka::produce_all(
        &kafka,
        "metric.all",
        keys.iter()
            .zip(records)
            .map(|(k, v)| (Some(k.as_slice()), v.as_slice())),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (app, plugins): (&str, &[&str]) = if intercepted {
        (
            "metrics-intercepted.toml",
            &[
                "metric-branch",
                "cpu-alert",
                "consumer-interceptor",
                "producer-interceptor",
            ],
        )
    } else {
        ("metrics.toml", &["metric-branch", "cpu-alert"])
    };
    let app = rill_tests::install_app(dir.path(), app, plugins);
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let group = format!("bench-interceptors-{intercepted}-{round}");
    let started = Instant::now();
    let mut child = rill_tests::rill()
        .current_dir(dir.path())
        .arg("run")
        .arg(&app)
        .args([
            "--brokers",
            &kafka.brokers,
            "--application-id",
            &group,
            "--threads",
            "2",
        ])
        .args(["--log-level", "warn", "--state-dir"])
        .arg(state_dir())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let total = records.len() as i64;
    let seconds = loop {
        if rill_tests::committed(&kafka.brokers, &group, "metric.all") >= total {
            break started.elapsed().as_secs_f64();
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the run did not finish");
        assert!(child.try_wait().unwrap().is_none(), "rill exited early");
        std::thread::sleep(Duration::from_millis(50));
    };
    rill_tests::terminate(&mut child);
    let _ = child.wait();
    if intercepted {
        let log = std::fs::read_to_string(dir.path().join("logs/consumer_interceptor.log")).unwrap_or_default();
        let consumed = log.lines().filter(|l| l.contains("\"event\":\"consume\"")).count();
        assert_eq!(consumed, records.len(), "one consume line per input record");
    }
    seconds
}

fn main() {
    let n = env("RILL_BENCH_RECORDS", 100_000);
    let rounds = env("RILL_BENCH_ROUNDS", 3);
    let partitions = env("RILL_BENCH_PARTITIONS", 8) as i32;
    let mut generator = Generator::new(42);
    let records: Vec<Vec<u8>> = (0..n).map(|_| generator.sample().value).collect();
    let mut best = [f64::MAX, f64::MAX];
    for round in 0..rounds {
        for (i, intercepted) in [false, true].into_iter().enumerate() {
            let seconds = measure(intercepted, round, &records, partitions);
            best[i] = best[i].min(seconds);
            println!(
                "round {round}: interceptors {}: {:.0} records/s ({seconds:.2} s)",
                if intercepted { "on " } else { "off" },
                n as f64 / seconds
            );
        }
    }
    let (off, on) = (n as f64 / best[0], n as f64 / best[1]);
    println!(
        "best of {rounds}: off {off:.0} records/s, on {on:.0} records/s, on/off {:.2} (goal >= 0.9)",
        on / off
    );
}
