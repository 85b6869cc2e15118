//! Time end to end on the dev broker: windowed counts in event time
//! (out-of-order and late records, grace, final results vs every update),
//! a clean restart and a SIGKILL mid-window, retention bounding the store,
//! idle-advance closing a window on a quiet stream, and timers of both
//! clocks. Expected outputs are written from Kafka Streams' rules: a time
//! window [start, end) takes records while end > stream time - grace, a
//! final result comes once stream time reaches end + grace, and stream time
//! is the largest timestamp seen so far.

use rill_tests::{DevBroker, install_manifest, install_plugin, produce_at, read_all, rill, run_until_idle};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const MIN: i64 = 60_000;
/// A multiple of 10 minutes, so windows start at T0.
const T0: i64 = 1_700_000_400_000;

fn broker(app: &str) -> DevBroker {
    DevBroker::start(&[
        ("order", 1),
        ("order_window_count", 1),
        ("order.window.dlq", 1),
        (&format!("{app}-counts-changelog"), 1),
    ])
}

/// (key, minutes after T0 as a float) as orders.
fn orders(bootstrap: &str, records: &[(&str, f64)]) {
    let records: Vec<(&str, Option<&str>, i64)> = records
        .iter()
        .map(|(k, m)| (*k, Some("order"), T0 + (m * MIN as f64) as i64))
        .collect();
    produce_at(bootstrap, "order", &records);
}

