use super::canonical::is_canonical;
use super::json::Json;
use super::*;

const SEED: &str = r#"{"@timestamp":"2025-01-31T07:55:26.555Z","system":{"cpu":{"idle":{"pct":8.1113},"total":{"pct":1.8887,"norm":{"pct":0.1889}}}},"host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"},"tags":["a","b"],"metricset":{"period":10000,"name":"cpu"}}"#;

fn plan(paths: &[&str]) -> Plan {
    let mut plan = Plan::new();
    for p in paths {
        plan.slot(&FieldPath::parse(p).unwrap());
    }
    plan
}

fn texts<'a>(value: &'a str, parsed: &Parsed) -> Vec<Option<&'a str>> {
    parsed
        .as_ref()
        .unwrap()
        .iter()
        .map(|s| s.clone().map(|r| &value[r.start as usize..r.end as usize]))
        .collect()
}

#[test]
fn every_declared_path_gets_the_exact_text_of_its_value() {
    let plan = plan(&["system.cpu.total.norm.pct", "host", "@timestamp", "metricset.name", "tags.1", "nope.x"]);
    let parsed = Json.parse(&plan, SEED.as_bytes());
    assert_eq!(
        texts(SEED, &parsed),
        [
            Some("0.1889"),
            Some(r#"{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"}"#),
            Some(r#""2025-01-31T07:55:26.555Z""#),
            Some(r#""cpu""#),
            Some(r#""b""#),
            None,
        ]
    );
}

#[test]
fn a_path_inside_another_declared_path_is_found_too() {
    let plan = plan(&["host", "host.name"]);
    let parsed = Json.parse(&plan, SEED.as_bytes());
    assert_eq!(texts(SEED, &parsed)[1], Some(r#""Aaronui-MacBookPro.local""#));
}

#[test]
fn a_scalar_where_an_object_is_expected_makes_the_path_missing() {
    let value = r#"{"system":5,"host":[1,{"a":2}]}"#;
    let parsed = Json.parse(&plan(&["system.cpu", "host.1.a", "host.x"]), value.as_bytes());
    assert_eq!(texts(value, &parsed), [None, Some("2"), None]);
}

#[test]
fn the_last_of_a_duplicated_key_wins_as_in_serde_json_values() {
    let value = r#"{"a":1,"a":2}"#;
    assert_eq!(texts(value, &Json.parse(&plan(&["a"]), value.as_bytes())), [Some("2")]);
}

#[test]
fn a_value_that_is_not_json_anywhere_is_an_error_even_after_the_fields() {
    let err = Json.parse(&plan(&["a"]), br#"{"a":1} trailing"#).unwrap_err();
    assert!(err.starts_with("the value is not JSON: trailing characters"), "{err}");
    let err = Json.parse(&plan(&["a"]), b"not json").unwrap_err();
    assert!(err.starts_with("the value is not JSON: expected"), "{err}");
    assert!(Json.parse(&plan(&["a"]), br#"{"a":1,"b":[1,}"#).is_err());
}

#[test]
fn scalars_are_classified_from_their_text() {
    assert_eq!(scalar("0.1889"), Scalar::Number(0.1889));
    assert_eq!(scalar("-2e3"), Scalar::Number(-2000.0));
    assert_eq!(scalar("null"), Scalar::Null);
    assert_eq!(scalar("false"), Scalar::Boolean(false));
    assert_eq!(scalar(r#""a\"b\u00e9""#), Scalar::Text("a\"bé".into()));
    assert_eq!(scalar(r#""plain""#), Scalar::Text("plain".into()));
    assert_eq!(scalar("[1]"), Scalar::Composite);
}

#[test]
fn paths_are_dotted_or_json_pointers() {
    let p = FieldPath::parse("/a.b/c~1d/~0").unwrap();
    let segments: Vec<&str> = p.segments().iter().map(|s| s.0.as_str()).collect();
    assert_eq!(segments, ["a.b", "c/d", "~"]);
    assert_eq!(FieldPath::parse("a..b"), Err(PathError::EmptySegment));
    assert_eq!(FieldPath::parse(""), Err(PathError::Empty));
    assert_eq!(FieldPath::parse("/a~2"), Err(PathError::BadEscape('2')));
    assert_eq!(Segment("01".into()).index(), None);
    assert_eq!(Segment("10".into()).index(), Some(10));
}

#[test]
fn canonical_text_is_what_a_compact_writer_writes() {
    assert!(is_canonical(r#"{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"}"#));
    assert!(is_canonical(r#"{"a":"x\ny\u001f\"\\","b":[true,false,null,-1.5]}"#));
    assert!(is_canonical(r#""2025-01-31T07:55:26.555Z""#));
    assert!(is_canonical("{}"));
    assert!(is_canonical(r#"{"a":{"k":1},"b":{"k":2}}"#), "the same key in two objects");
    assert!(is_canonical(r#"["k","k"]"#), "strings in an array are not keys");
    for text in [
        r#"{"a": 1}"#,
        "{\n\"a\":1}",
        r#"{"a":1,"a":2}"#,
        r#"{"a":1e3}"#,
        r#"{"a":1E3}"#,
        r#"{"a":"\/"}"#,
        r#"{"a":"\u0041"}"#,
        r#"{"a":"\u000a"}"#,
        r#"{"a":"\u001F"}"#,
        "{\"a\":\"\u{2028}\"}",
    ] {
        assert!(!is_canonical(text), "{text}");
    }
    assert!(is_canonical(r#"{"a":"\u2028"}"#));
}
