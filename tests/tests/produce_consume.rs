//! `rill produce` and `rill consume` from the outside (issue 22): the real
//! binary against a broker process, as a person trying a processor by hand
//! would use them, with what a plain Kafka client reads as the referee.

use rill_tests::{DevBroker, read_all, rill, wait_exit};
use std::io::Write;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// Runs `rill produce TOPIC FLAGS` with `input` on stdin.
fn produce(broker: &DevBroker, topic: &str, flags: &[&str], input: &str) -> Output {
    let mut child = rill()
        .args(["produce", topic, "--brokers", &broker.bootstrap, "--log-level", "warn"])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning rill produce");
    child
        .stdin
        .take()
        .expect("its stdin")
        .write_all(input.as_bytes())
        .expect("writing its input");
    child.wait_with_output().expect("waiting for rill produce")
}

/// Starts `rill consume TOPIC FLAGS` with its stdout piped.
fn spawn_consume(broker: &DevBroker, topic: &str, flags: &[&str]) -> Child {
    rill()
        .args(["consume", topic, "--brokers", &broker.bootstrap, "--log-level", "warn"])
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning rill consume")
}

/// Runs `rill consume TOPIC FLAGS` to its end; its stdout.
fn consume(broker: &DevBroker, topic: &str, flags: &[&str]) -> String {
    let mut child = spawn_consume(broker, topic, flags);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let output = child.wait_with_output().expect("its output");
    assert!(status.success(), "rill consume {topic} {flags:?} failed");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort_unstable();
    lines
}

#[test]
fn produced_lines_are_read_back_by_kafka_and_by_rill_consume() {
    let broker = DevBroker::start(&[("lines", 3)]);
    let produced = produce(
        &broker,
        "lines",
        &["--key-separator", ":", "--header", "source=shell", "--timestamp", "1700000000000"],
        "host-a:1\nhost-b:2\nno key\n",
    );
    assert!(produced.status.success(), "{}", String::from_utf8_lossy(&produced.stderr));
    assert!(String::from_utf8_lossy(&produced.stderr).contains("produced 3 record(s) to lines"));

    // A plain Kafka client sees the keys, values and headers.
    let records = read_all(&broker.bootstrap, "lines");
    assert_eq!(records.len(), 3);
    let a = records.iter().find(|r| r.key.as_deref() == Some(b"host-a")).unwrap();
    assert_eq!(a.value.as_deref(), Some(&b"1"[..]));
    assert_eq!(a.headers.get("source").map(String::as_str), Some("shell"));
    assert!(records.iter().any(|r| r.key.is_none() && r.value.as_deref() == Some(b"no key")));

    assert_eq!(
        sorted(&consume(&broker, "lines", &["--print-key", "--key-separator", "="])),
        ["=no key", "host-a=1", "host-b=2"]
    );
    let template = consume(&broker, "lines", &["--template", "%k %s %T %h\\n", "--count", "1"]);
    assert!(template.ends_with(" 1700000000000 source=shell\n"), "{template}");
    assert_eq!(consume(&broker, "lines", &["--from", "end"]), "");
}

#[test]
fn json_from_consume_replays_through_produce() {
    let broker = DevBroker::start(&[("source", 2), ("copy", 2)]);
    let lines = concat!(
        r#"{"key":"k1","value":"v1","headers":{"h":"1"},"timestamp":1000,"partition":1}"#,
        "\n",
        r#"{"key":null,"value":{"base64":"/wA="},"partition":0}"#,
        "\n"
    );
    let produced = produce(&broker, "source", &["--format", "json"], lines);
    assert!(produced.status.success(), "{}", String::from_utf8_lossy(&produced.stderr));
    let json = consume(&broker, "source", &["--format", "json"]);
    assert!(
        json.contains(r#"{"topic":"source","partition":1,"offset":0,"timestamp":1000,"key":"k1","value":"v1","headers":[["h","1"]]}"#),
        "{json}"
    );
    assert!(json.contains(r#""key":null,"value":{"base64":"/wA="}"#), "{json}");

    let replayed = produce(&broker, "copy", &["--format", "json"], &json);
    assert!(replayed.status.success(), "{}", String::from_utf8_lossy(&replayed.stderr));
    assert_eq!(
        sorted(&consume(&broker, "copy", &["--format", "json"])),
        sorted(&json.replace(r#""topic":"source""#, r#""topic":"copy""#))
    );
}

#[test]
fn a_bad_line_fails_produce_naming_the_file_and_line() {
    let broker = DevBroker::start(&[("bad", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.jsonl");
    std::fs::write(&file, "{\"value\":\"fine\"}\n{\"value\":12}\n").unwrap();
    let output = produce(
        &broker,
        "bad",
        &["--format", "json", "--file", file.to_str().unwrap()],
        "",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("records.jsonl line 2: field \"value\""), "{stderr}");
    assert_eq!(consume(&broker, "bad", &[]), "fine\n");
}

#[test]
fn follow_waits_for_new_records_until_the_count() {
    let broker = DevBroker::start(&[("live", 1)]);
    let before = produce(&broker, "live", &[], "before\n");
    assert!(before.status.success());
    let mut follower = spawn_consume(&broker, "live", &["--follow", "--count", "3"]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(follower.try_wait().unwrap().is_none(), "--follow ended before --count");
    let after = produce(&broker, "live", &[], "after-1\nafter-2\n");
    assert!(after.status.success());
    let status = wait_exit(&mut follower, Duration::from_secs(30));
    let output = follower.wait_with_output().unwrap();
    assert!(status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "before\nafter-1\nafter-2\n");
}
