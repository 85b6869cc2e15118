//! `rill test` end to end: the real binary on spec files next to an
//! installed plugin (the real component, no broker): a passing spec, a
//! failing one whose diff names the case, topic, record and field, and a
//! malformed one reported with its file and line.

use rill_tests::{install_plugin, rill};
use std::path::Path;

/// Runs `rill test` on `spec`; returns (success, stdout).
fn rill_test(spec: &Path, extra: &[&str]) -> (bool, String) {
    let output = rill()
        .arg("test")
        .args(extra)
        .arg(spec)
        .env("RILL_LOG", "warn")
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

const ABOVE: &str = r#"{ key = "h1", timestamp = 1000, json = { "@timestamp" = "t1", host = { name = "h1" }, system = { cpu = { total = { norm = { pct = 0.9 } } } } } }"#;

#[test]
fn a_passing_spec_a_failing_one_with_its_diff_and_a_malformed_one_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "cpu-alert");
    let folder = manifest.parent().unwrap();

    let passing = folder.join("pass.toml");
    std::fs::write(
        &passing,
        format!(
            "manifest = \"plugin.toml\"\n[[case]]\nname = \"alerts\"\ninput = [\n  {ABOVE},\n]\nexpect.alert = [\n  {{ key = \"h1\", timestamp = 1000, json = {{ name = \"h1\", timestamp = \"t1\" }} }},\n]\n"
        ),
    )
    .unwrap();
    let (ok, out) = rill_test(&passing, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("ok    ") && out.contains(": alerts"), "{out}");
    assert!(out.ends_with("1 passed, 0 failed\n"), "{out}");

    let failing = folder.join("fail.toml");
    std::fs::write(
        &failing,
        format!(
            "manifest = \"plugin.toml\"\n[[case]]\nname = \"wrong host\"\ninput = [\n  {ABOVE},\n]\nexpect.alert = [\n  {{ key = \"h1\", json = {{ name = \"h9\", timestamp = \"t1\" }} }},\n]\n"
        ),
    )
    .unwrap();
    let (ok, out) = rill_test(&failing, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("FAIL  "), "{out}");
    assert!(
        out.contains("case \"wrong host\": topic metric.cpu.alert, record 1, field value (json): expected"),
        "{out}"
    );
    assert!(out.contains("h9") && out.contains("\"name\":\"h1\""), "both values shown: {out}");
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");

    // Golden mode writes what was observed; the spec then passes.
    let (_, out) = rill_test(&failing, &["--update"]);
    assert!(out.contains("updated"), "{out}");
    let (ok, out) = rill_test(&failing, &[]);
    assert!(ok, "{out}");

    let malformed = folder.join("bad.toml");
    std::fs::write(
        &malformed,
        "manifest = \"plugin.toml\"\n[[case]]\nname = \"x\"\ninput = [\n  { topic = \"nope\", value = \"v\" },\n]\n",
    )
    .unwrap();
    let (ok, out) = rill_test(&malformed, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("{}:5: unknown input topic \"nope\"", malformed.display())),
        "{out}"
    );
    std::fs::write(&malformed, "manifest = \"plugin.toml\"\n[[case]]\nname = \"x\"\nexpected = 1\n").unwrap();
    let (ok, out) = rill_test(&malformed, &[]);
    assert!(!ok && out.contains(&format!("{}:4: unknown field `expected`", malformed.display())), "{out}");
}

/// Installs `plugin` (its plugin.toml) and writes `text` beside it as the
/// spec file `name`; returns the spec's path.
fn spec_beside(dir: &Path, plugin: &str, name: &str, text: &str) -> std::path::PathBuf {
    let manifest = install_plugin(dir, plugin);
    let spec = manifest.parent().unwrap().join(name);
    std::fs::write(&spec, text).unwrap();
    spec
}

/// Installs `plugin` with `manifests` and copies the repository's spec
/// files (`plugins/<plugin>/tests/*.toml`) beside them; returns the folder.
fn install_with_specs(dir: &Path, plugin: &str, manifests: &[&str]) -> std::path::PathBuf {
    let mut folder = None;
    for manifest in manifests {
        folder = Some(rill_tests::install_manifest(dir, plugin, manifest).parent().unwrap().to_path_buf());
    }
    let folder = folder.unwrap();
    let specs = rill_tests::workspace().join("plugins").join(plugin).join("tests");
    std::fs::create_dir_all(folder.join("tests")).unwrap();
    for entry in std::fs::read_dir(specs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml" || e == "json") {
            std::fs::copy(&path, folder.join("tests").join(path.file_name().unwrap())).unwrap();
        }
    }
    folder
}

