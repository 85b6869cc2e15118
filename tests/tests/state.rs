//! Stores end to end: a running count in the `counts` store survives a
//! clean restart (nothing restored) and a deleted state dir (restored from
//! `<application-id>-counts-changelog`), and continues where it was.

use rill_tests::{DevBroker, install_plugin, produce, read_all, restored_records as restored, run_until_idle};
use std::path::Path;

const CHANGELOG: &str = "counting-counts-changelog";

fn orders(keys: &[&str]) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    keys.iter()
        .map(|k| (Some(k.as_bytes().to_vec()), b"item".to_vec()))
        .collect()
}

fn run(broker: &DevBroker, manifest: &Path, state: &Path) -> String {
    run_until_idle(&broker.bootstrap, &[manifest], "counting", state)
}

/// The last count emitted per key.
fn latest(broker: &DevBroker) -> Vec<String> {
    let mut records = read_all(&broker.bootstrap, "order_count");
    records.sort_by_key(|r| (r.partition, r.offset));
    let mut last = std::collections::BTreeMap::new();
    for r in records {
        let text = String::from_utf8(r.value.unwrap()).unwrap();
        let (key, _) = text.split_once(':').unwrap();
        last.insert(key.to_string(), text);
    }
    last.into_values().collect()
}

#[test]
fn counts_survive_restarts_and_a_deleted_state_dir() {
    let broker = DevBroker::start(&[("order", 3), ("order_count", 3), ("order.count.dlq", 3), (CHANGELOG, 3)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-count");
    let state = dir.path().join("state");

    produce(&broker.bootstrap, "order", &orders(&["a", "b", "a", "c", "a"]));
    let first = run(&broker, &manifest, &state);
    assert_eq!(restored(&first), 0, "{first}");
    assert_eq!(latest(&broker), ["a:3", "b:1", "c:1"]);
    // Writes within a batch coalesce; the latest record per key is the count.
    let mut changelog = std::collections::BTreeMap::new();
    for r in read_all(&broker.bootstrap, CHANGELOG) {
        let count = u64::from_be_bytes(r.value.unwrap().try_into().unwrap());
        changelog.insert(String::from_utf8(r.key.unwrap()).unwrap(), count);
    }
    assert_eq!(
        changelog,
        [("a".to_string(), 3), ("b".to_string(), 1), ("c".to_string(), 1)].into()
    );

    // Clean restart: the checkpoint covers the changelog; nothing to restore.
    produce(&broker.bootstrap, "order", &orders(&["b"]));
    let second = run(&broker, &manifest, &state);
    assert_eq!(restored(&second), 0, "{second}");
    assert!(second.contains("nothing to restore"), "{second}");
    assert_eq!(latest(&broker), ["a:3", "b:2", "c:1"]);

    // New machine: the counts come back from the changelog.
    std::fs::remove_dir_all(&state).unwrap();
    let changelog_records = read_all(&broker.bootstrap, CHANGELOG).len() as u64;
    produce(&broker.bootstrap, "order", &orders(&["a", "c"]));
    let third = run(&broker, &manifest, &state);
    assert_eq!(
        restored(&third),
        changelog_records,
        "the whole changelog is replayed:\n{third}"
    );
    assert_eq!(latest(&broker), ["a:4", "b:2", "c:2"]);
}
