//! Misbehaving plugins: traps (panic, endless loop, unbounded allocation),
//! error values and undeclared outputs reach the dead-letter topic with the
//! right headers while every other record is processed; `on-trap = "fail"`
//! stops the host; bad component files are refused at load, naming the file.

use rill_tests::{DevBroker, component, multiset, produce, read_all, rill, run_until_idle};
use std::path::{Path, PathBuf};

/// A manifest for the misbehave fixture with this poison behaviour.
fn manifest(dir: &Path, poison: &str, on_trap: &str) -> PathBuf {
    // The huge fixture needs room for its 20 MB record.
    let memory = if poison == "huge" { "64MiB" } else { "16MiB" };
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
memory = "{memory}"
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
fn an_output_the_producer_refuses_dead_letters_its_input_and_processing_goes_on() {
    // A 20 MB value is over the producer's message.max.bytes: refused for
    // what it is, so only its input is dead-lettered.
    check("huge", "output-refused", "output 'out' to topic out was refused");
}

#[test]
fn a_plugin_blocked_in_a_wasi_sleep_hits_the_time_limit() {
    check("sleep", "trap", "exceeded the time limit of 300ms per batch");
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
    let output = rill()
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
    let output = rill().arg("validate").arg(manifest).output().unwrap();
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
        stderr.contains("fixture-misbehave.wasm: does not implement the rill:processor@0.4.0 world (nor 0.3.0, 0.2.0 or 0.1.0)"),
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
fn validate_reports_every_refused_component_in_one_run() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = manifest(first.path(), "panic", "continue");
    let two = manifest(second.path(), "panic", "continue");
    // Two processors of one run need their own names and topics.
    let text = std::fs::read_to_string(&two).unwrap();
    let text = text.replace("name = \"misbehave\"", "name = \"misbehave-two\"");
    std::fs::write(&two, text.replace("topic = \"in\"", "topic = \"in-two\"")).unwrap();
    std::fs::write(first.path().join("fixture-misbehave.wasm"), b"").unwrap();
    std::fs::write(second.path().join("fixture-misbehave.wasm"), b"not wasm").unwrap();
    let output = rill().arg("validate").arg(&one).arg(&two).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("the file is empty"), "the first file's error: {stderr}");
    assert!(stderr.contains("not a WebAssembly component"), "the second file's error: {stderr}");
    assert!(stderr.contains("2 of 2 plugins refused"), "{stderr}");
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

/// Runs the panic fixture to the end with `RUST_BACKTRACE=1` and the given
/// extra arguments; returns stderr.
fn trap_log(extra: &[&str]) -> String {
    let broker = DevBroker::start(&[("in", 2), ("out", 2), ("dlq", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), "panic", "continue");
    produce(&broker.bootstrap, "in", &inputs());
    let output = rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &broker.bootstrap, "--application-id", "misbehave-logs"])
        .args(["--stop-when-idle", "2s", "-X", "consumer.session.timeout.ms=6000"])
        .args(extra)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{log}");
    log
}

#[test]
fn a_trap_is_one_log_line_with_wasm_frames_and_never_a_rust_backtrace() {
    let log = trap_log(&[]);
    assert!(
        !log.contains("\u{1b}["),
        "no ANSI colours when stderr is not a terminal:\n{log}"
    );
    let traps: Vec<&str> = log.lines().filter(|l| l.contains("plugin trapped")).collect();
    assert!(!traps.is_empty(), "the traps are logged:\n{log}");
    for line in traps {
        assert!(line.contains("unreachable"), "{line}");
        assert!(line.contains("wasm frames: "), "{line}");
    }
    for forbidden in ["stack backtrace", "Stack backtrace", "std::panicking", "rill_host::"] {
        assert!(!log.contains(forbidden), "{forbidden:?} in the log:\n{log}");
    }
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let log = trap_log(&["--log-format", "json"]);
    let mut traps = 0;
    for line in log.lines() {
        let object: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["level"].is_string() && object["message"].is_string(), "{line}");
        traps += usize::from(object["message"].as_str().unwrap().contains("plugin trapped"));
    }
    assert!(traps > 0, "{log}");
}

#[test]
fn sigterm_exits_within_the_time_limit_plus_ten_seconds_with_a_stuck_plugin() {
    let broker = DevBroker::start(&[("in", 1), ("out", 1), ("dlq", 1)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), "sleep", "continue");
    // Every record sleeps for an hour: each one is cut off at 300 ms, so a
    // batch of 50 would take 15 s to replay.
    let stuck: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..500)
        .map(|i| (Some(format!("k{i}").into_bytes()), b"poison".to_vec()))
        .collect();
    produce(&broker.bootstrap, "in", &stuck);
    let mut child = rill()
        .arg("run")
        .arg(&manifest)
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "misbehave-stuck",
            "--batch-size",
            "50",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        log
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    let signalled = std::time::Instant::now();
    rill_tests::terminate(&mut child);
    let status = rill_tests::wait_exit(&mut child, std::time::Duration::from_secs(60));
    let took = signalled.elapsed();
    let log = reader.join().unwrap();
    println!("SIGTERM to exit with a plugin stuck in sleep (time-per-batch 300ms): {took:?}");
    assert!(
        took < std::time::Duration::from_millis(10_300),
        "SIGTERM took {took:?} with a stuck plugin (limit 300 ms + 10 s):\n{log}"
    );
    assert!(status.success(), "{log}");
}

#[test]
fn replace_worker_gives_up_on_a_fault_that_repeats() {
    let broker = DevBroker::start(&[("in", 2), ("out", 2), ("dlq", 2)]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path(), "panic", "fail");
    produce(&broker.bootstrap, "in", &inputs());
    let output = rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &broker.bootstrap, "--application-id", "misbehave-replace"])
        .args(["--on-fatal", "replace-worker", "--stop-when-idle", "2s", "--state-dir"])
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    // The poison record traps the fresh tasks every time: three
    // replacements, then the application stops.
    assert_eq!(stderr.matches("replacing worker 0").count(), 3, "{stderr}");
    assert!(stderr.contains("already replaced 3 times"), "{stderr}");
    assert!(
        stderr.contains("application state RUNNING -> ERROR") || stderr.contains("-> ERROR"),
        "{stderr}"
    );
    // Nothing past the poison record was committed: a restart with the fix
    // would process it.
    assert!(read_all(&broker.bootstrap, "dlq").is_empty());
}

#[test]
fn fields_on_a_component_of_an_older_world_are_refused_naming_the_manifest() {
    // stream-log-copy-js and -python are built against 0.2.0 and 0.1.0 on
    // purpose: neither world has fields.
    for plugin in ["stream-log-copy-js", "stream-log-copy-python"] {
        let dir = tempfile::tempdir().unwrap();
        let manifest = rill_tests::install_plugin(dir.path(), plugin);
        assert!(validate(&manifest).0, "{plugin} itself is valid");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}\n[fields]\nlevel = \"level\"\n")).unwrap();
        let (ok, stderr) = validate(&manifest);
        assert!(!ok, "{plugin}: {stderr}");
        assert!(
            stderr.contains("which has no fields, but") && stderr.contains(&format!("{}", manifest.display())),
            "{plugin}: {stderr}"
        );
        assert!(stderr.contains("rebuild it against wit/processor.wit (0.4.0)"), "{stderr}");
    }
}
