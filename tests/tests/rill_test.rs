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
