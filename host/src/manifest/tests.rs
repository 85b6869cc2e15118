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
    let sliding = Manifest::load(&root.join("order-sliding-count/plugin.toml")).unwrap();
    assert_eq!(
        (sliding.windows[0].kind, sliding.windows[0].grace, sliding.windows[0].retention),
        (
            rill_sdk::time::WindowKind::Sliding {
                time_difference: 600_000
            },
            60_000,
            1_260_000
        ),
        "retention defaults to 2 * time-difference + grace"
    );
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
fn an_output_may_choose_its_topic_per_record_within_a_pattern() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let route = Manifest::load(&root.join("metric-route/plugin.toml")).unwrap();
    assert!(route.outputs.is_empty(), "a topic-pattern output has no one topic");
    let by_name = &route.routed["by-name"];
    assert_eq!(by_name.pattern.as_str(), r"metric\.by-name\.[a-z0-9-]+");
    assert!(by_name.pattern.matches("metric.by-name.cpu") && !by_name.pattern.matches("metric.by-name.CPU"));
    assert_eq!((by_name.create, by_name.partitions), (false, None));
    assert_eq!(route.output_names().collect::<Vec<_>>(), ["by-name"]);
    let created = manifest_text("x", "").replace(
        "out = \"out\"\n",
        "out = \"out\"\nper-host = { topic-pattern = \"hosts\\\\..+\", create = true, partitions = 4 }\n",
    );
    let m = Manifest::parse(Path::new("x/plugin.toml"), &created).unwrap();
    assert_eq!(
        (m.routed["per-host"].create, m.routed["per-host"].partitions),
        (true, Some(4))
    );
    assert_eq!(m.output_names().collect::<Vec<_>>(), ["out", "per-host"]);
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

/// A manifest that passes, with `extra` lines appended and `name` as its name.
fn manifest_text(name: &str, extra: &str) -> String {
    format!(
        "manifest-version = 1\nname = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"x.wasm\"\n\
         dead-letter = \"in.dlq\"\n[[inputs]]\ntopic = \"in\"\n[outputs]\nout = \"out\"\n{extra}"
    )
}

fn passes(text: &str) -> bool {
    Manifest::parse(Path::new("x/plugin.toml"), text).is_ok()
}

/// The refusals of `text`, as (field, fix).
fn refusals(text: &str) -> Vec<(String, String)> {
    Manifest::parse(Path::new("x/plugin.toml"), text)
        .expect_err("must be refused")
        .into_errors()
        .into_iter()
        .map(|error| match error {
            ManifestError::Invalid { field, fix, .. } => (field, fix),
            other => panic!("not a value refusal: {other}"),
        })
        .collect()
}

#[test]
fn every_problem_of_a_manifest_is_reported_in_one_pass() {
    let text =
        manifest_text("Bad_Name", "[limits]\nmemory = \"1\"\n").replace("component", "stores = [\"A\"]\ncomponent");
    let fields: Vec<String> = refusals(&text).into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["name", "stores[0]", "limits.memory"]);
}

#[test]
fn a_proposed_name_passes_the_name_check() {
    let long = "x".repeat(70);
    for bad in [
        "Word_Len",
        "cpu_alert",
        "CpuAlert",
        "1st-stage",
        "metric cpu",
        "ok!",
        "_lead",
        "Über_name",
        &long,
    ] {
        let (_, fix) = validate::check_name(bad).expect_err(bad);
        let better = validate::suggest_name(bad).unwrap_or_else(|| panic!("no name proposed for {bad}"));
        assert!(fix.contains(&format!("\"{better}\"")), "{bad}: {fix}");
        assert_eq!(validate::check_name(&better), Ok(()), "{bad} -> {better}");
        assert!(!passes(&manifest_text(bad, "")), "{bad}");
        assert!(passes(&manifest_text(&better, "")), "{bad} -> {better}");
    }
    assert_eq!(validate::suggest_name("Word_Len").as_deref(), Some("word-len"));
    // Nothing of these is left, so the fix shows an example, which passes.
    for hopeless in ["", "___", "123"] {
        assert_eq!(validate::suggest_name(hopeless), None);
        let (_, fix) = validate::check_name(hopeless).expect_err(hopeless);
        assert!(fix.contains("\"cpu-alert\""), "{fix}");
    }
    assert!(passes(&manifest_text("cpu-alert", "")));
}

#[test]
fn a_proposed_version_passes() {
    for bad in ["1.0", "1", "v2", "1.2.3.4", "", "1.x.3", "01.2-rc"] {
        let better = validate::suggest_version(bad);
        assert!(validate::is_version(&better), "{bad} -> {better}");
        let text = manifest_text("x", "").replace("\"0.1.0\"", &format!("\"{bad}\""));
        assert!(!passes(&text), "{bad}");
        assert!(passes(&text.replace(
            &format!("version = \"{bad}\""),
            &format!("version = \"{better}\"")
        )));
    }
    assert_eq!(validate::suggest_version("1.0"), "1.0.0");
}

