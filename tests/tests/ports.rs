//! Processors in other languages: each port of cpu-alert (Python,
//! JavaScript, C) must produce byte-identical output to the Rust one on the
//! same input, including which records go to the dead-letter topic; the C
//! port of cpu-peak the same peaks, byte for byte, as the Rust one.

use rill_host::metricbeat::{Expect, Generator};
use rill_tests::{DevBroker, install_plugin, multiset, produce, produce_timed, read_all, run_until_idle};
use std::collections::HashMap;

type Counts = HashMap<(Option<Vec<u8>>, Option<Vec<u8>>), usize>;

/// cpu records (some above 0.5, some without host) plus malformed ones,
/// keyed by index; and the alerts they must give.
fn inputs() -> (Vec<(Option<Vec<u8>>, Vec<u8>)>, Counts) {
    let mut generator = Generator::new(21);
    let mut records = Vec::new();
    let mut alerts = Vec::new();
    while records.len() < 2000 {
        let sample = generator.sample();
        let key = Some(format!("k{}", records.len()).into_bytes());
        match sample.expect {
            Expect::Cpu { pct, alert } => {
                if pct > 0.5 {
                    alerts.push((key.clone(), Some(alert.into_bytes())));
                }
                records.push((key, sample.value));
            }
            Expect::CpuWithoutHost | Expect::Malformed => records.push((key, sample.value)),
            Expect::Memory | Expect::Other => {}
        }
    }
    for (i, odd) in [
        &br#"{"system":{"cpu":{"total":{"norm":{"pct":"0.9"}}}},"host":{},"@timestamp":"t"}"#[..],
        br#"{"host":{"name":"\u2028x"},"@timestamp":1e-07,"system":{"cpu":{"total":{"norm":{"pct":0.75}}}}}"#,
    ]
    .into_iter()
    .enumerate()
    {
        records.push((Some(format!("odd{i}").into_bytes()), odd.to_vec()));
    }
    alerts.push((
        Some(b"odd1".to_vec()),
        Some(br#"{"name":"\u2028x","timestamp":1e-07}"#.to_vec()),
    ));
    (records, multiset(alerts))
}

/// Runs `plugin` (a directory in plugins/) as the cpu-alert stage; returns
/// its alerts and dead letters as (key, value) multisets.
fn run(plugin: &str) -> (Counts, Counts) {
    let broker = DevBroker::start(&[("metric.cpu", 3), ("metric.cpu.alert", 3), ("metric.cpu.dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), plugin);
    produce(&broker.bootstrap, "metric.cpu", &inputs().0);
    run_until_idle(
        &broker.bootstrap,
        &[&manifest],
        &format!("port-{plugin}"),
        &dir.path().join("state"),
    );
    let kv = |topic| multiset(read_all(&broker.bootstrap, topic).into_iter().map(|r| (r.key, r.value)));
    (kv("metric.cpu.alert"), kv("metric.cpu.dlq"))
}

#[test]
fn the_python_port_matches_the_rust_cpu_alert_byte_for_byte() {
    let (_, expected_alerts) = inputs();
    let (rust_alerts, rust_dead) = run("cpu-alert");
    assert_eq!(rust_alerts, expected_alerts, "the Rust plugin itself");
    assert!(
        rust_dead.values().sum::<usize>() > 50,
        "the input has malformed records"
    );
    let (python_alerts, python_dead) = run("cpu-alert-python");
    assert_eq!(python_alerts, rust_alerts, "alerts");
    assert_eq!(python_dead, rust_dead, "dead letters");
}

#[test]
fn the_javascript_port_matches_the_rust_cpu_alert_byte_for_byte() {
    let (rust_alerts, rust_dead) = run("cpu-alert");
    let (js_alerts, js_dead) = run("cpu-alert-js");
    assert_eq!(js_alerts, rust_alerts, "alerts");
    assert_eq!(js_dead, rust_dead, "dead letters");
}

#[test]
fn the_c_port_matches_the_rust_cpu_alert_byte_for_byte() {
    let (rust_alerts, rust_dead) = run("cpu-alert");
    let (c_alerts, c_dead) = run("cpu-alert-c");
    assert_eq!(c_alerts, rust_alerts, "alerts");
    assert_eq!(c_dead, rust_dead, "dead letters");
}

/// cpu-peak input with event times over ten minutes, on one partition so
/// the order of firings is fixed: hosts with float texts that stress number
/// formatting, plus records that are not metrics.
fn peak_inputs() -> Vec<(Option<String>, Option<String>, i64)> {
    const T0: i64 = 1_700_000_400_000;
    let pcts = ["0.1", "0.30000000000000004", "1e-7", "0.7", "1", "0.123456789012345678", "2.5E3", "0.5"];
    let mut records = Vec::new();
    for i in 0..200i64 {
        let host = format!(r"host-\u00e9{}", i % 7);
        let value = match i % 23 {
            5 => "not json".to_string(),
            9 => r#"{"host":{"name":"h"},"system":{"cpu":{"total":{"norm":{"pct":"0.9"}}}}}"#.to_string(),
            _ => format!(
                r#"{{"host":{{"name":"{host}"}},"system":{{"cpu":{{"total":{{"norm":{{"pct":{}}}}}}}}}}}"#,
                pcts[(i as usize * 5) % pcts.len()]
            ),
        };
        records.push((Some(format!("k{i}")), Some(value), T0 + i * 3_100));
    }
    records
}

/// Runs `plugin` as the cpu-peak stage on [`peak_inputs`]; returns its peaks
/// in order and its dead letters, as (key, value).
fn run_peaks(plugin: &str) -> (Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>, Counts) {
    let app = format!("port-{plugin}");
    let changelog = format!("{app}-peaks-changelog");
    let broker = DevBroker::start(&[
        ("metric.cpu", 1),
        ("metric.cpu.peak", 1),
        ("metric.cpu.peak.dlq", 1),
        (changelog.as_str(), 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), plugin);
    let inputs = peak_inputs();
    let records: Vec<(Option<&str>, Option<&str>, i64)> =
        inputs.iter().map(|(k, v, t)| (k.as_deref(), v.as_deref(), *t)).collect();
    produce_timed(&broker.bootstrap, "metric.cpu", &records);
    run_until_idle(&broker.bootstrap, &[&manifest], &app, &dir.path().join("state"));
    let mut peaks = read_all(&broker.bootstrap, "metric.cpu.peak");
    peaks.sort_by_key(|r| r.offset);
    let dead = multiset(read_all(&broker.bootstrap, "metric.cpu.peak.dlq").into_iter().map(|r| (r.key, r.value)));
    (peaks.into_iter().map(|r| (r.key, r.value)).collect(), dead)
}

#[test]
fn the_c_port_matches_the_rust_cpu_peak_byte_for_byte() {
    let (rust_peaks, rust_dead) = run_peaks("cpu-peak");
    assert!(rust_peaks.len() > 20, "the timer fired: {rust_peaks:?}");
    assert!(rust_dead.values().sum::<usize>() >= 10, "the input has malformed records");
    let (c_peaks, c_dead) = run_peaks("cpu-peak-c");
    assert_eq!(c_peaks, rust_peaks, "peaks");
    assert_eq!(c_dead, rust_dead, "dead letters");
}
