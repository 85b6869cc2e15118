//! Misbehaving plugins: traps (panic, endless loop, unbounded allocation),
//! error values and undeclared outputs reach the dead-letter topic with the
//! right headers while every other record is processed; `on-trap = "fail"`
//! stops the host; bad component files are refused at load, naming the file.

use rill_tests::{DevBroker, component, multiset, produce, read_all, rill_bin, run_until_idle};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A manifest for the misbehave fixture with this poison behaviour.
fn manifest(dir: &Path, poison: &str, on_trap: &str) -> PathBuf {
    let text = format!(
        r#"manifest-version = 1
name = "misbehave"
version = "0.1.0"
component = "fixture-misbehave.wasm"
dead-letter = "dlq"

[[inputs]]
topic = "in"

[outputs]
out = "out"

[limits]
memory = "16MiB"
time-per-batch = "300ms"
on-trap = "{on_trap}"

[config]
poison = "{poison}"
"#
    );
    std::fs::copy(component("fixture-misbehave"), dir.join("fixture-misbehave.wasm")).unwrap();
    let path = dir.join("plugin.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn inputs() -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (0..200)
        .map(|i| {
            let value = if [50, 120, 199].contains(&i) {
                "poison".to_string()
            } else {
                format!("r{i}")
            };
            (Some(format!("k{i}").into_bytes()), value.into_bytes())
        })
        .collect()
}

/// Runs one poison behaviour and checks outputs and dead letters.
fn check(poison: &str, kind: &str, error: &str) -> String {
    let broker = DevBroker::start(&[("in", 2), ("out", 2), ("dlq", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), poison, "continue");
    let records = inputs();
    produce(&broker.bootstrap, "in", &records);
    let log = run_until_idle(
        &broker.bootstrap,
        &[&manifest],
        &format!("misbehave-{poison}"),
        &dir.path().join("state"),
    );

    let good = records
        .iter()
        .filter(|(_, v)| v != b"poison")
        .map(|(k, v)| (k.clone(), Some(v.clone())));
    let out = read_all(&broker.bootstrap, "out");
    assert_eq!(
        multiset(out.iter().map(|r| (r.key.clone(), r.value.clone()))),
        multiset(good),
        "{poison}: every good record exactly once"
    );

    let letters = read_all(&broker.bootstrap, "dlq");
    assert_eq!(letters.len(), 3, "{poison}: the three poison records are dead letters");
    for letter in &letters {
        assert_eq!(letter.value.as_deref(), Some(&b"poison"[..]));
        assert_eq!(
            letter.headers["rill.error.kind"], kind,
            "{poison}: {:?}",
            letter.headers
        );
        assert!(
            letter.headers["rill.error"].contains(error),
            "{poison}: {:?}",
            letter.headers["rill.error"]
        );
        assert!(letter.headers["rill.processor.version"].starts_with("0.1.0+"));
        assert_eq!(letter.headers["rill.source.topic"], "in");
    }
    log
}

#[test]
fn a_panic_traps_only_the_poison_record_and_plugin_output_reaches_the_log() {
    let log = check("panic", "trap", "unreachable");
    assert!(
        log.contains("misbehave ready: poison = Panic"),
        "plugin stdout is in the host log:\n{log}"
    );
    assert!(
        log.contains("poison record at offset"),
        "the panic message (stderr) is in the host log:\n{log}"
    );
}

#[test]
fn an_endless_loop_hits_the_time_limit() {
    check("loop", "trap", "exceeded the time limit of 300ms per batch");
}

#[test]
fn unbounded_allocation_hits_the_memory_limit() {
    check("alloc", "trap", "exceeded the memory limit of 16 MiB");
}

#[test]
fn an_error_value_dead_letters_only_that_record() {
    check("error", "record-error", "poison refused");
}

#[test]
fn an_undeclared_output_is_an_error_for_that_record() {
    check("undeclared", "undeclared-output", "emitted to output 'nowhere'");
}

#[test]
fn on_trap_fail_stops_the_host_with_an_error() {
    let broker = DevBroker::start(&[("in", 2), ("out", 2), ("dlq", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), "panic", "fail");
    produce(&broker.bootstrap, "in", &inputs());
    let output = Command::new(rill_bin())
        .arg("run")
        .arg(&manifest)
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "misbehave-fail",
            "--stop-when-idle",
            "2s",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("limits.on-trap is \"fail\""), "{stderr}");
}

fn validate(manifest: &Path) -> (bool, String) {
    let output = Command::new(rill_bin()).arg("validate").arg(manifest).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_component_files_are_refused_at_load_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), "panic", "continue");
    let wasm = dir.path().join("fixture-misbehave.wasm");
    assert!(validate(&manifest).0, "the fixture itself is valid");

    std::fs::copy(component("fixture-wrong-world"), &wasm).unwrap();
    let (ok, stderr) = validate(&manifest);
    assert!(!ok);
    assert!(
        stderr.contains("fixture-misbehave.wasm: does not implement the rill:processor@0.1.0 world"),
        "{stderr}"
    );

    std::fs::write(&wasm, b"#!/bin/sh\necho not wasm\n").unwrap();
    let (ok, stderr) = validate(&manifest);
    assert!(!ok);
    assert!(
        stderr.contains("fixture-misbehave.wasm: not a WebAssembly component"),
        "{stderr}"
    );

    std::fs::write(&wasm, b"").unwrap();
    let (ok, stderr) = validate(&manifest);
    assert!(!ok);
    assert!(stderr.contains("the file is empty"), "{stderr}");
}

