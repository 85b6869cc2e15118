//! Spec parsing and diffing, without running anything.

use super::compare::{compare_store_entry, compare_topic, differences};
use super::spec::{Action, Expected, Spec, StoreEntry};
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
        "manifest = \"p.toml\"\n[[case]]\nname = \"a\"\ninput = [\n  { advance = \"stream-time\", by = 5 },\n]\n",
    )
    .unwrap();
    let error = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap_err();
    assert_eq!(error.line, Some(5), "{error}");
    assert!(error.message.contains("takes `to`"), "{error}");
}

#[test]
fn advance_and_rebalance_steps_are_decoded() {
    let spec = parse(
        r#"manifest = "plugin.toml"
[[case]]
name = "a"
input = [
  { advance = "stream-time", to = 60000 },
  { advance = "stream-time", to = 5, partition = 1 },
  { advance = "wall-clock", to = 1000 },
  { advance = "wall-clock", by = "1m 30s" },
  { advance = "wall-clock", by = 250 },
  { rebalance = true },
  { rebalance = true, partition = 2 },
]
"#,
    )
    .unwrap();
    let actions = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap();
    assert_eq!(
        actions,
        vec![
            Action::StreamTime(60000, None),
            Action::StreamTime(5, Some(1)),
            Action::WallClockTo(1000),
            Action::WallClockBy(90_000),
            Action::WallClockBy(250),
            Action::Rebalance(None),
            Action::Rebalance(Some(2)),
        ]
    );
}

#[test]
fn malformed_steps_name_their_line_and_the_fix() {
    let cases = [
        (r#"{ advance = "sideways", to = 1 }"#, "unknown clock"),
        (r#"{ advance = "wall-clock", to = 1, by = 2 }"#, "one of `to`"),
        (r#"{ advance = "wall-clock", by = "soon" }"#, "not a duration"),
        (r#"{ advance = "wall-clock", by = -5 }"#, "does not go back"),
        (r#"{ advance = "wall-clock", to = 1, partition = 0 }"#, "drop `partition`"),
        (r#"{ rebalance = true, key = "k" }"#, "not several"),
        (r#"{ restart = true, advance = "wall-clock", to = 1 }"#, "not several"),
        (r#"{ key = "k", to = 5 }"#, "belong to an `advance` step"),
        (r#"{ restart = true, partition = 1 }"#, "with nothing else"),
        (r#"{ key = "k", partition = 5000 }"#, "out of range"),
    ];
    for (step, message) in cases {
        let spec = parse(&format!("manifest = \"p.toml\"\n[[case]]\nname = \"a\"\ninput = [\n  {step},\n]\n")).unwrap();
        let error = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap_err();
        assert_eq!(error.line, Some(5), "{step}: {error}");
        assert!(error.message.contains(message), "{step}: {error}");
    }
}

#[test]
fn store_entries_compare_values_and_absence() {
    let entry = |text: &str| -> StoreEntry { toml::from_str(text).unwrap() };
    let held = vec![(0, b"a".to_vec(), b"2".to_vec()), (1, b"b".to_vec(), br#"{"n":1}"#.to_vec())];
    assert!(compare_store_entry("s", &entry(r#"key = "a"
value = "2""#), &held).is_empty());
    assert!(compare_store_entry("s", &entry(r#"key = "b"
json = { n = 1 }"#), &held).is_empty());
    assert!(compare_store_entry("s", &entry(r#"key = "c"
absent = true"#), &held).is_empty());
    let lines = compare_store_entry("s", &entry(r#"key = "a"
value = "3""#), &held);
    assert_eq!(lines, vec![r#"store s, key "a", field value: expected "3", got "2" (partition 0)"#.to_string()]);
    let lines = compare_store_entry("s", &entry(r#"key = "a"
absent = true"#), &held);
    assert!(lines[0].contains("expected absent, got \"2\""), "{lines:?}");
    let lines = compare_store_entry("s", &entry(r#"key = "b"
value = "x"
partition = 0"#), &held);
    assert!(lines[0].contains("but the key is absent"), "{lines:?}");
    let lines = compare_store_entry("s", &entry(r#"key = "a""#), &held);
    assert!(lines[0].contains("or absent = true"), "{lines:?}");
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

fn parse_json(text: &str) -> Result<Spec, super::SpecError> {
    Spec::parse_json(Path::new("t.json"), text)
}

#[test]
fn a_json_spec_reads_like_its_toml_twin() {
    let spec = parse_json(
        r#"{
  "manifest": "plugin.toml",
  "case": [
    {
      "name": "a",
      "input": [
        {"key": "k", "json": {"a": [1, {"b": "x\"y"}], "c": 0.5}, "timestamp": 3},
        {"advance": "wall-clock", "by": "1m"},
        {"restart": true}
      ],
      "expect": {"out": [{"key": "k", "value": "v"}], "metric.x": []},
      "stores": {"s": [{"key": "k", "absent": true}]}
    }
  ]
}"#,
    )
    .unwrap();
    let case = &spec.file.cases[0];
    let actions = spec.actions(case, &["in".to_string()]).unwrap();
    let Action::Record(first) = &actions[0] else { panic!() };
    assert_eq!(first.value.as_deref(), Some(&br#"{"a":[1,{"b":"x\"y"}],"c":0.5}"#[..]));
    assert_eq!(first.line, 7, "the JSON line of the record");
    assert_eq!(actions[1..], [Action::WallClockBy(60_000), Action::Restart]);
    let keys: Vec<&str> = case.expect.keys().map(|k| k.get_ref().as_str()).collect();
    assert_eq!(keys, ["metric.x", "out"]);
    assert_eq!(case.stores.values().next().unwrap()[0].get_ref().absent, Some(true));
}

#[test]
fn json_spec_errors_name_the_json_line() {
    let error = parse_json("{\n  \"manifest\": \"p.toml\",\n  \"case\": [\n    {\"name\": \"a\",\n     \"nope\": 1}\n  ]\n}").unwrap_err();
    assert_eq!((error.line, error.to_string().starts_with("t.json:5: unknown field `nope`")), (Some(5), true), "{error}");
    let error = parse_json("{\n  \"manifest\": \"p.toml\",\n  \"case\": [\n    {\"name\": \"a\"\n  ]\n}").unwrap_err();
    assert_eq!(error.line, Some(5), "a syntax error: {error}");
    let error = parse_json("{\n  \"manifest\": \"p.toml\",\n  \"case\": [{\"name\": \"a\", \"input\": [\n    {\"key\": null}\n  ]}]\n}").unwrap_err();
    assert_eq!(error.line, Some(4), "{error}");
    assert!(error.message.contains("leave the field out"), "{error}");
    let spec = parse_json(
        "{\n  \"manifest\": \"p.toml\",\n  \"case\": [{\"name\": \"a\", \"input\": [\n    {\"value\": \"v\"},\n    {\"topic\": \"x\"}\n  ]}]\n}",
    )
    .unwrap();
    let error = spec.actions(&spec.file.cases[0], &["in".to_string()]).unwrap_err();
    assert_eq!(error.line, Some(5), "{error}");
}
