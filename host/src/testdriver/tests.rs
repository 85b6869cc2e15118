//! Spec parsing and diffing, without running anything.

use super::compare::{compare_topic, differences};
use super::spec::{Action, Expected, Spec};
use crate::kafka::memory_sink::SentRecord;
use std::path::Path;

fn parse(text: &str) -> Result<Spec, super::SpecError> {
    Spec::parse(Path::new("t.toml"), text.to_string())
}

fn sent(value: &str) -> SentRecord {
    SentRecord {
        topic: "out".into(),
        partition: None,
        key: Some(b"k".to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: Vec::new(),
        timestamp: 5,
    }
}

#[test]
fn records_and_restarts_are_decoded_in_order() {
    let spec = parse(
        r#"manifest = "plugin.toml"
[[case]]
name = "a"
input = [
  { key = "k", json = { a = 1 }, timestamp = 3 },
  { restart = true },
  { topic = "in", partition = 2, base64 = "AAE=" },
]
"#,
    )
    .unwrap();
    let actions = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap();
    let Action::Record(first) = &actions[0] else { panic!() };
    assert_eq!(first.value.as_deref(), Some(&br#"{"a":1}"#[..]));
    assert_eq!((first.timestamp, first.line), (3, 5));
    assert_eq!(actions[1], Action::Restart);
    let Action::Record(third) = &actions[2] else { panic!() };
    assert_eq!((third.partition, third.value.as_deref()), (2, Some(&[0u8, 1][..])));
}

#[test]
fn unknown_fields_topics_and_unsupported_steps_name_their_line() {
    let error = parse("manifest = \"p.toml\"\n[[case]]\nname = \"a\"\nnope = 1\n").unwrap_err();
    assert_eq!(error.line, Some(4), "{error}");
    assert!(error.to_string().starts_with("t.toml:4: "), "{error}");
    let spec = parse(
        "manifest = \"p.toml\"\n[[case]]\nname = \"a\"\ninput = [\n  { topic = \"x\" },\n]\n",
    )
    .unwrap();
    let error = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap_err();
    assert_eq!(error.line, Some(5));
    assert!(error.message.contains("unknown input topic \"x\""), "{error}");
    let spec = parse(
        "manifest = \"p.toml\"\n[[case]]\nname = \"a\"\ninput = [{ advance = \"wall-clock\", to = 5 }]\n",
    )
    .unwrap();
    let error = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap_err();
    assert!(error.message.contains("not supported yet"), "{error}");
}

#[test]
fn a_diff_names_the_record_and_the_field() {
    let want = Expected {
        key: Some("k".into()),
        json: Some(toml::Value::Table([("a".to_string(), toml::Value::Integer(1))].into_iter().collect())),
        timestamp: Some(6),
        ..Expected::default()
    };
    assert_eq!(differences(&want, &sent(r#"{ "a": 1 }"#)).len(), 1, "json compared as JSON");
    let lines = compare_topic("out", &[want.clone()], &[sent(r#"{"a":2}"#)], false);
    assert!(lines[0].starts_with("topic out, record 1, field value (json): expected {\"a\":1}"), "{lines:?}");
    assert!(lines[1].contains("field timestamp: expected 6, got 5"), "{lines:?}");
    let lines = compare_topic("out", &[], &[sent("x")], false);
    assert!(lines[0].contains("record 1: unexpected"), "{lines:?}");
}

#[test]
fn any_order_matches_records_as_a_multiset() {
    let e = |v: &str| Expected {
        key: Some("k".into()),
        value: Some(v.into()),
        ..Expected::default()
    };
    assert!(compare_topic("out", &[e("a"), e("b")], &[sent("b"), sent("a")], true).is_empty());
    assert_eq!(compare_topic("out", &[e("a"), e("b")], &[sent("b"), sent("a")], false).len(), 2);
}
