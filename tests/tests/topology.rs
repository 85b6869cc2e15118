//! Application files end to end: a repartition edge re-keys records through
//! `<application-id>-<from>-<output>-repartition` before a stateful
//! processor counts them, and the same application without the edge is
//! refused with the fix named.

use rill_tests::{DevBroker, component, install_plugin, multiset, produce, read_all, rill, wait_exit};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// `rekey` (the misbehave fixture keying each record by its value) reads
/// `in` and feeds order-count, which reads `orders-by-customer`.
fn install(dir: &Path, repartition: bool) -> std::path::PathBuf {
    std::fs::copy(component("fixture-misbehave"), dir.join("fixture-misbehave.wasm")).unwrap();
    std::fs::write(
        dir.join("rekey.toml"),
        "manifest-version = 1\nname = \"rekey\"\nversion = \"0.1.0\"\ncomponent = \"fixture-misbehave.wasm\"\n\
         dead-letter = \"rekey.dlq\"\n[[inputs]]\ntopic = \"in\"\n[outputs]\nout = \"orders-by-customer\"\n\
         [config]\npoison = \"error\"\nrekey = true\n",
    )
    .unwrap();
    let count = install_plugin(dir, "order-count");
    let text = std::fs::read_to_string(&count)
        .unwrap()
        .replace("topic = \"order\"", "topic = \"orders-by-customer\"");
    std::fs::write(&count, text).unwrap();
    let app = dir.join("app.toml");
    std::fs::write(
        &app,
        format!(
            "app-version = 1\n[[processors]]\nmanifest = \"rekey.toml\"\n[[processors]]\nmanifest = \"order-count/plugin.toml\"\n\
             [[connections]]\nfrom = \"rekey.out\"\nto = \"order-count\"\nwrite = false\nrepartition = {repartition}\n"
        ),
    )
    .unwrap();
    app
}

#[test]
fn a_repartition_edge_counts_each_new_key_on_one_task() {
    // The dev broker cannot create topics: every one the plan creates is here.
    let broker = DevBroker::start(&[
        ("in", 3),
        ("rekey.dlq", 3),
        ("shop-rekey-out-repartition", 3),
        ("order_count", 3),
        ("order.count.dlq", 3),
        ("shop-counts-changelog", 3),
    ]);
    let customers = ["alice", "bob", "carol", "dave", "erin"];
    // Keyed by order id, so one customer's orders are spread over every
    // partition of `in` until rekey re-keys them by customer.
    let orders: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..600)
        .map(|i| {
            (
                Some(format!("order-{i}").into_bytes()),
                customers[i * 7 % customers.len()].as_bytes().to_vec(),
            )
        })
        .collect();
    produce(&broker.bootstrap, "in", &orders);
    let dir = tempfile::tempdir().unwrap();
    let app = install(dir.path(), true);
    let mut child = rill()
        .arg("run")
        .arg(&app)
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "shop",
            "--threads",
            "2",
        ])
        .args(["--stop-when-idle", "3s", "--log-level", "warn", "--state-dir"])
        .arg(dir.path().join("state"))
        .spawn()
        .unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(120)).success());

    let through = read_all(&broker.bootstrap, "shop-rekey-out-repartition");
    assert_eq!(
        through.len(),
        orders.len(),
        "every order went through the repartition topic once"
    );
    for record in &through {
        assert_eq!(record.key, record.value, "re-keyed by customer");
    }
    // Each customer's counts come from one task: 1, 2, ... n, in order.
    let mut counts: HashMap<String, Vec<u64>> = HashMap::new();
    for record in read_all(&broker.bootstrap, "order_count") {
        let text = String::from_utf8(record.value.unwrap()).unwrap();
        let (customer, n) = text.split_once(':').unwrap();
        counts.entry(customer.to_string()).or_default().push(n.parse().unwrap());
    }
    let expected = multiset(orders.iter().map(|(_, v)| String::from_utf8(v.clone()).unwrap()));
    for (customer, n) in &expected {
        let mut seen = counts[customer].clone();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=*n as u64).collect::<Vec<_>>(),
            "{customer}: one count per order"
        );
    }
}