/// The repository's specs of the time, state, table and global-table
/// samples pass on the real components: advance steps (stream time and
/// the wall clock), store contents, rebalance, tables and global tables,
/// topics chosen per record (expected by topic), sliding windows and a
/// stream-stream join.
#[test]
fn the_samples_specs_for_time_stores_rebalance_and_tables_pass() {
    let dir = tempfile::tempdir().unwrap();
    let folders = [
        install_with_specs(dir.path(), "cpu-peak", &["plugin.toml", "wall-clock.toml"]),
        install_with_specs(dir.path(), "order-count", &["plugin.toml"]),
        install_with_specs(dir.path(), "order-join", &["plugin.toml", "global.toml"]),
        install_with_specs(dir.path(), "cpu-alert", &["plugin.toml"]),
        install_with_specs(dir.path(), "metric-route", &["plugin.toml"]),
        install_with_specs(dir.path(), "order-sliding-count", &["plugin.toml", "update.toml"]),
        install_with_specs(dir.path(), "order-payment-join", &["plugin.toml"]),
        install_with_specs(dir.path(), "order-customer-join", &["plugin.toml"]),
    ];
    let output = rill().arg("test").args(&folders).env("RILL_LOG", "warn").output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(!out.contains("FAIL") && out.contains(" passed, 0 failed"), "{out}");
    for name in [
        "advancing stream time to the minute fires the flush without a new record",
        "the flush fires when the wall clock reaches the minute, whatever the records' times",
        "a rebalance moves the partition away and back: the count continues from the checkpointed store",
        "the seed's global join: orders on any partition join the whole address_v2",
        "the table survives a restart (restored from its topic) and a rebalance (from the checkpoint)",
        "(JSON spec) the threshold is exclusive: 0.5 does not alert, anything above does",
        "each record goes to the topic of its metricset",
        "a topic outside the pattern, or no topic name at all, is dead-lettered with why",
        "an out-of-order order updates every later window it falls in, makes its own left window from the window before, and copies its right window",
        "every window an order makes or changes is emitted at once",
        "orders joined with payments within 5 minutes; unpaid orders as <order>|null once closed",
        "no null result before the window closes, even one millisecond before",
        "orders joined to customers across partitions, through updates and deletes on both sides",
        "a changed order pointing at a missing customer retracts its result",
        "answers for an order that changed since are dropped: only the last value's result comes out",
        "subscriptions and tables survive a restart (restored from changelog and topics)",
        "an order whose value is not JSON is dead-lettered and joins nothing",
    ] {
        assert!(out.contains(&format!(": {name}\n")), "{name} ran: {out}");
    }
}

/// Lays out `plugins` (manifests, built components, and any app file and
/// spec files of theirs) and `apps` (app files, with their specs in
/// `apps/tests/`) in `dir` as the repository holds them, so the specs'
/// relative paths hold; returns the folders to give `rill test`.
fn install_tree(dir: &Path, plugins: &[&str], apps: &[&str]) -> Vec<std::path::PathBuf> {
    let repo = rill_tests::workspace();
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    let mut folders = Vec::new();
    for plugin in plugins {
        let (from, to) = (repo.join("plugins").join(plugin), dir.join("plugins").join(plugin));
        copy(&rill_tests::component(plugin), &to.join(format!("{plugin}.wasm")));
        for file in ["plugin.toml", "app.toml"] {
            if from.join(file).exists() {
                copy(&from.join(file), &to.join(file));
            }
        }
        let specs: Vec<_> = std::fs::read_dir(from.join("tests"))
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        for spec in &specs {
            copy(spec, &to.join("tests").join(spec.file_name().unwrap()));
        }
        if !specs.is_empty() {
            folders.push(to);
        }
    }
    for app in apps {
        copy(&repo.join("apps").join(app), &dir.join("apps").join(app));
        copy(&repo.join("apps/tests").join(app), &dir.join("apps/tests").join(app));
        folders.push(dir.join("apps/tests").join(app));
    }
    folders
}

