//! Hot swap under load: cpu-alert v1 (threshold 0.5) is replaced by v2
//! (threshold 0.7) by writing a new manifest while records flow. Per
//! partition the alerts follow v1 up to some offset and v2 after it, every
//! input is accounted for exactly once, and the group never rebalances.
//! Bad files are refused with a log line naming them; a later good one wins.

use rill_host::metricbeat::{Expect, Generator};
use rill_tests::{DevBroker, Received, install_metrics_app, install_plugin, produce, read_all, rill, terminate};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOPICS: [(&str, i32); 3] = [("metric.cpu", 2), ("metric.cpu.alert", 2), ("metric.cpu.dlq", 2)];

fn start(broker: &DevBroker, manifest: &Path, dir: &Path) -> (Child, std::path::PathBuf) {
    let log = dir.join("rill.log");
    let child = rill()
        .arg("run")
        .arg(manifest)
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "swap",
            "--batch-size",
            "50",
            "--state-dir",
        ])
        .arg(dir.join("state"))
        .stderr(std::fs::File::create(&log).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    (child, log)
}

fn wait_for_log(log: &Path, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "log never said {needle:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Replaces `path` the safe way: write a temporary file, rename it over.
fn deploy(path: &Path, contents: &[u8]) {
    let temporary = path.with_extension("tmp-deploy");
    std::fs::write(&temporary, contents).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn v2(manifest: &str) -> String {
    manifest
        .replace("version = \"0.1.0\"", "version = \"0.2.0\"")
        .replace("threshold = 0.5", "threshold = 0.7")
}

/// Runs `processors` (a manifest or an application file) while rounds of
/// cpu records go to `topic`, deploys v2 of `manifest` a third of the way
/// in, waits for the swap, lets the tail drain and stops cleanly; checks the
/// group never rebalanced. Returns each record's usage by key.
fn swap_under_load(
    broker: &DevBroker,
    dir: &Path,
    processors: &Path,
    manifest: &Path,
    topic: &str,
    seed: u64,
) -> HashMap<Vec<u8>, f64> {
    let (mut rill, log) = start(broker, processors, dir);
    wait_for_log(&log, "task running", Duration::from_secs(30));
    let (rounds, pct_of) = cpu_rounds(seed, 40);
    let text = std::fs::read_to_string(manifest).unwrap();
    for (i, round) in rounds.iter().enumerate() {
        produce(&broker.bootstrap, topic, round);
        if i == 15 {
            deploy(manifest, v2(&text).as_bytes());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let swapped = wait_for_log(&log, "hot swap of cpu-alert: 0.1.0+", Duration::from_secs(30));
    assert!(swapped.contains("-> 0.2.0+"), "{swapped}");
    // Let the tail drain, then stop cleanly.
    std::thread::sleep(Duration::from_secs(2));
    terminate(&mut rill);
    assert!(rill.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("partitions assigned").count(), 1, "no rebalance:\n{text}");
    assert_eq!(
        text.matches("partitions revoked").count(),
        1,
        "only the shutdown revokes:\n{text}"
    );
    pct_of
}

#[test]
fn a_swap_under_load_switches_each_partition_once_and_loses_nothing() {
    let broker = DevBroker::start(&TOPICS);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "cpu-alert");
    let pct_of = swap_under_load(&broker, dir.path(), &manifest, &manifest, "metric.cpu", 5);
    let inputs = read_all(&broker.bootstrap, "metric.cpu");
    let alerts = read_all(&broker.bootstrap, "metric.cpu.alert");
    switched_once_per_partition(&inputs, &alerts, &pct_of, 2);
}

/// cpu records keyed `k<n>`, in rounds of 100, and each one's usage.
fn cpu_rounds(seed: u64, rounds: usize) -> (Vec<Vec<(Option<Vec<u8>>, Vec<u8>)>>, HashMap<Vec<u8>, f64>) {
    let mut generator = Generator::new(seed);
    let mut pct_of: HashMap<Vec<u8>, f64> = HashMap::new();
    let mut all = Vec::new();
    while all.len() < rounds {
        let mut round = Vec::new();
        while round.len() < 100 {
            let sample = generator.sample();
            if let Expect::Cpu { pct, .. } = sample.expect {
                let key = format!("k{}", pct_of.len()).into_bytes();
                pct_of.insert(key.clone(), pct);
                round.push((Some(key), sample.value));
            }
        }
        all.push(round);
    }
    (all, pct_of)
}

/// Per input partition, in offset order, alerts follow v1 (threshold 0.5)
/// up to some record and v2 (0.7) after it; no alert is duplicated; both
/// versions processed records.
fn switched_once_per_partition(
    inputs: &[Received],
    alerts: &[Received],
    pct_of: &HashMap<Vec<u8>, f64>,
    partitions: i32,
) {
    let mut alerted: HashMap<Vec<u8>, usize> = HashMap::new();
    for alert in alerts {
        *alerted.entry(alert.key.clone().unwrap()).or_default() += 1;
    }
    assert!(alerted.values().all(|n| *n == 1), "no alert is duplicated");
    let (mut by_v1, mut by_v2) = (0, 0);
    for partition in 0..partitions {
        let mut records: Vec<_> = inputs.iter().filter(|r| r.partition == partition).collect();
        records.sort_by_key(|r| r.offset);
        let mut switched = false;
        for record in records {
            let key = record.key.clone().unwrap();
            let (pct, fired) = (pct_of[&key], alerted.contains_key(&key));
            if pct <= 0.5 {
                assert!(!fired, "no version alerts at {pct}");
            } else if pct > 0.7 {
                assert!(fired, "both versions alert at {pct} (offset {})", record.offset);
            } else if fired {
                assert!(
                    !switched,
                    "partition {partition}: v1 behaviour at offset {} after v2 was seen",
                    record.offset
                );
                by_v1 += 1;
            } else {
                switched = true;
                by_v2 += 1;
            }
        }
    }
    assert!(
        by_v1 > 0 && by_v2 > 0,
        "both versions processed records ({by_v1} by v1, {by_v2} by v2)"
    );
}

#[test]
fn the_second_processor_of_an_application_swaps_under_load_in_its_chain() {
    let broker = DevBroker::start(&rill_host::metricbeat::TOPICS.map(|t| (t, 2)));
    let dir = tempfile::tempdir().unwrap();
    let app = install_metrics_app(dir.path());
    let manifest = dir.path().join("cpu-alert/plugin.toml");
    let pct_of = swap_under_load(&broker, dir.path(), &app, &manifest, "metric.all", 6);

    // cpu-alert saw metric.all's records in memory, in its offset order.
    let inputs = read_all(&broker.bootstrap, "metric.all");
    assert_eq!(
        read_all(&broker.bootstrap, "metric.cpu").len(),
        inputs.len(),
        "metric.cpu still written, once each"
    );
    let alerts = read_all(&broker.bootstrap, "metric.cpu.alert");
    switched_once_per_partition(&inputs, &alerts, &pct_of, 2);
}

#[test]
fn bad_files_are_refused_and_a_later_good_one_is_taken() {
    let broker = DevBroker::start(&TOPICS);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "cpu-alert");
    let wasm = manifest.with_file_name("cpu-alert.wasm");
    let good = std::fs::read(&wasm).unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (mut rill, log) = start(&broker, &manifest, dir.path());
    wait_for_log(&log, "task running", Duration::from_secs(30));

    deploy(&wasm, b"\0asm\x01\0\0\0");
    wait_for_log(
        &log,
        "cpu-alert.wasm: not a WebAssembly component: it is a core WebAssembly module",
        Duration::from_secs(10),
    );

    deploy(
        &manifest,
        text.replace("topic = \"metric.cpu\"", "topic = \"metric.gpu\"")
            .as_bytes(),
    );
    wait_for_log(&log, "`inputs` changed", Duration::from_secs(10));

    deploy(&manifest, v2(&text).as_bytes());
    deploy(&wasm, &good);
    let swapped = wait_for_log(&log, "hot swap of cpu-alert", Duration::from_secs(10));
    assert!(swapped.contains("-> 0.2.0+"), "{swapped}");
    assert_eq!(
        swapped.matches("hot swap of").count(),
        1,
        "only the good file was installed:\n{swapped}"
    );
    terminate(&mut rill);
    assert!(rill.wait().unwrap().success());
}