#[test]
fn without_the_repartition_edge_the_application_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let app = install(dir.path(), false);
    let output = rill()
        .arg("run")
        .arg(&app)
        .args(["--brokers", "127.0.0.1:1", "--application-id", "shop"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("app.toml: `connections[0].repartition`"), "{stderr}");
    assert!(stderr.contains("fix: add repartition = true"), "{stderr}");
}

/// order-count (a store) feeding `fwd` (the misbehave fixture passing
/// records through) in memory: `order_count` stays internal, `fwd` writes
/// `counts.out`.
fn install_stateful_head(dir: &Path) -> std::path::PathBuf {
    std::fs::copy(component("fixture-misbehave"), dir.join("fixture-misbehave.wasm")).unwrap();
    std::fs::write(
        dir.join("fwd.toml"),
        "manifest-version = 1\nname = \"fwd\"\nversion = \"0.1.0\"\ncomponent = \"fixture-misbehave.wasm\"\n\
         dead-letter = \"fwd.dlq\"\n[[inputs]]\ntopic = \"order_count\"\n[outputs]\nout = \"counts.out\"\n\
         [config]\npoison = \"error\"\n",
    )
    .unwrap();
    install_plugin(dir, "order-count");
    let app = dir.join("app.toml");
    std::fs::write(
        &app,
        "app-version = 1\n[[processors]]\nmanifest = \"order-count/plugin.toml\"\n[[processors]]\nmanifest = \"fwd.toml\"\n\
         [[connections]]\nfrom = \"order-count.counts\"\nto = \"fwd\"\nwrite = false\n",
    )
    .unwrap();
    app
}

#[test]
fn a_stateful_first_stage_keeps_its_store_and_restores_it_from_the_changelog_in_a_chain() {
    let broker = DevBroker::start(&[
        ("order", 2),
        ("order.count.dlq", 2),
        ("fwd.dlq", 2),
        ("counts.out", 2),
        ("chained-counts-changelog", 2),
    ]);
    let orders = |n: usize| -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    Some(["alice", "bob", "carol"][i % 3].as_bytes().to_vec()),
                    b"order".to_vec(),
                )
            })
            .collect()
    };
    produce(&broker.bootstrap, "order", &orders(30));
    let dir = tempfile::tempdir().unwrap();
    let app = install_stateful_head(dir.path());
    rill_tests::run_until_idle(&broker.bootstrap, &[&app], "chained", &dir.path().join("state-1"));
    assert_eq!(read_all(&broker.bootstrap, "counts.out").len(), 30);
    // One changelog record per key and batch (the latest value).
    let changelog = read_all(&broker.bootstrap, "chained-counts-changelog").len() as u64;
    assert!((3..=30).contains(&changelog), "{changelog} changelog records");

    // A new instance on an empty state dir restores the store from the
    // changelog, and the counts go on from there.
    produce(&broker.bootstrap, "order", &orders(6));
    let log = rill_tests::run_until_idle(&broker.bootstrap, &[&app], "chained", &dir.path().join("state-2"));
    assert_eq!(rill_tests::restored_records(&log), changelog, "{log}");
    let mut last: HashMap<String, u64> = HashMap::new();
    for record in read_all(&broker.bootstrap, "counts.out") {
        let text = String::from_utf8(record.value.unwrap()).unwrap();
        let (customer, n) = text.split_once(':').unwrap();
        let n: u64 = n.parse().unwrap();
        let previous = last.insert(customer.to_string(), n).unwrap_or(0);
        assert_eq!(n, previous + 1, "{customer}: counts go on from the restored store");
    }
    assert_eq!(last["alice"], 12);
    assert_eq!(last.values().sum::<u64>(), 36);
}
