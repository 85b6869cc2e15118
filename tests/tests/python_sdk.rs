//! Processors written on the Python SDK (guest-sdk/python), built into
//! components by tests/build.rs and run by the real `rill` binary against
//! `rill dev-broker`: the seed's two first Kafka Streams examples, with the
//! seed's console inputs and outputs.

use rill_tests::{DevBroker, install_plugin, produce, read_all, run_until_idle};

/// The values of `topic`, in order (one partition), as text.
fn values(bootstrap: &str, topic: &str) -> Vec<String> {
    read_all(bootstrap, topic)
        .into_iter()
        .map(|r| String::from_utf8(r.value.expect("a value")).expect("UTF-8"))
        .collect()
}

#[test]
fn the_seed_stream_log_examples_run_as_python_processors() {
    let broker = DevBroker::start(&[
        ("stream_log", 1),
        ("stream_log_copy", 1),
        ("stream_log_filter", 1),
        ("stream_log.copy.dlq", 1),
        ("stream_log.filter.dlq", 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let copy = install_plugin(dir.path(), "stream-log-copy-python");
    let filter = install_plugin(dir.path(), "stream-log-filter-python");
    // The seed's two console sessions, one after the other, plus five
    // Hangul syllables (15 bytes but 5 characters: dropped) and "a" with
    // two emoji (5 UTF-16 code units, as Java counts: dropped; one more
    // letter makes 6: kept).
    let lines = [
        "hello", "my", "name", "is", "jihun", "hello", "streams", "kafka", "world", "monday", "안녕하세요", "a😀😀", "ab😀😀",
    ];
    let records: Vec<(Option<Vec<u8>>, Vec<u8>)> = lines.iter().map(|l| (None, l.as_bytes().to_vec())).collect();
    produce(&broker.bootstrap, "stream_log", &records);
    // Two applications, as in the seed: one application reads a topic once.
    for (manifest, application) in [(&copy, "streams-application"), (&filter, "streams-filter-application")] {
        run_until_idle(&broker.bootstrap, &[manifest], application, &dir.path().join(application));
    }
    assert_eq!(values(&broker.bootstrap, "stream_log_copy"), lines, "stream_log_copy");
    assert!(
        read_all(&broker.bootstrap, "stream_log_copy").iter().all(|r| r.key.is_none()),
        "keys stay null"
    );
    assert_eq!(
        values(&broker.bootstrap, "stream_log_filter"),
        ["streams", "monday", "ab😀😀"],
        "stream_log_filter"
    );
    assert!(read_all(&broker.bootstrap, "stream_log.copy.dlq").is_empty());
    assert!(read_all(&broker.bootstrap, "stream_log.filter.dlq").is_empty());
}