/// The interceptor samples' specs pass on the real components: the Rust
/// logging interceptors and their Python ports (the same expected lines)
/// in the metrics chain, a fixture whose every call fails (outputs
/// unchanged, failures counted) and one whose drops and changes must reach
/// the processor, the next interceptor and the topic. The grants' `logs` directory is the
/// case's own: nothing is written under the working directory.
#[test]
fn the_interceptor_samples_specs_pass_and_write_no_real_logs() {
    let dir = tempfile::tempdir().unwrap();
    let folders = install_tree(
        dir.path(),
        &[
            "metric-branch",
            "cpu-alert",
            "consumer-interceptor",
            "producer-interceptor",
            "consumer-interceptor-python",
            "producer-interceptor-python",
            "fixture-bad-interceptor",
            "fixture-misbehave",
            "fixture-edit-interceptor",
        ],
        &["metrics-intercepted.toml", "metrics-intercepted-python.toml"],
    );
    // The interceptors' specs and the apps', not the processors' own.
    let folders: Vec<_> = folders
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("intercept"))
        .collect();
    let work = tempfile::tempdir().unwrap();
    let output = rill()
        .current_dir(work.path())
        .arg("test")
        .args(&folders)
        .env("RILL_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{out}\n{log}");
    assert!(out.ends_with("6 passed, 0 failed\n"), "{out}");
    assert!(
        log.contains("interceptor failed; its change is not applied"),
        "the fixture's failures are logged: {log}"
    );
    assert!(
        std::fs::read_dir(work.path()).unwrap().next().is_none(),
        "a spec run writes nothing where it runs (no logs/)"
    );
}

/// A spec whose `files` or `interceptors` expectation differs fails with
/// a diff naming the file and line, or the interceptor and event.
#[test]
fn a_wrong_log_line_or_count_fails_with_its_diff() {
    let dir = tempfile::tempdir().unwrap();
    install_tree(
        dir.path(),
        &["cpu-alert", "fixture-bad-interceptor", "consumer-interceptor"],
        &[],
    );
    let folder = dir.path().join("plugins/fixture-bad-interceptor/tests");
    let spec = folder.join("wrong.toml");
    std::fs::write(
        &spec,
        r#"manifest = "../app.toml"
[[case]]
name = "wrong"
input = [
  { key = "h1", timestamp = 1000, json = { "@timestamp" = "t1", host = { name = "h1" }, system = { cpu = { total = { norm = { pct = 0.9 } } } } } },
]
expect.alert = [
  { key = "h1", timestamp = 1000, json = { name = "h1", timestamp = "t1" } },
]
interceptors.fixture-bad-interceptor = { errors = { consume = 2 }, calls = 9 }
"#,
    )
    .unwrap();
    let app = folder.parent().unwrap().join("app.toml");
    let text = std::fs::read_to_string(&app).unwrap()
        + "\n[[interceptors]]\nmanifest = \"../consumer-interceptor/plugin.toml\"\n";
    std::fs::write(&app, text).unwrap();
    let wrong_line = folder.join("wrong-line.toml");
    std::fs::write(
        &wrong_line,
        r#"manifest = "../app.toml"
[[case]]
name = "wrong line"
input = [
  { key = "h1", timestamp = 1000, value = "x" },
]
expect.dead-letter = [
  { key = "h1", value = "x" },
]
files."logs/consumer_interceptor.log" = [
  { json = { event = "consume", topic = "metric.cpu", partition = 0, offset = 0, timestamp = 1000, key = "h1", value = "y" } },
]
"#,
    )
    .unwrap();
    let (ok, out) = rill_test(&spec, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("case \"wrong\": interceptor fixture-bad-interceptor, errors of consume: expected 2, got 1"),
        "{out}"
    );
    assert!(
        out.contains("case \"wrong\": interceptor fixture-bad-interceptor, calls: expected 9, got "),
        "{out}"
    );
    let (ok, out) = rill_test(&wrong_line, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("case \"wrong line\": file logs/consumer_interceptor.log, line 1 (json): expected {"),
        "{out}"
    );
    assert!(
        out.contains("case \"wrong line\": file logs/consumer_interceptor.log, line 2: unexpected: \"{\\\"event\\\":\\\"commit\\\""),
        "the commit line nobody expected: {out}"
    );
}

/// An advance step that stops short of the minute fires nothing, and a
/// store entry that differs is reported with the store, key and both values.
#[test]
fn a_timer_not_yet_due_and_a_wrong_store_entry_fail_with_their_diff() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_beside(
        dir.path(),
        "cpu-peak",
        "short.toml",
        r#"manifest = "plugin.toml"
[[case]]
name = "short of the minute"
input = [
  { key = "h1", timestamp = 1000, json = { host = { name = "h1" }, system = { cpu = { total = { norm = { pct = 0.5 } } } } } },
  { advance = "stream-time", to = 59999 },
]
expect.peak = [
  { key = "h1", json = { host = "h1", peak = 0.5, until = 60000 } },
]
stores.peaks = [
  { key = "h1", absent = true },
]
"#,
    );
    let (ok, out) = rill_test(&spec, &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("topic metric.cpu.peak, record 1: expected but not produced"), "{out}");
    assert!(out.contains("store peaks, key \"h1\": expected absent, got base64:P+AAAAAAAAA="), "{out}");
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

