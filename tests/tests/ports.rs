//! Processors in other languages: each port of cpu-alert must produce
//! byte-identical output to the Rust one on the same input, including which
//! records go to the dead-letter topic.

use rill_host::metricbeat::{Expect, Generator};
use rill_tests::{DevBroker, install_plugin, multiset, produce, read_all, run_until_idle};
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