/// What order-window-count emitted, in order: (key, start minute, end minute, count).
fn counts(bootstrap: &str) -> Vec<(String, i64, i64, u64)> {
    let mut records = read_all(bootstrap, "order_window_count");
    records.sort_by_key(|r| r.offset);
    records
        .into_iter()
        // A session merged into a later one ends in a tombstone.
        .filter(|r| r.value.is_some())
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.value.unwrap()).unwrap();
            assert_eq!(r.key.as_deref(), Some(v["key"].as_str().unwrap().as_bytes()));
            (
                v["key"].as_str().unwrap().to_string(),
                (v["start"].as_i64().unwrap() - T0) / MIN,
                (v["end"].as_i64().unwrap() - T0) / MIN,
                v["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn c(key: &str, start: i64, end: i64, count: u64) -> (String, i64, i64, u64) {
    (key.to_string(), start, end, count)
}

/// The seed's input, in arrival order: tumbling 10 min windows, 1 min grace.
const INPUT: [(&str, f64); 9] = [
    ("a", 1.0),
    ("b", 2.0),
    ("a", 9.0),
    ("a", 10.5), // next window; [0,10) still open (grace)
    ("b", 5.0),  // out of order, stream time 10.5 < 10 + 1: counted
    ("a", 11.0), // stream time 11 = 10 + 1: [0,10) closes
    ("a", 3.0),  // late: its only window closed
    ("c", 21.0), // closes [10,20)
    ("d", 31.0), // closes [20,30)
];

#[test]
fn final_counts_follow_event_time_grace_and_late_records_across_a_restart() {
    let app = "win-final";
    let broker = broker(app);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-window-count");
    // Late records are counted as dead letters here, so none is lost unseen.
    let text = std::fs::read_to_string(&manifest).unwrap() + "late = \"dead-letter\"\n";
    std::fs::write(&manifest, text).unwrap();
    let state = dir.path().join("state");

    // Two runs with a clean stop between them mid-window: windows and
    // stream time persist, so the final counts are exact.
    orders(&broker.bootstrap, &INPUT[..4]);
    let first = run_until_idle(&broker.bootstrap, &[&manifest], app, &state);
    assert!(counts(&broker.bootstrap).is_empty(), "nothing has closed yet:\n{first}");
    orders(&broker.bootstrap, &INPUT[4..]);
    let second = run_until_idle(&broker.bootstrap, &[&manifest], app, &state);
    assert_eq!(
        counts(&broker.bootstrap),
        vec![c("a", 0, 10, 2), c("b", 0, 10, 2), c("a", 10, 20, 2), c("c", 20, 30, 1)],
        "{second}"
    );
    let late = read_all(&broker.bootstrap, "order.window.dlq");
    assert_eq!(late.len(), 1, "{second}");
    assert_eq!(late[0].headers["rill.error.kind"], "late");
    assert_eq!(late[0].headers["rill.source.offset"], "6");
    assert!(second.contains("1 late"), "{second}");

    // Retention (= size + grace) bounds the store: in the changelog, every
    // closed window ends in a tombstone; only d's open window is left.
    let mut live = BTreeMap::new();
    for r in read_all(&broker.bootstrap, &format!("{app}-counts-changelog")) {
        live.insert(r.key.unwrap(), r.value.is_some());
    }
    let windows: Vec<_> = live.iter().filter(|(k, v)| k[0] == b'W' && **v).collect();
    assert_eq!(windows.len(), 1, "{live:?}");
}

#[test]
fn update_mode_emits_every_count_in_record_order() {
    let app = "win-update";
    let broker = broker(app);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_manifest(dir.path(), "order-window-count", "update.toml");
    orders(&broker.bootstrap, &INPUT);
    let log = run_until_idle(&broker.bootstrap, &[&manifest], app, &dir.path().join("state"));
    assert_eq!(
        counts(&broker.bootstrap),
        vec![
            c("a", 0, 10, 1),
            c("b", 0, 10, 1),
            c("a", 0, 10, 2),
            c("a", 10, 20, 1),
            c("b", 0, 10, 2),
            c("a", 10, 20, 2),
            c("c", 20, 30, 1),
            c("d", 30, 40, 1),
        ],
        "{log}"
    );
}

#[test]
fn a_sigkill_mid_window_never_undercounts() {
    let app = "win-kill";
    let broker = broker(app);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-window-count");
    let state = dir.path().join("state");
    // 20,000 orders of 4 keys inside [0,10), in arrival order.
    let keys = ["a", "b", "c", "d"];
    let input: Vec<(&str, f64)> = (0..20_000).map(|i| (keys[i % 4], 9.0 * i as f64 / 20_000.0)).collect();
    orders(&broker.bootstrap, &input);
    let mut child = rill()
        .args(["run"])
        .arg(&manifest)
        .args(["--brokers", &broker.bootstrap, "--application-id", app])
        .args(["-X", "consumer.session.timeout.ms=6000", "--state-dir"])
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has committed part of the input.
    let deadline = Instant::now() + Duration::from_secs(60);
    while rill_tests::committed(&broker.bootstrap, app, "order") < 2_000 {
        assert!(Instant::now() < deadline, "rill committed nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // A restart finishes the input; one more order closes [0,10).
    orders(&broker.bootstrap, &[("z", 11.0)]);
    run_until_idle(&broker.bootstrap, &[&manifest], app, &state);
    let got: BTreeMap<String, u64> = counts(&broker.bootstrap)
        .into_iter()
        .map(|(k, start, _, n)| {
            assert_eq!(start, 0);
            (k, n)
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    for (key, n) in got {
        assert!(n >= 5_000, "{key}: {n} < 5000: a kill lost records");
    }
}

/// Runs `plugin`'s manifest `file` with its tumbling window replaced by
/// `window` on `input`; returns the counts and the log.
fn run_window(
    plugin: &str,
    app: &str,
    file: &str,
    window: &str,
    input: &[(&str, f64)],
) -> (Vec<(String, i64, i64, u64)>, String) {
    let broker = broker(app);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_manifest(dir.path(), plugin, file);
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("kind = \"tumbling\"\nsize = \"10m\"\ngrace = \"1m\"", window);
    std::fs::write(&manifest, text).unwrap();
    orders(&broker.bootstrap, input);
    let log = run_until_idle(&broker.bootstrap, &[&manifest], app, &dir.path().join("state"));
    (counts(&broker.bootstrap), log)
}

/// The session example below: 0 and 3 make [0,3]; 20 opens [20,20]; 10
/// opens [10,10]; 15 is within 5 of both and merges them into [10,20].
const SESSION_INPUT: [(&str, f64); 6] = [
    ("a", 0.0),
    ("a", 3.0),
    ("a", 20.0),
    ("a", 10.0),
    ("a", 15.0),
    ("z", 40.0),
];

/// docs/time.md's hopping and session examples, end to end: the plugin is
/// order-window-count with the window kind changed in its manifest.
#[test]
fn the_documented_hopping_and_session_examples() {
    let run = |app: &str, file: &str, window: &str, input: &[(&str, f64)]| {
        run_window("order-window-count", app, file, window, input)
    };
    // Hopping, 10 min every 5: an order at 12:00 counts in [5,15) and [10,20).
    let (hopping, log) = run(
        "win-hop",
        "update.toml",
        "kind = \"hopping\"\nsize = \"10m\"\nadvance = \"5m\"\ngrace = \"1m\"",
        &[("a", 12.0)],
    );
    assert_eq!(hopping, vec![c("a", 5, 15, 1), c("a", 10, 20, 1)], "{log}");
    // Sessions with a 5 min gap (and 10 min grace, so 10 is not late after
    // 20), final results: 0 and 3 make [0,3]; 20 opens [20,20]; 10 opens
    // [10,10]; 15 is within 5 of both and merges them into [10,20]. [0,3]
    // closes at 20 (3 + 5 + 10 < 20); z at 40 closes [10,20].
    let (sessions, log) = run(
        "win-session",
        "plugin.toml",
        "kind = \"session\"\ngap = \"5m\"\ngrace = \"10m\"",
        &SESSION_INPUT,
    );
    assert_eq!(sessions, vec![c("a", 0, 3, 2), c("a", 10, 20, 3)], "{log}");
}

/// The JavaScript port (rill-sdk's aggregate, merge and emit through the
/// real component): the seed's tumbling counts and the session example's
/// merges, as the Rust plugin gives them.
#[test]
fn the_javascript_port_of_order_window_count_counts_the_same() {
    let tumbling = "kind = \"tumbling\"\nsize = \"10m\"\ngrace = \"1m\"";
    let (counts, log) = run_window("order-window-count-js", "win-js", "plugin.toml", tumbling, &INPUT);
    assert_eq!(
        counts,
        vec![c("a", 0, 10, 2), c("b", 0, 10, 2), c("a", 10, 20, 2), c("c", 20, 30, 1)],
        "{log}"
    );
    let session = "kind = \"session\"\ngap = \"5m\"\ngrace = \"10m\"";
    let (sessions, log) = run_window(
        "order-window-count-js",
        "win-js-session",
        "plugin.toml",
        session,
        &SESSION_INPUT,
    );
    assert_eq!(sessions, vec![c("a", 0, 3, 2), c("a", 10, 20, 3)], "{log}");
}

fn metric(host: &str, pct: f64) -> String {
    format!(r#"{{"host":{{"name":"{host}"}},"system":{{"cpu":{{"total":{{"norm":{{"pct":{pct}}}}}}}}}}}"#)
}

fn peaks(bootstrap: &str) -> Vec<(String, f64, i64)> {
    let mut records = read_all(bootstrap, "metric.cpu.peak");
    records.sort_by_key(|r| r.offset);
    records
        .into_iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.value.unwrap()).unwrap();
            (
                v["host"].as_str().unwrap().to_string(),
                v["peak"].as_f64().unwrap(),
                v["until"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_stream_time_timer_emits_peaks_every_minute_of_event_time() {
    stream_time_peaks("cpu-peak");
}

/// The Python port, built against the same WIT, gives the same outputs.
#[test]
fn the_python_port_of_cpu_peak_fires_the_same_timer_with_the_same_outputs() {
    stream_time_peaks("cpu-peak-python");
}

/// The JavaScript port (rill-sdk: a float store and an onTimer handler),
/// built against the same WIT, gives the same outputs.
#[test]
fn the_javascript_port_of_cpu_peak_fires_the_same_timer_with_the_same_outputs() {
    stream_time_peaks("cpu-peak-js");
}

/// The C port (guest-sdk/c: a float store and an on_timer callback), built
/// against the same WIT, gives the same outputs.
#[test]
fn the_c_port_of_cpu_peak_fires_the_same_timer_with_the_same_outputs() {
    stream_time_peaks("cpu-peak-c");
}

fn stream_time_peaks(plugin: &str) {
    let broker = DevBroker::start(&[
        ("metric.cpu", 1),
        ("metric.cpu.peak", 1),
        ("metric.cpu.peak.dlq", 1),
        ("peaks-peaks-changelog", 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), plugin);
    let records = [
        ("a", 0.2, 1_000),
        ("b", 0.4, 10_000),
        ("a", 0.7, 30_000),
        ("a", 0.1, 60_000), // stream time reaches T0 + 60 s: counted, then the timer fires
        ("b", 0.5, 61_000),
        ("a", 0.3, 150_000), // reaches T0 + 120 s (and past): one firing, for 120 s
    ];
    let values: Vec<String> = records.iter().map(|(h, p, _)| metric(h, *p)).collect();
    let input: Vec<(&str, Option<&str>, i64)> = records
        .iter()
        .zip(&values)
        .map(|((h, _, t), v)| (*h, Some(v.as_str()), T0 + t))
        .collect();
    produce_at(&broker.bootstrap, "metric.cpu", &input);
    let log = run_until_idle(&broker.bootstrap, &[&manifest], "peaks", &dir.path().join("state"));
    assert_eq!(
        peaks(&broker.bootstrap),
        vec![
            ("a".to_string(), 0.7, T0 + 60_000),
            ("b".to_string(), 0.4, T0 + 60_000),
            ("a".to_string(), 0.3, T0 + 120_000),
            ("b".to_string(), 0.5, T0 + 120_000),
        ],
        "{log}"
    );
}

#[test]
fn a_wall_clock_timer_and_idle_advance_fire_without_new_records() {
    let broker = DevBroker::start(&[
        ("metric.cpu", 1),
        ("metric.cpu.peak", 1),
        ("metric.cpu.peak.dlq", 1),
        ("order", 1),
        ("order_window_count", 1),
        ("order.window.dlq", 1),
        ("quiet-counts-changelog", 1),
        ("quiet-peaks-changelog", 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let wall = install_manifest(dir.path(), "cpu-peak", "wall-clock.toml");
    let text = std::fs::read_to_string(&wall)
        .unwrap()
        .replace("interval = \"60s\"", "interval = \"1s\"");
    std::fs::write(&wall, text).unwrap();
    // A 2 s window on a stream that goes quiet: idle-advance closes it.
    let counting = install_plugin(dir.path(), "order-window-count");
    let text = std::fs::read_to_string(&counting)
        .unwrap()
        .replace("size = \"10m\"", "size = \"2s\"")
        .replace("grace = \"1m\"", "grace = \"0s\"")
        .replace("[[inputs]]", "idle-advance = \"1s\"\n\n[[inputs]]");
    std::fs::write(&counting, text).unwrap();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let value = metric("a", 0.9);
    produce_at(&broker.bootstrap, "metric.cpu", &[("a", Some(value.as_str()), now)]);
    produce_at(
        &broker.bootstrap,
        "order",
        &[("k", Some("order"), now), ("k", Some("order"), now)],
    );
    let started = Instant::now();
    // Idle for 6 s before stopping: the window's end is at most 2 s away.
    let output = rill()
        .arg("run")
        .args([&wall, &counting])
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "quiet",
            "--stop-when-idle",
            "6s",
        ])
        .args(["-X", "consumer.session.timeout.ms=6000", "--state-dir"])
        .arg(dir.path().join("state"))
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{log}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let fired = peaks(&broker.bootstrap);
    assert!(!fired.is_empty(), "the wall-clock timer never fired:\n{log}");
    assert_eq!(fired[0].0, "a");
    assert_eq!(fired[0].1, 0.9);
    assert_eq!(fired[0].2 % 1_000, 0, "aligned to the second");
    let counts: Vec<serde_json::Value> = read_all(&broker.bootstrap, "order_window_count")
        .into_iter()
        .map(|r| serde_json::from_slice(&r.value.unwrap()).unwrap())
        .collect();
    assert_eq!(counts.len(), 1, "idle-advance closed the window once:\n{log}");
    assert_eq!(counts[0]["count"], 2);
}
