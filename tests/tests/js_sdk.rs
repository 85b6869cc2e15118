//! The JavaScript SDK (guest-sdk/js) end to end: the seed's two Kafka
//! Streams examples written on rill-sdk, bundled and componentized by
//! tests/build.rs, run by the real `rill` binary against `rill dev-broker`,
//! and read back with a plain Kafka client. The seed typed lines into
//! kafka-console-producer (null keys) and printed what the console consumer
//! read; those printed lines are the expected output, in order. The topics
//! have one partition here: the seed's had three, where null-keyed records
//! land anywhere and only a partition has an order.

use rill_tests::{DevBroker, install_plugin, produce, read_all, run_until_idle};

/// Produces `lines` to stream_log (null keys), runs `plugin` until idle and
/// returns the (key, value) pairs of `output` and the dead letters' count.
fn run(
    plugin: &str,
    output: &str,
    dead_letter: &str,
    lines: &[&str],
) -> (Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>, usize) {
    let broker = DevBroker::start(&[("stream_log", 1), (output, 1), (dead_letter, 1)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), plugin);
    let records: Vec<_> = lines.iter().map(|line| (None, line.as_bytes().to_vec())).collect();
    produce(&broker.bootstrap, "stream_log", &records);
    run_until_idle(
        &broker.bootstrap,
        &[&manifest],
        &format!("js-{plugin}"),
        &dir.path().join("state"),
    );
    let out = read_all(&broker.bootstrap, output)
        .into_iter()
        .map(|r| (r.key, r.value))
        .collect();
    (out, read_all(&broker.bootstrap, dead_letter).len())
}

/// What the seed's console consumer printed, as Kafka records.
fn expected(lines: &[&str]) -> Vec<(Option<Vec<u8>>, Option<Vec<u8>>)> {
    lines
        .iter()
        .map(|line| (None, Some(line.as_bytes().to_vec())))
        .collect()
}

#[test]
fn stream_log_copy_js_copies_the_seeds_input_unchanged() {
    let input = ["hello", "my", "name", "is", "jihun"];
    let (out, dead) = run("stream-log-copy-js", "stream_log_copy", "stream_log.copy.dlq", &input);
    assert_eq!(out, expected(&input));
    assert_eq!(dead, 0);
}

#[test]
fn stream_log_filter_js_keeps_the_seeds_values_longer_than_five() {
    let input = ["hello", "streams", "kafka", "world", "monday"];
    let (out, dead) = run(
        "stream-log-filter-js",
        "stream_log_filter",
        "stream_log.filter.dlq",
        &input,
    );
    assert_eq!(out, expected(&["streams", "monday"]));
    assert_eq!(dead, 0);
}
