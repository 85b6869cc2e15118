//! `cargo bench -p rill-tests --bench pipeline`: the seed notes' metricbeat
//! pipeline end to end, rill (`apps/metrics.toml`: metric-branch feeding
//! cpu-alert in memory, the real Wasm plugins, the real binary) against
//! the native baseline a user would otherwise write (`native-metrics`: one
//! rdkafka consume loop, one JSON parse per record, same client settings),
//! and against the ceiling (`native-passthrough`: the same client settings
//! and loop copying every input record unchanged to one output topic, no
//! parse), as issue 23 asks.
//!
//! Each run gets a fresh embedded broker with the same pre-loaded
//! `metric.all`, and is timed from process start until the group's
//! committed offsets cover every input record (both commit only after their
//! outputs are acknowledged). Prints records/s, CPU seconds and peak RSS of
//! each, rill's ratios to both baselines, and where rill's time goes per
//! record.
//!
//! After each timed run (outside the timed window), every output and
//! dead-letter topic is read back from the run's broker, and the bench fails
//! unless rill wrote exactly the records native did: per topic as multisets
//! of (key, value) bytes, and, since both produce with the same settings
//! (`KafkaSettings::producer`: murmur2 of the key) and keep each input
//! partition's order, per partition in offset order too. The first differing
//! record is shown (topic, partition, key, both values as text).
//!
//! Environment: RILL_BENCH_RECORDS (default 300000; the dev broker keeps
//! about 5 MiB per partition), RILL_BENCH_ROUNDS (3),
//! RILL_BENCH_PARTITIONS (12), RILL_BENCH_COMMIT_MS (1000), RILL_BENCH_THREADS
//! (rill's worker threads, 2), RILL_BENCH_PERF (a file prefix: record a
//! CPU profile of each rill run with `perf record`), RILL_BENCH_RILL_ARGS
//! (extra `rill run` arguments, split at spaces, e.g.
//! `--buffered-records-per-partition 500`, for trying a setting).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, TopicPartitionList};
use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::metricbeat::{Generator, TOPICS};
use rill_tests::Received;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of one program measured.
struct Measured {
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_mib: f64,
    /// rill's exit log (JSON lines), for the breakdown.
    log: String,
    /// Records written per output and dead-letter topic.
    written: Vec<(&'static str, i64)>,
    /// What native and rill wrote, for comparing records (not kept for the
    /// pass-through, which copies by design); taken once compared.
    outputs: Option<Outputs>,
}

/// Every record one program wrote, per output and dead-letter topic, in
/// partition and offset order.
type Outputs = Vec<(&'static str, Vec<Received>)>;

/// Reads back every output and dead-letter topic of a finished run: one
/// consumer per topic, up to the high watermarks.
fn read_outputs(brokers: &str) -> Outputs {
    rill_host::metricbeat::written_topics()
        .iter()
        .map(|topic| {
            let mut records = rill_tests::read_all(brokers, topic);
            records.sort_by_key(|r| (r.partition, r.offset));
            (*topic, records)
        })
        .collect()
}

/// A key or value as text, for the failure message.
fn text(bytes: Option<&[u8]>) -> Cow<'_, str> {
    bytes.map_or(Cow::Borrowed("<null>"), String::from_utf8_lossy)
}

/// A record's (key, value), what the multisets count.
fn pair(r: &Received) -> (Option<&[u8]>, Option<&[u8]>) {
    (r.key.as_deref(), r.value.as_deref())
}

/// The value of the record of `key` on one side, as text: keys are unique
/// per input record, so it is the other side's counterpart of a record.
fn value_of<'a>(side: &'a [Received], key: Option<&[u8]>) -> Cow<'a, str> {
    side.iter()
        .find(|o| o.key.as_deref() == key)
        .map_or(Cow::Borrowed("<missing>"), |o| text(o.value.as_deref()))
}

