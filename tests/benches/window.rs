//! `cargo bench -p rill-tests --bench window`: a windowed count over 1M
//! orders (order-window-count: 10-minute tumbling windows, 1 minute of
//! grace, final results) against the stateless path over the same input (a
//! pass-through processor: same records, same partitions, no state), both
//! the real binary on the embedded broker, timed from process start until
//! the group's commits cover every input record. Prints records/s, the
//! ratio, CPU and peak RSS, and the windowed store's size on disk at the end
//! against what its retention allows (only open windows are kept).
//!
//! Environment: RILL_BENCH_RECORDS (1000000), RILL_BENCH_KEYS (1000),
//! RILL_BENCH_PARTITIONS (24; the dev broker keeps about 5 MiB per
//! partition), RILL_BENCH_MINUTES (100: event time the input spans).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, TopicPartitionList};
use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_tests::bench::{dir_size, env_usize as env};
use std::process::Stdio;
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_400_000;

struct Measured {
    seconds: f64,
    cpu: f64,
    rss: f64,
    outputs: i64,
    state_bytes: u64,
}

fn measure(mode: &str, records: usize, keys: usize, partitions: i32, minutes: usize) -> Measured {
    let broker = EmbeddedBroker::start(1).unwrap();
    let app = format!("bench-{mode}");
    for topic in ["order", "order_window_count", "order.window.dlq", "out", "dlq"] {
        broker.create_topic(topic, partitions).unwrap();
    }
    broker
        .create_topic(&format!("{app}-counts-changelog"), partitions)
        .unwrap();
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    let producer: ThreadedProducer<DefaultProducerContext> = kafka.producer().create().unwrap();
    let span = (minutes * 60_000) as i64;
    for i in 0..records {
        let key = format!("k{}", i % keys);
        let timestamp = T0 + span * i as i64 / records as i64;
        loop {
            match producer.send(BaseRecord::to("order").key(&key).payload("order").timestamp(timestamp)) {
                Ok(()) => break,
                Err((_, _)) => producer.poll(Duration::from_millis(5)),
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let probe: BaseConsumer = kafka.reader().create().unwrap();
    for p in 0..partitions {
        let (low, _) = probe.fetch_watermarks("order", p, Duration::from_secs(5)).unwrap();
        assert_eq!(low, 0, "the broker dropped records of order/{p}: use more partitions");
    }

    let dir = tempfile::tempdir().unwrap();
    let manifest = match mode {
        "window" => rill_tests::install_plugin(dir.path(), "order-window-count"),
        _ => {
            std::fs::copy(rill_tests::component("fixture-misbehave"), dir.path().join("pass.wasm")).unwrap();
            let path = dir.path().join("pass.toml");
            std::fs::write(
                &path,
                "manifest-version = 1\nname = \"pass\"\nversion = \"0.1.0\"\ncomponent = \"pass.wasm\"\n\
                 dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"order\"\n[outputs]\nout = \"out\"\n[config]\npoison = \"error\"\n",
            )
            .unwrap();
            path
        }
    };
    let state = dir.path().join("state");
    let started = Instant::now();
    let mut child = rill_tests::rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &kafka.brokers, "--application-id", &app, "--threads", "2"])
        .args(["--log-level", "warn", "--state-dir"])
        .arg(&state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &app)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition("order", p);
    }
    let mut last = (0.0, 0.0);
    let seconds = loop {
        let committed: i64 = watcher
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .map(|c| {
                c.elements()
                    .iter()
                    .filter_map(|e| e.offset().to_raw())
                    .filter(|o| *o >= 0)
                    .sum()
            })
            .unwrap_or(0);
        if committed >= records as i64 {
            break started.elapsed().as_secs_f64();
        }
        last = rill_tests::usage(pid);
        assert!(started.elapsed() < Duration::from_secs(900), "{mode} did not finish");
        assert!(child.try_wait().unwrap().is_none(), "{mode} exited early");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (cpu, rss) = match rill_tests::usage(pid) {
        (0.0, _) => last,
        now => now,
    };
    rill_tests::terminate(&mut child);
    let _ = child.wait();
    let output = if mode == "window" { "order_window_count" } else { "out" };
    let outputs = (0..partitions)
        .map(|p| {
            probe
                .fetch_watermarks(output, p, Duration::from_secs(5))
                .map_or(0, |(_, h)| h)
        })
        .sum();
    Measured {
        seconds,
        cpu,
        rss,
        outputs,
        state_bytes: dir_size(&state),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let records = env("RILL_BENCH_RECORDS", 1_000_000);
    let keys = env("RILL_BENCH_KEYS", 1000);
    let partitions = env("RILL_BENCH_PARTITIONS", 24) as i32;
    let minutes = env("RILL_BENCH_MINUTES", 100);
    println!("{records} orders, {keys} keys, {partitions} partitions, {minutes} minutes of event time");
    let stateless = measure("stateless", records, keys, partitions, minutes);
    let window = measure("window", records, keys, partitions, minutes);
    for (name, m) in [("stateless pass-through", &stateless), ("windowed count", &window)] {
        println!(
            "{name:>24}: {:>9.0} records/s  {:6.2} s  {:5.2} CPU s  {:6.1} MiB peak RSS  {:>8} outputs  state {:.1} MiB",
            records as f64 / m.seconds,
            m.seconds,
            m.cpu,
            m.rss,
            m.outputs,
            m.state_bytes as f64 / (1 << 20) as f64
        );
    }
    // Closed windows: every key in every window whose end + grace the
    // stream has passed. Retention is size + grace, so a window leaves the
    // store (a changelog tombstone) when it closes: what is left at the end
    // is the open window of each key, whatever the length of the stream.
    let closed = (minutes.saturating_sub(1) / 10) * keys;
    println!(
        "windowed/stateless records/s: {:.2}; final results {} (expected {closed}); open windows left: {keys} \
         (one per key), state on disk {:.1} MiB for {minutes} minutes of input",
        stateless.seconds / window.seconds,
        window.outputs,
        window.state_bytes as f64 / (1 << 20) as f64
    );
}
