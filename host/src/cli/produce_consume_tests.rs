//! `rill produce` then `rill consume`, parsed by the real command line and
//! run against librdkafka's in-process mock cluster: the whole path from
//! input lines to printed records, with no broker or binary outside.

use super::{Cli, Command};
use crate::kafka::embedded::EmbeddedBroker;
use clap::Parser;
use std::sync::atomic::AtomicBool;

fn broker(topics: &[(&str, i32)]) -> EmbeddedBroker {
    let broker = EmbeddedBroker::start(1).unwrap();
    for (topic, partitions) in topics {
        broker.create_topic(topic, *partitions).unwrap();
    }
    broker
}

fn parse(broker: &EmbeddedBroker, command: &str, flags: &[&str]) -> Command {
    let words = ["rill", command, "--brokers", broker.bootstrap_servers()];
    Cli::try_parse_from(words.iter().chain(flags)).unwrap().command
}

fn produce(broker: &EmbeddedBroker, flags: &[&str], input: &str) -> anyhow::Result<usize> {
    let Command::Produce(args) = parse(broker, "produce", flags) else {
        unreachable!()
    };
    super::produce::produce_from(input.as_bytes(), "stdin", &args)
}

fn consume(broker: &EmbeddedBroker, flags: &[&str]) -> String {
    let Command::Consume(args) = parse(broker, "consume", flags) else {
        unreachable!()
    };
    let mut out = Vec::new();
    let written = super::consume::consume_to(&mut out, &args, &AtomicBool::new(false)).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(written, out.lines().count(), "{out}");
    out
}

/// The lines sorted: partitions are read concurrently, only each
/// partition's order is kept.
fn sorted(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn what_is_produced_is_consumed_and_json_replays() {
    let broker = broker(&[("t", 2), ("copy", 2)]);
    let text = "a:1\nb:2\nno key\n";
    let flags = ["t", "--key-separator", ":", "--header", "src=cli", "--timestamp", "1000"];
    assert_eq!(produce(&broker, &flags, text).unwrap(), 3);
    let json = r#"{"key":"j","value":{"base64":"/wA="},"headers":[["h",null]],"timestamp":2000,"partition":1}"#;
    assert_eq!(produce(&broker, &["t", "--format", "json"], &format!("{json}\n\n")).unwrap(), 1);

    let printed = consume(&broker, &["t", "--print-key", "--key-separator", "="]);
    // Text prints bytes as they are (here 0xff 0x00, shown lossily).
    assert_eq!(sorted(&printed), ["=no key", "a=1", "b=2", "j=\u{fffd}\0"]);

    let json_lines = consume(&broker, &["t", "--format", "json"]);
    let records: Vec<serde_json::Value> = json_lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4);
    let a = records.iter().find(|r| r["key"] == "a").unwrap();
    assert_eq!(
        (&a["value"], &a["timestamp"], &a["headers"]),
        (&"1".into(), &1000.into(), &serde_json::json!([["src", "cli"]]))
    );
    let j = records.iter().find(|r| r["key"] == "j").unwrap();
    assert_eq!(j["value"], serde_json::json!({"base64": "/wA="}));
    assert_eq!((&j["partition"], &j["headers"]), (&1.into(), &serde_json::json!([["h", null]])));

    // consume --format json is produce --format json's input: a copy.
    assert_eq!(produce(&broker, &["copy", "--format", "json"], &json_lines).unwrap(), 4);
    let copied = consume(&broker, &["copy", "--format", "json"]);
    assert_eq!(sorted(&copied), sorted(&json_lines.replace(r#""topic":"t""#, r#""topic":"copy""#)));
}

#[test]
fn consume_stops_at_the_count_the_partition_or_the_end() {
    let broker = broker(&[("t", 2)]);
    let lines: String = (0..10).map(|i| format!("{i}\n")).collect();
    assert_eq!(produce(&broker, &["t", "--partition", "1"], &lines).unwrap(), 10);
    assert_eq!(produce(&broker, &["t", "--partition", "0"], "other\n").unwrap(), 1);

    assert_eq!(consume(&broker, &["t", "--count", "3", "--partition", "1"]), "0\n1\n2\n");
    let template = consume(&broker, &["t", "--partition", "0", "--template", r"%t/%p@%o %k|%s\n"]);
    assert_eq!(template, "t/0@0 |other\n");
    // From the end without --follow there is nothing to read, and it ends.
    assert_eq!(consume(&broker, &["t", "--from", "end"]), "");
    // Following, it ends only with the count.
    assert_eq!(consume(&broker, &["t", "--follow", "--count", "11"]).lines().count(), 11);
}

#[test]
fn a_malformed_line_stops_produce_after_delivering_the_lines_before() {
    let broker = broker(&[("t", 1)]);
    let error = produce(&broker, &["t", "--format", "json"], "{\"value\":\"ok\"}\n{bad\n{\"value\":\"never\"}\n")
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("stdin line 2: not JSON"), "{error}");
    assert!(error.contains("(1 record(s) before it were produced)"), "{error}");
    assert_eq!(consume(&broker, &["t"]), "ok\n");
}

#[test]
fn a_failed_delivery_names_its_line() {
    let broker = broker(&[("t", 1)]);
    broker
        .fail_produce_requests(rdkafka_sys::RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 100)
        .unwrap();
    let error = format!("{:#}", produce(&broker, &["t"], "refused\n").unwrap_err());
    assert!(error.starts_with("stdin: line 1 was not delivered"), "{error}");
}

#[test]
fn consume_names_a_missing_topic_or_partition() {
    let broker = broker(&[("t", 2)]);
    let Command::Consume(args) = parse(&broker, "consume", &["t", "--partition", "2"]) else {
        unreachable!()
    };
    let error = super::consume::consume_to(&mut Vec::new(), &args, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(error.to_string(), "topic t has no partition 2: it has partitions 0 to 1");
    let Command::Consume(args) = parse(&broker, "consume", &["missing"]) else {
        unreachable!()
    };
    let error = super::consume::consume_to(&mut Vec::new(), &args, &AtomicBool::new(false)).unwrap_err();
    assert!(error.to_string().starts_with("topic missing does not exist"), "{error}");
}
