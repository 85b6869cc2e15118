//! Golden tests: each `host/tests/manifest-ui/invalid/NAME.toml` must be
//! refused with exactly the message in `NAME.err`. Run with `RILL_BLESS=1`
//! to rewrite the `.err` files after a deliberate wording change.

use super::*;
use std::path::Path;

#[test]
fn invalid_manifests_are_refused_with_their_golden_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifest-ui/invalid");
    crate::golden::check_refusals(&dir, 10, |shown, text| {
        Manifest::parse(shown, text)
            .expect_err(&format!("{} must be refused", shown.display()))
            .to_string()
    });
}

#[test]
fn the_sample_manifests_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let cpu = Manifest::load(&root.join("cpu-alert/plugin.toml")).unwrap();
    assert_eq!(cpu.name, "cpu-alert");
    assert_eq!(cpu.output_topic("alert"), Some("metric.cpu.alert"));
    assert_eq!(cpu.config, serde_json::json!({"threshold": 0.5}));
    assert!(cpu.component.ends_with("cpu-alert/cpu-alert.wasm"));
    let branch = Manifest::load(&root.join("metric-branch/plugin.toml")).unwrap();
    assert_eq!(branch.stream_topics().collect::<Vec<_>>(), ["metric.all"]);
    assert_eq!(
        branch.dead_letter,
        TopicSpec {
            topic: "metric.all.dlq".into(),
            partitions: None
        }
    );
}

#[test]
fn topics_may_be_tables_with_partitions_and_config_keeps_its_types() {
    let text = r#"
manifest-version = 1
name = "x"
version = "1.2.3-rc.1"
component = "x.wasm"
dead-letter = { topic = "x.dlq", partitions = 1 }
[[inputs]]
topic = "in"
[[inputs]]
topic = "table-in"
kind = "global-table"
[outputs]
out = { topic = "out", partitions = 6 }
[config]
list = [1, "a"]
nested = { on = true }
"#;
    let m = Manifest::parse(Path::new("x/plugin.toml"), text).unwrap();
    assert_eq!(m.outputs["out"].partitions, Some(6));
    assert_eq!(m.dead_letter.partitions, Some(1));
    assert_eq!(m.inputs[1].kind, InputKind::GlobalTable);
    assert_eq!(m.config, serde_json::json!({"list": [1, "a"], "nested": {"on": true}}));
}
