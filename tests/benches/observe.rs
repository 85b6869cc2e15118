//! `cargo bench -p rill-tests --bench observe`: what watching rill costs.
//! The seed metrics pipeline (`apps/metrics.toml`, the real binary) runs
//! without `--http`, then with `--http` while a scraper reads `/metrics`,
//! `/status` and `/lag` every second, as Prometheus and the status page
//! would. Each run gets a fresh embedded broker with the same pre-loaded
//! `metric.all` and is timed from process start until the group's committed
//! offsets cover every input record. Prints records/s of both, their ratio
//! (the target: within 3%) and the size of one scrape.
//!
//! Environment: RILL_BENCH_RECORDS (default 300000), RILL_BENCH_ROUNDS (3),
//! RILL_BENCH_PARTITIONS (12).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, TopicPartitionList};
use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::metricbeat::{Generator, TOPICS};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn committed(watcher: &BaseConsumer, partitions: i32) -> i64 {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition("metric.all", p);
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

/// One run: seconds to commit everything, rill's CPU seconds, and (with
/// `http`) the scrapes made and the bytes of the last `/metrics`.
fn measure(http: bool, round: usize, records: &[Vec<u8>], partitions: i32) -> (f64, f64, usize, usize) {
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
    let group = format!("bench-observe-{http}-{round}");
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", rill_tests::free_port());
    let started = Instant::now();
    let mut command = rill_tests::rill();
    command
        .arg("run")
        .arg(rill_tests::install_metrics_app(dir.path()))
        .args([
            "--brokers",
            &kafka.brokers,
            "--application-id",
            &group,
            "--threads",
            "2",
        ])
        .args(["--log-level", "warn", "--state-dir"])
        .arg(dir.path().join("state"));
    if http {
        command.args(["--http", &addr]);
    }
    let mut child = command.stderr(Stdio::null()).spawn().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let scrapes = Arc::new(AtomicUsize::new(0));
    let size = Arc::new(AtomicUsize::new(0));
    let scraper = http.then(|| {
        let (stop, scrapes, size, addr) = (stop.clone(), scrapes.clone(), size.clone(), addr.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Some((200, body)) = rill_tests::http_get(&addr, "/metrics") {
                    size.store(body.len(), Ordering::Relaxed);
                    let _ = rill_tests::http_get(&addr, "/status");
                    let _ = rill_tests::http_get(&addr, "/lag");
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    });
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let pid = child.id();
    let mut cpu = 0.0;
    let seconds = loop {
        if committed(&watcher, partitions) >= records.len() as i64 {
            break started.elapsed().as_secs_f64();
        }
        cpu = rill_tests::usage(pid).0;
        assert!(started.elapsed() < Duration::from_secs(600), "did not finish");
        assert!(child.try_wait().unwrap().is_none(), "rill exited early");
        std::thread::sleep(Duration::from_millis(10));
    };
    stop.store(true, Ordering::Release);
    if let Some(scraper) = scraper {
        scraper.join().unwrap();
    }
    cpu = rill_tests::usage(pid).0.max(cpu);
    rill_tests::terminate(&mut child);
    let _ = child.wait();
    (
        seconds,
        cpu,
        scrapes.load(Ordering::Relaxed),
        size.load(Ordering::Relaxed),
    )
}

fn main() {
    let (n, rounds, partitions) = (
        env("RILL_BENCH_RECORDS", 300_000),
        env("RILL_BENCH_ROUNDS", 3),
        env("RILL_BENCH_PARTITIONS", 12) as i32,
    );
    let mut generator = Generator::new(1);
    let records: Vec<Vec<u8>> = (0..n).map(|_| generator.sample().value).collect();
    println!(
        "metrics pipeline with and without --http (scraped every second): {n} records on {partitions} partitions, {rounds} rounds"
    );
    let (mut plain, mut watched, mut plain_cpu, mut watched_cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate so drift on a shared machine hits both alike.
        let (seconds, cpu, _, _) = measure(false, round, &records, partitions);
        println!(
            "round {round} without --http: {seconds:.2} s = {:>7.0} records/s, rill cpu {cpu:.2} s",
            n as f64 / seconds
        );
        plain.push(n as f64 / seconds);
        plain_cpu.push(cpu);
        let (seconds, cpu, scrapes, bytes) = measure(true, round, &records, partitions);
        println!(
            "round {round}    with --http: {seconds:.2} s = {:>7.0} records/s, rill cpu {cpu:.2} s, {scrapes} scrapes of /metrics + /status + /lag, last /metrics {bytes} bytes",
            n as f64 / seconds
        );
        watched.push(n as f64 / seconds);
        watched_cpu.push(cpu);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (plain, watched) = (median(&mut plain), median(&mut watched));
    let (plain_cpu, watched_cpu) = (median(&mut plain_cpu), median(&mut watched_cpu));
    println!(
        "median: without {plain:.0} records/s, with --http and scrapes {watched:.0} records/s: ratio {:.3} (target >= 0.97); \
         rill cpu {plain_cpu:.2} s vs {watched_cpu:.2} s: {:+.1}%",
        watched / plain,
        (watched_cpu / plain_cpu - 1.0) * 100.0
    );
}
