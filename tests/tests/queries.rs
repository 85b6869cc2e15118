//! Interactive queries (issue 26), end to end: two instances of
//! `order-count` share `order`'s partitions; for every key, the instance
//! owning the key's partition answers `GET /stores/counts/keys/<key>` with
//! the key's count (order-count stores it as a big-endian u64), and the
//! other says 503 "not here" for the same partition, never an empty answer.
//! A key that was never counted is a 404 on its owner; a bad store name or
//! key encoding gets a 4xx naming the problem.

use base64::Engine;
use rill_tests::member::{Member, settled, stop_all, wait_committed};
use rill_tests::{DevBroker, free_port, http_get, install_plugin, produce, rill};
use std::path::Path;
use std::time::{Duration, Instant};

const APP: &str = "e2e-queries";
const PARTITIONS: i32 = 4;
const KEYS: usize = 24;

fn start(name: &str, broker: &str, dir: &Path, t0: Instant) -> (Member, String) {
    let http = format!("127.0.0.1:{}", free_port());
    let mut command = rill();
    command
        .arg("run")
        .arg(dir.join("order-count/plugin.toml"))
        .args(["--brokers", broker, "--application-id", APP])
        // KIP-848: the dev broker settles its groups in seconds.
        .args(["--group-protocol", "consumer"])
        .args(["--commit-interval", "200ms", "--http", &http])
        .arg("--state-dir")
        .arg(dir.join(name));
    (Member::spawn(name, command, t0), http)
}

/// The JSON answer of `path` on `http`, with its status.
fn ask(http: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get(http, path).unwrap_or_else(|| panic!("{http}{path} did not answer"));
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, json)
}

#[test]
fn each_key_is_answered_by_the_instance_owning_its_partition_with_its_count() {
    // The dev broker creates no topics on request: every one up front.
    let changelog = format!("{APP}-counts-changelog");
    let broker = DevBroker::start(&[
        ("order", PARTITIONS),
        ("order_count", PARTITIONS),
        ("order.count.dlq", PARTITIONS),
        (changelog.as_str(), PARTITIONS),
    ]);
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "order-count");
    // Key q<i> gets i + 1 orders.
    let orders: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..KEYS)
        .flat_map(|i| {
            (0..=i).map(move |n| {
                (
                    Some(format!("q{i}").into_bytes()),
                    format!("order-{i}-{n}").into_bytes(),
                )
            })
        })
        .collect();
    let total = orders.len() as i64;

    let t0 = Instant::now();
    let (a, a_http) = start("a", &broker.bootstrap, dir.path(), t0);
    let (b, b_http) = start("b", &broker.bootstrap, dir.path(), t0);
    settled(
        &[&a, &b],
        "order",
        PARTITIONS as usize,
        b.started,
        t0,
        Duration::from_secs(60),
    );
    produce(&broker.bootstrap, "order", &orders);
    wait_committed(
        &broker.bootstrap,
        APP,
        "order",
        total,
        &[&a, &b],
        Duration::from_secs(60),
    );

    let mut answered_by = [0, 0];
    for i in 0..KEYS {
        let path = format!("/stores/counts/keys/q{i}");
        let answers = [ask(&a_http, &path), ask(&b_http, &path)];
        let owner = answers
            .iter()
            .position(|(status, _)| *status == 200)
            .unwrap_or_else(|| panic!("q{i}: no instance answered 200: {answers:?}"));
        answered_by[owner] += 1;
        let (_, found) = &answers[owner];
        let value = base64::engine::general_purpose::STANDARD
            .decode(found["value"].as_str().unwrap())
            .unwrap();
        let count = u64::from_be_bytes(value.try_into().expect("a big-endian u64"));
        assert_eq!(count, i as u64 + 1, "q{i}'s count: {found}");
        let (status, other) = &answers[1 - owner];
        assert_eq!(*status, 503, "q{i}: the other instance: {other}");
        assert_eq!(other["reason"], "not-here", "q{i}: {other}");
        assert_eq!(other["partition"], found["partition"], "both name the key's partition");
    }
    assert!(
        answered_by.iter().all(|n| *n > 0),
        "both instances own keys: {answered_by:?}"
    );

    // Never counted: a 404 from its owner, a 503 from the other.
    let statuses: Vec<u16> = [&a_http, &b_http]
        .iter()
        .map(|http| ask(http, "/stores/counts/keys/never").0)
        .collect();
    assert!(
        statuses.contains(&404) && statuses.contains(&503),
        "an absent key: {statuses:?}"
    );
    // Base64 keys name the same bytes.
    let (status, _) = ask(&a_http, "/stores/counts/keys/cTA=?key-encoding=base64");
    assert!(status == 200 || status == 503, "a base64 key: {status}");

    let (status, unknown) = ask(&a_http, "/stores/count/keys/q0");
    assert_eq!(status, 404);
    assert_eq!(unknown["stores"], serde_json::json!(["counts"]), "{unknown}");
    let (status, bad) = ask(&a_http, "/stores/counts/keys/%25%25?key-encoding=base64");
    assert_eq!(status, 400, "{bad}");

    let mut members = [a, b];
    stop_all(&mut members);
}
