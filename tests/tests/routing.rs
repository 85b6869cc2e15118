//! A topic chosen per record (Kafka Streams' `to(TopicNameExtractor)`),
//! end to end with the real binary: `plugins/metric-route` sends each
//! metric to `metric.by-name.<metricset>` through an output declared with
//! `topic-pattern`. Records land in their topics; a topic outside the
//! pattern dead-letters with the reason; a topic missing on the broker
//! dead-letters (`create = false`, never auto-created, warned about once)
//! or is created (`create = true`); nothing is lost either way.

use rill_tests::{
    DevBroker, Received, install_plugin, produce, read_all, read_isolated, run_until_idle, run_until_idle_with,
};
use std::collections::HashMap;
use std::path::Path;

const DLQ: &str = "metric.all.route-dlq";

fn metric(name: &str, i: usize) -> (Option<Vec<u8>>, Vec<u8>) {
    (
        Some(format!("h{}", i % 5).into_bytes()),
        format!(r#"{{"metricset":{{"name":"{name}"}},"n":{i}}}"#).into_bytes(),
    )
}

/// 30 cpu, 20 memory and 3 "CPU" records, interleaved.
fn records() -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (0..53)
        .map(|i| match i {
            _ if i % 17 == 5 => metric("CPU", i),
            _ if i % 5 < 2 => metric("memory", i),
            _ => metric("cpu", i),
        })
        .collect()
}

fn values(records: &[Received]) -> Vec<String> {
    let mut values: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    values.sort();
    values
}

fn sent(name: &str) -> Vec<String> {
    let needle = format!(r#""name":"{name}""#);
    let mut values: Vec<String> = records()
        .into_iter()
        .map(|(_, v)| String::from_utf8(v).unwrap())
        .filter(|v| v.contains(&needle))
        .collect();
    values.sort();
    values
}

/// The topics on the broker and their partition counts (a metadata
/// request that creates nothing).
fn topics(bootstrap: &str) -> HashMap<String, i32> {
    rill_host::kafka::admin::partition_counts(&rill_host::kafka::KafkaSettings::new(bootstrap)).unwrap()
}

/// The dead letters of `kind`.
fn letters<'a>(letters: &'a [Received], kind: &str) -> Vec<&'a Received> {
    letters
        .iter()
        .filter(|r| r.headers.get("rill.error.kind").map(String::as_str) == Some(kind))
        .collect()
}

#[test]
fn records_land_in_their_chosen_topics_and_a_missing_topic_is_dead_lettered_never_created() {
    let broker = DevBroker::start(&[("metric.all", 2), ("metric.by-name.cpu", 2), (DLQ, 2)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "metric-route");
    produce(&broker.bootstrap, "metric.all", &records());
    let log = run_until_idle(&broker.bootstrap, &[&manifest], "route", &dir.path().join("state"));

    assert_eq!(values(&read_all(&broker.bootstrap, "metric.by-name.cpu")), sent("cpu"));
    assert!(
        !topics(&broker.bootstrap).contains_key("metric.by-name.memory"),
        "a topic missing with create = false is never created (nor auto-created by the producer)"
    );
    let dead = read_all(&broker.bootstrap, DLQ);
    let missing = letters(&dead, "topic-missing");
    assert_eq!(
        values(&missing.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        sent("memory")
    );
    assert!(
        missing[0].headers["rill.error"].contains("'metric.by-name.memory', which does not exist"),
        "{:?}",
        missing[0].headers
    );
    let refused = letters(&dead, "topic-refused");
    assert_eq!(
        values(&refused.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        sent("CPU")
    );
    assert!(
        refused[0].headers["rill.error"].contains(r#"topic-pattern "metric\.by-name\.[a-z0-9-]+" does not match"#),
        "{:?}",
        refused[0].headers
    );
    assert_eq!(dead.len(), missing.len() + refused.len(), "no other dead letters");
    assert_eq!(
        log.matches("chose topic 'metric.by-name.memory', which does not exist")
            .count(),
        1,
        "one warning per missing topic, not one per record:\n{log}"
    );
}

/// Runs the sample with `create = true, partitions = 3` on `broker` under
/// `guarantee`; returns rill's log.
fn run_creating(broker: &DevBroker, application: &str, guarantee: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "metric-route");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let created = text.replace("create = false", "create = true, partitions = 3");
    assert_ne!(text, created, "the sample manifest says create = false");
    std::fs::write(&manifest, created).unwrap();
    produce(&broker.bootstrap, "metric.all", &records());
    run_until_idle_with(
        &broker.bootstrap,
        &[Path::new(&manifest)],
        application,
        &dir.path().join("state"),
        &["--processing-guarantee", guarantee],
    )
}

/// `create = true` on a broker with CreateTopics (crabka-broker): the
/// missing topic is created with the output's partitions and every record
/// lands in its topic, through the transactional producer as every output
/// (read back read_committed: exactly once).
#[test]
fn with_create_a_missing_topic_is_created_with_the_outputs_partitions_exactly_once() {
    let broker = DevBroker::start_txn(&[("metric.all", 2), ("metric.by-name.cpu", 2), (DLQ, 2)]);
    let log = run_creating(&broker, "route-create", "exactly-once");

    assert_eq!(topics(&broker.bootstrap).get("metric.by-name.memory"), Some(&3));
    assert_eq!(log.matches("created topic metric.by-name.memory").count(), 1, "{log}");
    let read = |topic| read_isolated(&broker.bootstrap, topic, true);
    assert_eq!(values(&read("metric.by-name.memory")), sent("memory"));
    assert_eq!(values(&read("metric.by-name.cpu")), sent("cpu"));
    let dead = read(DLQ);
    assert_eq!(
        values(&dead),
        sent("CPU"),
        "only the topic outside the pattern is dead-lettered"
    );
    assert!(dead.iter().all(|r| r.headers["rill.error.kind"] == "topic-refused"));
}

/// `create = true` on a broker without CreateTopics (rill dev-broker, the
/// librdkafka mock): rill asks, is refused, and dead-letters the records as
/// `topic-missing` with the broker's reason and the fix; it neither falls
/// back to the broker's auto-creation nor asks once per record.
#[test]
fn with_create_on_a_broker_that_cannot_create_the_records_are_dead_lettered_with_why() {
    let broker = DevBroker::start_dev(&[("metric.all", 2), ("metric.by-name.cpu", 2), (DLQ, 2)]);
    let log = run_creating(&broker, "route-create-dev", "at-least-once");

    assert!(!topics(&broker.bootstrap).contains_key("metric.by-name.memory"));
    assert_eq!(values(&read_all(&broker.bootstrap, "metric.by-name.cpu")), sent("cpu"));
    let dead = read_all(&broker.bootstrap, DLQ);
    let missing = letters(&dead, "topic-missing");
    assert_eq!(
        values(&missing.iter().map(|r| (*r).clone()).collect::<Vec<_>>()),
        sent("memory")
    );
    let error = &missing[0].headers["rill.error"];
    assert!(
        error.contains("could not be created") && error.contains("--topic metric.by-name.memory:3"),
        "{error}"
    );
    assert_eq!(
        dead.len(),
        missing.len() + sent("CPU").len(),
        "nothing lost, nothing else dead-lettered"
    );
    assert_eq!(log.matches("could not be created").count(), 1, "warned once:\n{log}");
}