/// A JSON spec: a malformed one is reported with its JSON line, a failing
/// one with its diff, and `--update` writes the observed records back as
/// JSON, after which it passes.
#[test]
fn a_json_spec_fails_with_its_diff_is_updated_as_json_and_names_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "cpu-alert");
    let spec = manifest.parent().unwrap().join("spec.json");
    let record = r#"{"key": "h1", "timestamp": 1000, "json": {"@timestamp": "t1", "host": {"name": "h1"}, "system": {"cpu": {"total": {"norm": {"pct": 0.9}}}}}}"#;
    std::fs::write(
        &spec,
        format!(
            "{{\n  \"manifest\": \"plugin.toml\",\n  \"case\": [{{\n    \"name\": \"json\",\n    \"input\": [\n      {record}\n    ],\n    \"expect\": {{\"alert\": [{{\"key\": \"h1\", \"json\": {{\"name\": \"h9\", \"timestamp\": \"t1\"}}}}]}}\n  }}]\n}}\n"
        ),
    )
    .unwrap();
    let (ok, out) = rill_test(&spec, &[]);
    assert!(!ok && out.contains("case \"json\": topic metric.cpu.alert, record 1, field value (json)"), "{out}");
    let (_, out) = rill_test(&spec, &["--update"]);
    assert!(out.contains("updated"), "{out}");
    let updated: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&spec).unwrap()).unwrap();
    assert_eq!(updated["case"][0]["expect"]["alert"][0]["json"]["name"], "h1", "{updated}");
    let (ok, out) = rill_test(&spec, &[]);
    assert!(ok, "{out}");

    std::fs::write(
        &spec,
        "{\n  \"manifest\": \"plugin.toml\",\n  \"case\": [{\"name\": \"x\", \"input\": [\n    {\"topic\": \"nope\"}\n  ]}]\n}\n",
    )
    .unwrap();
    let (ok, out) = rill_test(&spec, &[]);
    assert!(!ok && out.contains(&format!("{}:4: unknown input topic \"nope\"", spec.display())), "{out}");
}

/// A plugin that traps: the trap (its message) shows in the diff as the
/// dead letter nobody expected, and the records around it go on.
#[test]
fn a_trap_shows_in_the_diff() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_beside(
        dir.path(),
        "fixture-misbehave",
        "trap.toml",
        r#"manifest = "plugin.toml"
[[case]]
name = "poison"
input = [
  { key = "k", value = "a", timestamp = 1 },
  { key = "k", value = "poison", timestamp = 2 },
  { key = "k", value = "b", timestamp = 3 },
]
expect.out = [
  { key = "k", value = "a" },
  { key = "k", value = "b" },
]
"#,
    );
    let (ok, out) = rill_test(&spec, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("case \"poison\": topic dlq, record 1: unexpected: key \"k\", value \"poison\", timestamp 2, error")
            && out.contains("wasm trap: wasm `unreachable` instruction executed"),
        "the trap and its message: {out}"
    );
    assert!(!out.contains("topic out"), "the records around it went on: {out}");
}

/// Mistakes in a spec are reported with the file and line before anything
/// runs: an unknown output, an unknown store, a malformed record.
#[test]
fn unknown_outputs_stores_and_malformed_records_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-count");
    let spec = manifest.parent().unwrap().join("bad.toml");
    let cases = [
        ("expect.countz = []\n", 5, "unknown output or topic \"countz\" in expect; known: "),
        ("stores.count = []\n", 5, "unknown store \"count\" in stores; declared stores: order-count/counts"),
        ("input = [\n  { key = \"k\", value = \"v\", base64 = \"dg==\" },\n]\n", 6, "give at most one of value, base64 and json"),
        ("input = [\n  { key-base64 = \"%%%\" },\n]\n", 6, "key-base64 is not valid base64"),
        ("input = [\n  { key = \"k\", timestamp = \"soon\" },\n]\n", 6, "invalid type: string \"soon\", expected i64"),
    ];
    for (body, line, message) in cases {
        std::fs::write(&spec, format!("manifest = \"plugin.toml\"\n\n[[case]]\nname = \"x\"\n{body}")).unwrap();
        let (ok, out) = rill_test(&spec, &[]);
        assert!(!ok, "{out}");
        let want = format!("error {}:{line}: {message}", spec.display());
        assert!(out.contains(&want), "want {want:?} in {out}");
        assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
    }
}