/// The first record native and rill disagree on, described, or `None` when
/// they wrote the same records: per topic as multisets of (key, value), then
/// per partition in offset order.
fn first_difference(native: &Outputs, rill: &Outputs) -> Option<String> {
    for ((topic, ours), (_, theirs)) in native.iter().zip(rill) {
        let mut counts: HashMap<(Option<&[u8]>, Option<&[u8]>), i64> = HashMap::new();
        for r in ours {
            *counts.entry(pair(r)).or_default() += 1;
        }
        for r in theirs {
            *counts.entry(pair(r)).or_default() -= 1;
        }
        if let Some(r) = ours.iter().chain(theirs).find(|r| counts[&pair(r)] != 0) {
            let key = r.key.as_deref();
            return Some(format!(
                "{topic} (as multisets), partition {}, key {}: native {} / rill {}",
                r.partition,
                text(key),
                value_of(ours, key),
                value_of(theirs, key)
            ));
        }
        if let Some((a, b)) = ours
            .iter()
            .zip(theirs)
            .find(|(a, b)| (a.partition, pair(a)) != (b.partition, pair(b)))
        {
            return Some(format!(
                "{topic} (per partition in offset order), partition {} offset {}, key {}: native {} / rill partition {} offset {}, key {}: {}",
                a.partition,
                a.offset,
                text(a.key.as_deref()),
                text(a.value.as_deref()),
                b.partition,
                b.offset,
                text(b.key.as_deref()),
                text(b.value.as_deref())
            ));
        }
    }
    None
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Sum of the group's committed offsets on `metric.all`.
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

/// Where rill keeps state and compiled plugins across rounds: after the
/// first round it starts with a warm compile cache, as a restarted rill does.
fn state_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// Starts one of the native baselines (same arguments for both).
fn native(program: &str, brokers: &str, group: &str, commit_ms: usize) -> Child {
    Command::new(program)
        .args([brokers, group, &commit_ms.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn measure(mode: &str, round: usize, records: &[Vec<u8>], partitions: i32, commit_ms: usize) -> Measured {
    let broker = EmbeddedBroker::start(1).unwrap();
    for topic in TOPICS {
        broker.create_topic(topic, partitions).unwrap();
    }
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    // Keyed, so the records spread evenly over the partitions.
    let keys: Vec<Vec<u8>> = (0..records.len()).map(|i| format!("k{i}").into_bytes()).collect();
    rill_host::kafka::produce_all(
        &kafka,
        "metric.all",
        keys.iter()
            .zip(records)
            .map(|(k, v)| (Some(k.as_slice()), v.as_slice())),
    )
    .unwrap();
    // The dev broker keeps about 5 MiB per partition: a run over records it
    // already dropped would not be the same work for both programs.
    let probe: BaseConsumer = kafka.reader().create().unwrap();
    for p in 0..partitions {
        let (low, _) = probe.fetch_watermarks("metric.all", p, Duration::from_secs(5)).unwrap();
        assert_eq!(
            low, 0,
            "the broker dropped records of metric.all/{p}: use fewer records or more partitions"
        );
    }
    let group = format!("bench-{mode}-{round}");
    let dir = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let mut child: Child = match mode {
        "native" => native(env!("CARGO_BIN_EXE_native-metrics"), &kafka.brokers, &group, commit_ms),
        "passthrough" => native(
            env!("CARGO_BIN_EXE_native-passthrough"),
            &kafka.brokers,
            &group,
            commit_ms,
        ),
        _ => rill_tests::rill()
            .arg("run")
            .arg(rill_tests::install_metrics_app(dir.path()))
            .args([
                "--brokers",
                &kafka.brokers,
                "--application-id",
                &group,
                "--threads",
                &env("RILL_BENCH_THREADS", 2).to_string(),
            ])
            .args(["--commit-interval", &format!("{commit_ms}ms")])
            .args(["--log-format", "json", "--log-level", "info", "--state-dir"])
            .arg(state_dir())
            .args(std::env::var("RILL_BENCH_RILL_ARGS").unwrap_or_default().split_whitespace())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    };
    let pid = child.id();
    // RILL_BENCH_PERF=<file prefix>: a CPU profile of rill's run (software
    // clock samples with DWARF call graphs: rill is built without frame
    // pointers), for `perf report -i <prefix>-<round>`.
    let mut profiler = std::env::var("RILL_BENCH_PERF")
        .ok()
        .filter(|_| mode == "rill")
        .map(|prefix| {
            Command::new("perf")
                .args(["record", "-q", "-e", "cpu-clock", "-F", "299", "--call-graph", "dwarf,8192", "-p", &pid.to_string(), "-o"])
                .arg(format!("{prefix}-{round}"))
                .stdout(Stdio::null())
                .spawn()
                .expect("RILL_BENCH_PERF needs perf (Debian's linux-perf)")
        });
    // Drain rill's log as it comes so a full pipe never blocks it.
    let log_reader = child.stderr.take().map(|mut stderr| {
        std::thread::spawn(move || {
            let mut log = String::new();
            let _ = stderr.read_to_string(&mut log);
            log
        })
    });
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let total = records.len() as i64;
    let mut last = (0.0, 0.0);
    let seconds = loop {
        if committed(&watcher, partitions) >= total {
            break started.elapsed().as_secs_f64();
        }
        last = rill_tests::usage(pid);
        assert!(started.elapsed() < Duration::from_secs(600), "{mode} did not finish");
        assert!(child.try_wait().unwrap().is_none(), "{mode} exited early");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (cpu_seconds, peak_rss_mib) = match rill_tests::usage(pid) {
        (0.0, _) => last,
        now => now,
    };
    if let Some(mut perf) = profiler.take() {
        rill_tests::terminate(&mut perf);
        let _ = perf.wait();
    }
    rill_tests::terminate(&mut child);
    let _ = child.wait();
    let written = rill_host::metricbeat::written_topics()
        .iter()
        .map(|topic| {
            let count = (0..partitions)
                .map(|p| {
                    watcher
                        .fetch_watermarks(topic, p, Duration::from_secs(5))
                        .map_or(0, |(_, high)| high)
                })
                .sum();
            (*topic, count)
        })
        .collect();
    let outputs = (mode != "passthrough").then(|| read_outputs(&kafka.brokers));
    let log = log_reader.map(|r| r.join().unwrap()).unwrap_or_default();
    if let Ok(path) = std::env::var("RILL_BENCH_LOG") {
        std::fs::write(path, &log).unwrap();
    }
    Measured {
        seconds,
        cpu_seconds,
        peak_rss_mib,
        log,
        written,
        outputs,
    }
}

/// A numeric field of the JSON log lines whose message starts with `prefix`,
/// summed over those lines, by the value of `key` (e.g. the processor).
fn log_fields(log: &str, prefix: &str, key: &str, field: &str) -> Vec<(String, f64)> {
    let mut found = Vec::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        // `--log-format json` flattens event fields to the top level.
        let fields = &v;
        if !fields["message"].as_str().is_some_and(|m| m.starts_with(prefix)) {
            continue;
        }
        let name = fields[key].as_str().unwrap_or_default().to_string();
        let value = fields[field].as_f64().unwrap_or(0.0);
        found.push((name, value));
    }
    found
}

fn main() {
    let (n, rounds, partitions, commit_ms) = (
        env("RILL_BENCH_RECORDS", 300_000),
        env("RILL_BENCH_ROUNDS", 3),
        env("RILL_BENCH_PARTITIONS", 12) as i32,
        env("RILL_BENCH_COMMIT_MS", 1000),
    );
    let mut generator = Generator::new(1);
    let records: Vec<Vec<u8>> = (0..n).map(|_| generator.sample().value).collect();
    println!(
        "seed metrics pipeline: {n} metricbeat records pre-loaded on {partitions} partitions, commit every {commit_ms} ms, \
         {rounds} rounds; timed from process start until every input offset is committed"
    );
    let mut results: HashMap<&str, Vec<Measured>> = HashMap::new();
    // Alternate so drift on a shared machine hits both alike.
    for round in 0..rounds {
        for mode in ["native", "passthrough", "rill"] {
            let m = measure(mode, round, &records, partitions, commit_ms);
            println!(
                "round {round} {mode:>6}: {:.2} s = {:>7.0} records/s, cpu {:.2} s, peak RSS {:.0} MiB",
                m.seconds,
                n as f64 / m.seconds,
                m.cpu_seconds,
                m.peak_rss_mib
            );
            results.entry(mode).or_default().push(m);
        }
        // The same work: every output and dead-letter topic got as many records.
        let (native, rill) = (&results["native"][round].written, &results["rill"][round].written);
        assert_eq!(native, rill, "the baseline and rill wrote different record counts");
        // The same records: taken out, so only one round's are ever held.
        let mut take = |mode: &str| results.get_mut(mode).unwrap()[round].outputs.take().unwrap();
        let (native, rill) = (take("native"), take("rill"));
        if let Some(difference) = first_difference(&native, &rill) {
            panic!("the baseline and rill wrote different records: {difference}");
        }
        let compared: usize = native.iter().map(|(_, records)| records.len()).sum();
        println!(
            "round {round}: rill wrote the same {compared} records as native (per topic as multisets of key and value, \
             and per partition in offset order)"
        );
        // The ceiling copied every input record to metric.cpu and nothing else.
        let copied: Vec<(&str, i64)> = rill_host::metricbeat::written_topics()
            .iter()
            .map(|topic| (*topic, if *topic == "metric.cpu" { n as i64 } else { 0 }))
            .collect();
        assert_eq!(
            results["passthrough"][round].written, copied,
            "the pass-through did not copy every input record once"
        );
    }
    let median = |mode: &str, f: &dyn Fn(&Measured) -> f64| {
        let mut v: Vec<f64> = results[mode].iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate = |m: &Measured| n as f64 / m.seconds;
    let (native, rill) = (median("native", &rate), median("rill", &rate));
    let (native_rss, rill_rss) = (
        median("native", &|m| m.peak_rss_mib),
        median("rill", &|m| m.peak_rss_mib),
    );
    let (native_cpu, rill_cpu) = (median("native", &|m| m.cpu_seconds), median("rill", &|m| m.cpu_seconds));
    let (copy, copy_cpu, copy_rss) = (
        median("passthrough", &rate),
        median("passthrough", &|m| m.cpu_seconds),
        median("passthrough", &|m| m.peak_rss_mib),
    );
    println!(
        "\n{:<8} {:>12} {:>10} {:>12}",
        "median", "records/s", "cpu s", "peak RSS MiB"
    );
    println!("{:<8} {native:>12.0} {native_cpu:>10.2} {native_rss:>12.0}", "native");
    println!("{:<8} {rill:>12.0} {rill_cpu:>10.2} {rill_rss:>12.0}", "rill");
    println!("{:<8} {copy:>12.0} {copy_cpu:>10.2} {copy_rss:>12.0}", "passthru");
    println!(
        "rill / native: records/s {:.2} (target >= 0.9, goal 1.0), peak RSS {:.2} (target <= 1.2), cpu {:.2} (target <= 1.2)",
        rill / native,
        rill_rss / native_rss,
        rill_cpu / native_cpu
    );
    println!(
        "rill / pass-through (ceiling: no parse, one copy per record): records/s {:.2}, peak RSS {:.2}, cpu {:.2}",
        rill / copy,
        rill_rss / copy_rss,
        rill_cpu / copy_cpu
    );

    // Where rill's time went, per source record, from its exit log (last round).
    let log = &results["rill"].last().expect("a rill round").log;
    let looped = |field: &str| {
        log_fields(log, "poll loop per source record", "", field)
            .first()
            .map_or(0.0, |(_, v)| *v)
    };
    let source = looped("records").max(1.0);
    let us = |nanos: f64| nanos / source / 1e3;
    println!("\nrill, per source record (us; threads overlap, so these add up to more than wall time / record):");
    println!(
        "  {:<28} {:>6.2}  (librdkafka handing over fetched records)",
        "poll",
        us(looped("poll_ns"))
    );
    println!(
        "  {:<28} {:>6.2}  (message -> owned input record)",
        "copy in",
        us(looped("copy_in_ns"))
    );
    println!(
        "  {:<28} {:>6.2}  (timestamp order, batches to workers)",
        "dispatch",
        us(looped("dispatch_ns"))
    );
    println!(
        "  {:<28} {:>6.2}  (part of dispatch: blocked on full worker queues)",
        "  of which waiting",
        us(looped("dispatch_wait_ns"))
    );
    let calls = log_fields(log, "processed", "processor", "calls");
    let inputs = log_fields(log, "processed", "processor", "records_in");
    for (name, plugin) in log_fields(log, "processed", "processor", "plugin_ns") {
        let of = |list: &[(String, f64)]| list.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, v)| *v);
        println!(
            "  {:<28} {:>6.2}  (Wasm call incl. canonical-ABI copies; {:.0} records per call)",
            format!("plugin {name}"),
            us(plugin),
            of(&inputs) / of(&calls).max(1.0)
        );
    }
    for (name, parse) in log_fields(log, "processed", "processor", "parse_ns") {
        if parse > 0.0 {
            println!(
                "  {:<28} {:>6.2}  (the host parsing values for [fields], once per chain)",
                format!("parse {name}"),
                us(parse)
            );
        }
    }
    for (name, produce) in log_fields(log, "processed", "processor", "produce_ns") {
        println!(
            "  {:<28} {:>6.2}  (routing, copy out into librdkafka, dead letters)",
            format!("produce {name}"),
            us(produce)
        );
    }
    println!(
        "  {:<28} {:>6.2}  (synchronous offset commits)",
        "commit",
        us(looped("commit_ns"))
    );
}