#[test]
fn a_proposed_dead_letter_topic_passes() {
    // The dead-letter topic is an output; so, in turn, are the proposals.
    let mut taken = vec!["in.dlq".to_string()];
    for _ in 0..4 {
        let outputs: String = taken
            .iter()
            .enumerate()
            .map(|(i, topic)| format!("o{i} = \"{topic}\"\n"))
            .collect();
        let text = manifest_text("x", "").replace("out = \"out\"\n", &outputs);
        let refused = refusals(&text);
        let (_, fix) = refused.iter().find(|(field, _)| field == "dead-letter").unwrap();
        let manifest_outputs = taken
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    TopicSpec {
                        topic: t.clone(),
                        partitions: None,
                    },
                )
            })
            .collect();
        let inputs = [Input {
            topic: "in".into(),
            kind: InputKind::Stream,
        }];
        let better = validate::free_dead_letter("x", &inputs, &manifest_outputs).unwrap();
        assert!(fix.contains(&format!("\"{better}\"")), "{fix}");
        assert!(
            passes(&text.replace("dead-letter = \"in.dlq\"", &format!("dead-letter = \"{better}\""))),
            "{better}"
        );
        taken.push(better);
    }
}

/// `[windows.w]` with `lines`, emitting to `out`.
fn window(lines: &str) -> String {
    manifest_text(
        "x",
        &format!("[windows.w]\nemit = \"final\"\noutput = \"out\"\n{lines}"),
    )
}