#[test]
fn the_sandbox_grants_no_environment_files_network_or_clock() {
    let broker = DevBroker::start(&[("in", 1), ("out", 1), ("dlq", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), "probe", "continue");
    produce(&broker.bootstrap, "in", &[(None, b"poison".to_vec())]);
    run_until_idle(
        &broker.bootstrap,
        &[&manifest],
        "misbehave-probe",
        &dir.path().join("state"),
    );
    let out = read_all(&broker.bootstrap, "out");
    assert_eq!(out[0].value.as_deref(), Some(&b"env=0 fs=denied net=denied time=0"[..]));
}

#[test]
fn on_trap_pause_task_stops_only_that_task_and_commits_nothing_past_the_trap() {
    let broker = DevBroker::start(&[("in", 2), ("out", 2), ("dlq", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let paused = manifest(dir.path(), "panic", "pause-task");
    produce(&broker.bootstrap, "in", &inputs());
    let log = run_until_idle(
        &broker.bootstrap,
        &[&paused],
        "misbehave-pause",
        &dir.path().join("state"),
    );
    assert!(log.contains("pausing the task"), "{log}");
    assert!(log.contains("stopped fetching paused task partitions: in/"), "{log}");

    let inputs = read_all(&broker.bootstrap, "in");
    let out: std::collections::HashSet<Vec<u8>> = read_all(&broker.bootstrap, "out")
        .into_iter()
        .filter_map(|r| r.key)
        .collect();
    assert!(
        read_all(&broker.bootstrap, "dlq").is_empty(),
        "a paused task dead-letters nothing"
    );
    for partition in 0..2 {
        let mut records: Vec<_> = inputs.iter().filter(|r| r.partition == partition).collect();
        records.sort_by_key(|r| r.offset);
        let first_poison = records
            .iter()
            .position(|r| r.value.as_deref() == Some(&b"poison"[..]))
            .unwrap_or(records.len());
        let processed = records
            .iter()
            .take_while(|r| out.contains(r.key.as_ref().unwrap()))
            .count();
        assert!(
            processed <= first_poison,
            "partition {partition}: nothing at or after the trap is emitted"
        );
        assert!(
            records[processed..]
                .iter()
                .all(|r| !out.contains(r.key.as_ref().unwrap())),
            "partition {partition}: outputs are a prefix"
        );
        if first_poison == records.len() {
            assert_eq!(
                processed,
                records.len(),
                "partition {partition} has no poison and is fully processed"
            );
        }
    }

    // A restart (now dead-lettering poison) resumes from the last commit:
    // every good record ends up in the output exactly once.
    let restarted = manifest(dir.path(), "panic", "continue");
    run_until_idle(
        &broker.bootstrap,
        &[&restarted],
        "misbehave-pause",
        &dir.path().join("state"),
    );
    let good = inputs
        .iter()
        .filter(|r| r.value.as_deref() != Some(&b"poison"[..]))
        .map(|r| r.key.clone());
    let out = read_all(&broker.bootstrap, "out");
    assert_eq!(
        multiset(out.into_iter().map(|r| r.key)),
        multiset(good),
        "nothing lost, nothing twice"
    );
    assert_eq!(read_all(&broker.bootstrap, "dlq").len(), 3);
}
