//! The seed notes' join examples end to end: KStream-KTable join of `order`
//! with `address`, the address change to LA, restarts with and without the
//! state dir, the GlobalKTable variant, and the co-partitioning refusal.

use rill_tests::{
    DevBroker, committed, install_manifest, install_plugin, produce, produce_at, read_all,
    restored_records as restored, rill, run_until_idle, wait_exit,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn keyed(pairs: &[(&str, &str)]) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    pairs
        .iter()
        .map(|(k, v)| (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()))
        .collect()
}

fn run(broker: &DevBroker, manifest: &Path, state: &Path, app: &str) -> String {
    run_until_idle(&broker.bootstrap, &[manifest], app, state)
}

/// `order_join` as "key:value" lines, in partition and offset order.
fn joined(broker: &DevBroker) -> Vec<String> {
    let mut records = read_all(&broker.bootstrap, "order_join");
    records.sort_by_key(|r| (r.partition, r.offset));
    records
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                String::from_utf8_lossy(r.key.as_deref().unwrap()),
                String::from_utf8_lossy(r.value.as_deref().unwrap())
            )
        })
        .collect()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

#[test]
fn ktable_join_follows_the_seed_including_the_address_change_and_restarts() {
    let broker = DevBroker::start(&[("order", 3), ("address", 3), ("order_join", 3), ("order.dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-join");
    let state = dir.path().join("state");

    // The seed: addresses first, then orders.
    produce(
        &broker.bootstrap,
        "address",
        &keyed(&[("jihun", "Seoul"), ("gildong", "Newyork")]),
    );
    produce(
        &broker.bootstrap,
        "order",
        &keyed(&[("gildong", "Galaxy"), ("jihun", "iPhone")]),
    );
    let first = run(&broker, &manifest, &state, "order-join-application");
    assert_eq!(
        sorted(joined(&broker)),
        ["gildong:Galaxy send to Newyork", "jihun:iPhone send to Seoul"]
    );
    // A new application has committed nothing: the address topic is
    // processed as input, interleaved with the orders, not restored.
    assert_eq!(restored(&first), 0, "{}", first);

    // jihun moves to LA; his next order goes there. Restart with the state
    // dir kept: the new address record is input too (past the commit), so
    // nothing is restored.
    produce(&broker.bootstrap, "address", &keyed(&[("jihun", "LA")]));
    produce(&broker.bootstrap, "order", &keyed(&[("jihun", "G-Wagon")]));
    let second = run(&broker, &manifest, &state, "order-join-application");
    assert_eq!(restored(&second), 0, "the local table is up to date:\n{}", second);
    let lines = joined(&broker);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.contains(&"jihun:G-Wagon send to LA".to_string()), "{lines:?}");

    // A clean restart with nothing new restores nothing.
    let third = run(&broker, &manifest, &state, "order-join-application");
    assert_eq!(restored(&third), 0, "{}", third);
    assert!(third.contains("nothing to restore"), "{}", third);

    // The state dir deleted: the table comes back from the address topic,
    // up to the committed offset (all three records).
    std::fs::remove_dir_all(&state).unwrap();
    produce(
        &broker.bootstrap,
        "order",
        &keyed(&[("gildong", "Porsche"), ("jihun", "Bike")]),
    );
    let fourth = run(&broker, &manifest, &state, "order-join-application");
    assert_eq!(restored(&fourth), 3, "{}", fourth);
    let lines = joined(&broker);
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(
        lines.contains(&"gildong:Porsche send to Newyork".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"jihun:Bike send to LA".to_string()), "{lines:?}");
}

/// Kafka Streams' answer for pre-loaded topics: a new application processes
/// the table's topic interleaved with the stream by timestamp, so each
/// order joins the address it had at the order's time, not the latest one.
#[test]
fn a_preloaded_backfill_joins_each_order_with_the_address_of_its_time() {
    let broker = DevBroker::start(&[("order", 3), ("address", 3), ("order_join", 3), ("order.dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-join");
    produce_at(
        &broker.bootstrap,
        "address",
        &[
            ("jihun", Some("Seoul"), 1000),
            ("gildong", Some("Newyork"), 1001),
            ("jihun", Some("LA"), 3000),
            ("gildong", None, 4500),
        ],
    );
    produce_at(
        &broker.bootstrap,
        "order",
        &[
            ("gildong", Some("Galaxy"), 2000),
            ("jihun", Some("iPhone"), 2001),
            ("nobody", Some("Bike"), 2002),
            ("jihun", Some("G-Wagon"), 4000),
            ("gildong", Some("Porsche"), 5000),
        ],
    );
    let log = run(&broker, &manifest, &dir.path().join("state"), "order-join-backfill");
    assert_eq!(
        sorted(joined(&broker)),
        [
            "gildong:Galaxy send to Newyork",
            "jihun:G-Wagon send to LA",
            "jihun:iPhone send to Seoul"
        ],
        "{log}"
    );
    assert_eq!(restored(&log), 0, "{log}");
}

#[test]
fn global_table_join_follows_the_seed() {
    let broker = DevBroker::start(&[
        ("order", 3),
        ("address_v2", 2),
        ("order_join", 3),
        ("order.global.dlq", 3),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_manifest(dir.path(), "order-join", "global.toml");
    produce(
        &broker.bootstrap,
        "address_v2",
        &keyed(&[("jihun", "Seoul"), ("gildong", "Busan")]),
    );
    produce(
        &broker.bootstrap,
        "order",
        &keyed(&[("gildong", "Porsche"), ("jihun", "G-Wagon")]),
    );
    run(
        &broker,
        &manifest,
        &dir.path().join("state"),
        "global-table-join-application",
    );
    assert_eq!(
        sorted(joined(&broker)),
        ["gildong:Porsche send to Busan", "jihun:G-Wagon send to Seoul"]
    );
}

#[test]
fn inputs_that_are_not_co_partitioned_are_refused_before_anything_is_written() {
    let broker = DevBroker::start(&[("order", 3), ("address", 2), ("order_join", 3), ("order.dlq", 3)]);
    let dir = tempfile::tempdir().unwrap();
    produce(&broker.bootstrap, "address", &keyed(&[("jihun", "Seoul")]));
    produce(&broker.bootstrap, "order", &keyed(&[("jihun", "iPhone")]));
    let output = rill()
        .arg("run")
        .arg(install_plugin(dir.path(), "order-join"))
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "copartition",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("inputs are not co-partitioned: order has 3 partitions, address has 2 partitions"),
        "{stderr}"
    );
    assert!(stderr.contains("kind = \"global-table\""), "{stderr}");
    let written: BTreeMap<&str, usize> = ["order_join", "order.dlq"]
        .into_iter()
        .map(|t| (t, read_all(&broker.bootstrap, t).len()))
        .collect();
    assert_eq!(written, BTreeMap::from([("order_join", 0), ("order.dlq", 0)]));
}

/// The partitions of `topic` in a member's last "assignment now" line.
fn assigned(log: &Path, topic: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rfind(|l| l.contains("assignment now:") && !l.ends_with("assignment now: none"))
        .map_or(0, |l| l.matches(&format!("{topic}/")).count())
}

#[test]
fn a_second_member_restores_its_half_of_the_table_and_joins_correctly() {
    let broker = DevBroker::start(&[("order", 4), ("address", 4), ("order_join", 4), ("order.dlq", 4)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-join");
    let names: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    let addresses: Vec<(String, String)> = names.iter().map(|n| (n.clone(), format!("city-of-{n}"))).collect();
    let pairs: Vec<(&str, &str)> = addresses.iter().map(|(n, a)| (n.as_str(), a.as_str())).collect();
    produce(&broker.bootstrap, "address", &keyed(&pairs));

    let member = |name: &str| {
        let log = dir.path().join(format!("{name}.log"));
        let child = rill()
            .arg("run")
            .arg(&manifest)
            .args([
                "--brokers",
                &broker.bootstrap,
                "--application-id",
                "join-group",
                "--stop-when-idle",
                "10s",
            ])
            .args(["-X", "consumer.session.timeout.ms=6000", "--state-dir"])
            .arg(dir.path().join(name))
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (child, log)
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    let (mut first, first_log) = member("first");
    wait_for("the first member to own every partition", &|| {
        assigned(&first_log, "address") == 4
    });
    // A new application processes the address topic as input; once it is
    // committed, a member taking partitions over restores them from it.
    wait_for("the first member to commit the addresses", &|| {
        committed(&broker.bootstrap, "join-group", "address") == 200
    });
    let orders = |round: &str| -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
        names
            .iter()
            .map(|n| (Some(n.clone().into_bytes()), format!("{round}-item").into_bytes()))
            .collect()
    };
    produce(&broker.bootstrap, "order", &orders("early"));

    let (mut second, second_log) = member("second");
    wait_for("the group to split", &|| {
        assigned(&second_log, "address") == 2 && assigned(&first_log, "address") == 2
    });
    produce(&broker.bootstrap, "order", &orders("late"));

    for (child, log) in [(&mut first, &first_log), (&mut second, &second_log)] {
        let status = wait_exit(child, Duration::from_secs(120));
        assert!(status.success(), "{}", std::fs::read_to_string(log).unwrap());
    }
    let second_text = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        second_text.contains("restored"),
        "the second member restored its tables:\n{second_text}\nfirst member:\n{}",
        std::fs::read_to_string(&first_log).unwrap()
    );

    let got: std::collections::HashSet<String> = joined(&broker).into_iter().collect();
    let want: std::collections::HashSet<String> = addresses
        .iter()
        .flat_map(|(n, a)| ["early", "late"].map(|round| format!("{n}:{round}-item send to {a}")))
        .collect();
    assert_eq!(got, want, "every order joined with its address, on either member");
}