#[test]
fn a_proposed_window_duration_or_kind_passes() {
    let cases = [
        "kind = \"tumbling\"",
        "kind = \"tumbling\"\ngrace = \"1m\"\nretention = \"5m\"",
        "kind = \"tumbling\"\ngap = \"1m\"\nretention = \"3m\"",
        "kind = \"hopping\"\nadvance = \"20m\"",
        "kind = \"hopping\"\nsize = \"5m\"",
        "kind = \"hopping\"\nsize = \"5m\"\ngap = \"1s\"",
        "kind = \"session\"",
        "kind = \"session\"\nsize = \"10m\"",
        "kind = \"session\"\nadvance = \"1m\"\ngrace = \"2m\"\nretention = \"3m\"",
        "kind = \"tumbling\"\nsize = \"10m\"\nadvance = \"1m\"",
        "kind = \"tumbling\"\nsize = \"10m\"\nadvance = \"20m\"",
    ];
    for case in cases {
        let text = window(case);
        let refused = refusals(&text);
        assert!(!refused.is_empty(), "{case}");
        // Every fix of a window at once: the keys that do not apply go,
        // the missing ones get their proposed values.
        let mut fixed: Vec<String> = case.lines().map(String::from).collect();
        for (field, fix) in &refused {
            let key = field.strip_prefix("windows.w.").unwrap();
            if fix.starts_with("remove it") {
                fixed.retain(|line| !line.starts_with(&format!("{key} =")));
            } else {
                let value = fix.split('"').nth(1).unwrap_or_else(|| panic!("{case}: {fix}"));
                fixed.push(format!("{key} = \"{value}\""));
            }
            // A proposed kind, alone, also passes.
            if let Some(kind) = fix.split("use kind = \"").nth(1) {
                let kind = kind.trim_end_matches('"');
                let other = case
                    .lines()
                    .map(|line| {
                        if line.starts_with("kind =") {
                            format!("kind = \"{kind}\"")
                        } else {
                            line.into()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(passes(&window(&other)), "{case}: {fix}");
            }
        }
        assert!(passes(&window(&fixed.join("\n"))), "{case}: {refused:?} -> {fixed:?}");
    }
}

#[test]
fn a_window_counted_by_the_host_says_so_and_the_proposed_fix_passes() {
    let tumbling = "kind = \"tumbling\"\nsize = \"10m\"";
    let counted = window(&format!("{tumbling}\naggregate = \"count\""));
    let counted = Manifest::parse(Path::new("x/plugin.toml"), &counted);
    assert_eq!(counted.unwrap().windows[0].aggregate, WindowAggregate::Count);
    let folded = Manifest::parse(Path::new("x/plugin.toml"), &window(tumbling));
    assert_eq!(folded.unwrap().windows[0].aggregate, WindowAggregate::Plugin);
    let refused = refusals(&window(&format!("{tumbling}\naggregate = \"max\"")));
    assert_eq!(refused.len(), 1);
    let (field, fix) = &refused[0];
    assert_eq!(field, "windows.w.aggregate");
    let value = fix.split('"').nth(1).unwrap();
    let fixed = window(&format!("{tumbling}\naggregate = \"{value}\""));
    assert!(passes(&fixed), "{fix}");
}

#[test]
fn the_values_other_fixes_propose_pass() {
    // "write a duration such as ..." (durations, timers), "at least 1ms".
    for text in ["10m", "30s", "250ms", "1ms"] {
        assert!(problems::millis(text).is_ok_and(|ms| ms > 0), "{text}");
        let timer = format!("[[timers]]\nname = \"t\"\nclock = \"wall-clock\"\ninterval = \"{text}\"");
        assert!(passes(&manifest_text("x", &timer)), "{text}");
    }
    // limits.memory and limits.time-per-batch.
    for size in ["64MiB", "256MiB", "1GiB", "1MiB"] {
        assert!(validate::check_memory(size).is_ok(), "{size}");
    }
    for time in ["1s", "250ms", "10ms"] {
        assert!(validate::check_time_per_batch(time).is_ok(), "{time}");
    }
    // An input, a stream kind, the manifest version.
    assert!(validate::check_topic("my-topic").is_ok());
    let table = manifest_text("x", "").replace("topic = \"in\"", "topic = \"in\"\nkind = \"table\"");
    assert!(!passes(&table));
    assert!(passes(&table.replace("kind = \"table\"", "kind = \"stream\"")));
    assert!(passes(&manifest_text("x", "").replace(
        "manifest-version = 1",
        &format!("manifest-version = {MANIFEST_VERSION}")
    )));
}

#[test]
fn fields_keep_the_order_the_file_writes_them_in() {
    let text = manifest_text(
        "x",
        "[fields]\nzeta = \"z.a\"\nalpha = { path = \"/a.b/c\", as = \"raw\" }\nmid = { path = \"m\", as = \"value\" }",
    )
    .replace("dead-letter = ", "input-value = \"bytes\"\ndead-letter = ");
    let manifest = Manifest::parse(Path::new("x.toml"), &text).unwrap();
    let fields: Vec<(&str, String, bool)> = manifest
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.path.to_string(), f.raw))
        .collect();
    assert_eq!(
        fields,
        [("zeta", "z.a".into(), false), ("alpha", "/a.b/c".into(), true), ("mid", "m".into(), false)]
    );
    assert_eq!(manifest.input_value, InputValue::Bytes);
    let plain = Manifest::parse(Path::new("x.toml"), &manifest_text("x", "")).unwrap();
    assert!(plain.fields.is_empty());
    assert_eq!(plain.input_value, InputValue::Omitted);
}

/// `[joins.j]` of `in` (left) and `other` (right) with `lines`.
fn join(lines: &str) -> String {
    manifest_text(
        "x",
        &format!("[[inputs]]\ntopic = \"other\"\n[joins.j]\nleft = \"in\"\nright = \"other\"\noutput = \"out\"\n{lines}"),
    )
}

#[test]
fn a_join_declares_its_sides_window_and_stores() {
    let text = join("kind = \"outer\"\nbefore = \"10s\"\nafter = \"1m\"\ngrace = \"2s\"\nkeyless = \"drop\"");
    let m = Manifest::parse(Path::new("x/plugin.toml"), &text).unwrap();
    let j = &m.joins[0];
    assert_eq!((j.window.before, j.window.after, j.window.grace), (10_000, 60_000, 2_000));
    assert_eq!(j.window.kind, rill_sdk::time::join::JoinKind::Outer);
    assert_eq!(j.stores, ["j-left".to_string(), "j-right".to_string()]);
    assert_eq!(j.keyless, JoinKeyless::Drop);
    assert_eq!(m.join_of("other").map(|(j, side)| (j.name.as_str(), side)), Some(("j", rill_sdk::time::join::Side::Right)));
    assert_eq!(m.join_of("out"), None);

    let symmetric = Manifest::parse(Path::new("x/plugin.toml"), &join("kind = \"inner\"\ntime-difference = \"5m\"")).unwrap();
    let w = symmetric.joins[0].window;
    assert_eq!((w.before, w.after, w.grace), (300_000, 300_000, 0));
}

#[test]
fn a_join_refusal_names_the_key_to_fix() {
    let fields = |lines: &str| refusals(&join(lines)).into_iter().map(|(field, _)| field).collect::<Vec<_>>();
    assert_eq!(fields("kind = \"left\""), ["joins.j"]);
    assert_eq!(fields("kind = \"left\"\nafter = \"1m\""), ["joins.j"]);
    assert_eq!(fields("kind = \"left\"\ntime-difference = \"1m\"\nafter = \"1m\""), ["joins.j.time-difference"]);
    assert_eq!(fields("kind = \"left\"\ntime-difference = \"soon\""), ["joins.j.time-difference"]);
    assert!(passes(&join("kind = \"left\"\ntime-difference = \"0s\"")), "a zero window joins equal timestamps");
    let clash = join("kind = \"left\"\ntime-difference = \"1m\"").replace("component", "stores = [\"j-left\"]\ncomponent");
    assert!(!passes(&clash), "a store may not take a join buffer's name");
}
