//! `rill redrive` from the outside: records the misbehave fixture
//! dead-lettered (`poison = "error"`) are run through a fixed version
//! (`poison = "pass"`) and land in the output topic, each exactly once
//! however often redrive runs; records that fail again go back to the
//! dead-letter topic with the new reason and are never redriven again;
//! `--dry-run` writes nothing.

use rill_tests::{DevBroker, component, produce, read_all, rill, run_until_idle};
use std::path::{Path, PathBuf};

/// A manifest for the misbehave fixture with this poison behaviour, in
/// its own directory.
fn manifest(dir: &Path, poison: &str) -> PathBuf {
    let dir = dir.join(poison);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(component("fixture-misbehave"), dir.join("fixture-misbehave.wasm")).unwrap();
    let path = dir.join("plugin.toml");
    std::fs::write(
        &path,
        format!(
            "manifest-version = 1\nname = \"misbehave\"\nversion = \"0.1.0\"\ncomponent = \"fixture-misbehave.wasm\"\n\
             dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"in\"\n[outputs]\nout = \"out\"\n[config]\npoison = \"{poison}\"\n"
        ),
    )
    .unwrap();
    path
}

fn redrive(bootstrap: &str, manifest: &Path, extra: &[&str]) -> String {
    let output = rill()
        .args([
            "redrive",
            "dlq",
            "--brokers",
            bootstrap,
            "--application-id",
            "rd",
            "--manifest",
        ])
        .arg(manifest)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    text
}

fn values(bootstrap: &str, topic: &str) -> Vec<String> {
    read_all(bootstrap, topic)
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap_or_default()).unwrap())
        .collect()
}

#[test]
fn dead_letters_are_redriven_through_the_fixed_version_exactly_once() {
    let broker = DevBroker::start(&[("in", 1), ("out", 1), ("dlq", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let record = |v: &str| (Some(b"k".to_vec()), v.as_bytes().to_vec());
    produce(
        &broker.bootstrap,
        "in",
        &[record("a"), record("poison"), record("b"), record("poison")],
    );
    run_until_idle(
        &broker.bootstrap,
        &[&manifest(dir.path(), "error")],
        "rd",
        &dir.path().join("state"),
    );
    assert_eq!(values(&broker.bootstrap, "out"), ["a", "b"]);
    assert_eq!(values(&broker.bootstrap, "dlq"), ["poison", "poison"]);

    // A dry run says what it would write and writes nothing.
    let fixed = manifest(dir.path(), "pass");
    let dry = redrive(&broker.bootstrap, &fixed, &["--dry-run"]);
    assert!(dry.contains("would write out: key \"k\" value \"poison\""), "{dry}");
    assert!(dry.contains("would redrive 2 dead letters of dlq"), "{dry}");
    assert_eq!(values(&broker.bootstrap, "out"), ["a", "b"]);

    let first = redrive(&broker.bootstrap, &fixed, &[]);
    assert!(
        first.contains("redrove 2 dead letters of dlq: 2 results written, 0 failed again"),
        "{first}"
    );
    assert_eq!(values(&broker.bootstrap, "out"), ["a", "b", "poison", "poison"]);
    // Nothing is redriven twice.
    let second = redrive(&broker.bootstrap, &fixed, &[]);
    assert!(second.contains("redrove 0 dead letters"), "{second}");
    assert_eq!(values(&broker.bootstrap, "out").len(), 4);

    // A record that fails again goes back with its new reason, marked, and
    // stays there.
    produce(&broker.bootstrap, "in", &[record("poison")]);
    run_until_idle(
        &broker.bootstrap,
        &[&manifest(dir.path(), "error")],
        "rd",
        &dir.path().join("state"),
    );
    let still_broken = manifest(dir.path(), "undeclared");
    let third = redrive(&broker.bootstrap, &still_broken, &[]);
    assert!(
        third.contains("redrove 1 dead letters of dlq: 0 results written, 1 failed again"),
        "{third}"
    );
    let letters = read_all(&broker.bootstrap, "dlq");
    let last = letters.last().unwrap();
    assert_eq!(last.headers.get("rill.redriven").map(String::as_str), Some("1"));
    assert_eq!(
        last.headers.get("rill.error.kind").map(String::as_str),
        Some("undeclared-output")
    );
    let fourth = redrive(&broker.bootstrap, &fixed, &[]);
    assert!(
        fourth.contains("redrove 0 dead letters of dlq: 0 results written, 0 failed again")
            && fourth.contains("1 skipped (redriven once already)"),
        "{fourth}"
    );
    assert_eq!(values(&broker.bootstrap, "out").len(), 4);
}
