//! Interceptors end to end (docs/interceptors.md): the real `rill` binary
//! runs apps/metrics-intercepted.toml (the metrics pipeline with the seed's
//! two logging interceptors) against `rill dev-broker`, and both log files
//! are checked line by line against what really happened: every record
//! consumed exactly once, every commit, every output sent and its
//! acknowledgement with the offset the broker gave it. A fixture that
//! traps or errs in every call loses and duplicates nothing.

use rill_tests::{
    DevBroker, Received, check_metrics_outputs, committed, install_plugin, metrics_workload, multiset, produce,
    read_all, rill, wait_exit,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rill_host::metricbeat::TOPICS;

/// The metrics pipeline's plugins and `interceptors`, installed into
/// `dir` with `apps/<app>` beside them.
fn install_app(dir: &Path, app: &str, interceptors: &[&str]) -> PathBuf {
    let plugins: Vec<&str> = ["metric-branch", "cpu-alert"]
        .iter()
        .chain(interceptors)
        .copied()
        .collect();
    rill_tests::install_app(dir, app, &plugins)
}

/// Runs `app` from `dir` (its working directory) over what is on the
/// broker until idle; returns what it logged (warnings and errors).
fn run(broker: &DevBroker, dir: &Path, app: &Path, application_id: &str) -> String {
    let mut child = rill()
        .current_dir(dir)
        .arg("run")
        .arg(app)
        .args(["--brokers", &broker.bootstrap, "--application-id", application_id])
        .args(["--threads", "2", "--batch-size", "100", "--commit-interval", "200ms"])
        .args(["--stop-when-idle", "3s", "--log-level", "warn", "--state-dir"])
        .arg(dir.join("state"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        log
    });
    let status = wait_exit(&mut child, Duration::from_secs(240));
    let log = log.join().unwrap();
    assert!(status.success(), "rill run exited with {status}: {log}");
    log
}

fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {l:?}: {e}", path.display())))
        .collect()
}

fn text(bytes: &Option<Vec<u8>>) -> Value {
    bytes
        .as_ref()
        .map_or(Value::Null, |b| Value::String(String::from_utf8_lossy(b).into_owned()))
}

fn of_event<'a>(lines: &'a [Value], event: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == event).collect()
}

#[test]
fn the_logging_interceptors_record_every_consume_commit_send_and_acknowledgement() {
    let broker = DevBroker::start(&TOPICS.map(|t| (t, 4)));
    let work = metrics_workload(3_000, 5);
    produce(&broker.bootstrap, "metric.all", &work.inputs);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let app = install_app(
        dir.path(),
        "metrics-intercepted.toml",
        &["consumer-interceptor", "producer-interceptor"],
    );
    run(&broker, dir.path(), &app, "e2e-intercepted");
    // The interceptors only watch: the outputs are the pipeline's own.
    check_metrics_outputs(&broker.bootstrap, &work);

    let consumer = lines(&dir.path().join("logs/consumer_interceptor.log"));
    // Every record of metric.all consumed exactly once, as it is on the
    // broker (metric.cpu is fed to cpu-alert in memory, never consumed).
    let inputs = read_all(&broker.bootstrap, "metric.all");
    let want: HashMap<(i64, i64), (Value, Value)> = inputs
        .iter()
        .map(|r| ((r.partition as i64, r.offset), (text(&r.key), text(&r.value))))
        .collect();
    let consumed = of_event(&consumer, "consume");
    assert_eq!(consumed.len(), inputs.len(), "each input consumed once");
    for line in &consumed {
        assert_eq!(line["topic"], "metric.all", "{line}");
        let at = (line["partition"].as_i64().unwrap(), line["offset"].as_i64().unwrap());
        assert_eq!(
            want.get(&at),
            Some(&(line["key"].clone(), line["value"].clone())),
            "{line}"
        );
    }
    let positions = multiset(consumed.iter().map(|l| (l["partition"].as_i64(), l["offset"].as_i64())));
    assert!(positions.values().all(|n| *n == 1), "no record consumed twice");

    // Commits: per partition, offsets only grow, never past what was read,
    // and the last is what the group really committed.
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    let ends: BTreeMap<i64, i64> = inputs.iter().fold(BTreeMap::new(), |mut ends, r| {
        let end = ends.entry(r.partition as i64).or_insert(0);
        *end = (*end).max(r.offset + 1);
        ends
    });
    for line in of_event(&consumer, "commit") {
        assert_eq!(line["topic"], "metric.all", "{line}");
        let (partition, offset) = (line["partition"].as_i64().unwrap(), line["offset"].as_i64().unwrap());
        let previous = last.insert(partition, offset).unwrap_or(0);
        assert!(previous <= offset && offset <= ends[&partition], "{line}");
    }
    assert_eq!(last, ends, "the last commit of each partition is its end");
    assert_eq!(
        last.values().sum::<i64>(),
        committed(&broker.bootstrap, "e2e-intercepted", "metric.all")
    );

    // Sends: exactly the outputs (dead letters are rill's own and not
    // shown), each acknowledged once with the offset the broker gave it.
    let producer = lines(&dir.path().join("logs/producer_interceptor.log"));
    let sends = of_event(&producer, "send");
    let acks = of_event(&producer, "ack");
    let mut outputs: Vec<(String, Received)> = Vec::new();
    for topic in ["metric.cpu", "metric.memory", "metric.cpu.alert"] {
        outputs.extend(
            read_all(&broker.bootstrap, topic)
                .into_iter()
                .map(|r| (topic.to_string(), r)),
        );
    }
    let sent = multiset(
        sends
            .iter()
            .map(|l| (l["topic"].clone(), l["key"].clone(), l["value"].clone())),
    );
    let produced = multiset(
        outputs
            .iter()
            .map(|(t, r)| (Value::String(t.clone()), text(&r.key), text(&r.value))),
    );
    assert_eq!(sent, produced, "one send line per record produced");
    assert!(
        sends.iter().all(|l| l.get("offset").is_none()),
        "a send has no offset yet"
    );
    assert_eq!(acks.len(), sends.len(), "each send acknowledged once");
    let by_position: HashMap<(String, i64, i64), &Received> = outputs
        .iter()
        .map(|(t, r)| ((t.clone(), r.partition as i64, r.offset), r))
        .collect();
    let send_ids = multiset(sends.iter().map(|l| (l["topic"].clone(), l["id"].as_u64())));
    let ack_ids = multiset(acks.iter().map(|l| (l["topic"].clone(), l["id"].as_u64())));
    assert_eq!(send_ids, ack_ids, "acks answer the sends, by id");
    for ack in &acks {
        assert!(ack.get("error").is_none(), "{ack}");
        let at = (
            ack["topic"].as_str().unwrap().to_string(),
            ack["partition"].as_i64().unwrap(),
            ack["offset"].as_i64().unwrap(),
        );
        let record = by_position.get(&at).unwrap_or_else(|| panic!("{ack}: no such record"));
        assert_eq!(
            (text(&record.key), text(&record.value)),
            (ack["key"].clone(), ack["value"].clone())
        );
    }
    let positions = multiset(
        acks.iter()
            .map(|l| (l["topic"].clone(), l["partition"].as_i64(), l["offset"].as_i64())),
    );
    assert!(positions.values().all(|n| *n == 1), "no two acks name one record");
}

#[test]
fn an_interceptor_that_traps_or_errs_in_every_call_loses_and_duplicates_nothing() {
    let broker = DevBroker::start(&TOPICS.map(|t| (t, 4)));
    let work = metrics_workload(3_000, 9);
    produce(&broker.bootstrap, "metric.all", &work.inputs);
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "fixture-bad-interceptor");
    let app = install_app(dir.path(), "metrics.toml", &[]);
    let text = std::fs::read_to_string(&app).unwrap()
        + "\n[[interceptors]]\nmanifest = \"./fixture-bad-interceptor/plugin.toml\"\n";
    std::fs::write(&app, text).unwrap();
    let log = run(&broker, dir.path(), &app, "e2e-bad-interceptor");
    // It was called for every event, and each failure was logged (a trap:
    // the instance replaced, so every call starts afresh and traps again).
    for event in ["consume", "commit", "send", "acknowledgement"] {
        assert!(
            log.lines()
                .any(|l| l.contains("interceptor failed") && l.contains(event)),
            "no failure of {event} logged:\n{log}"
        );
    }
    assert!(log.contains("wasm trap"), "{log}");
    // Every change and drop it made was refused: the outputs are exactly
    // the pipeline's, each once, and every input is committed.
    check_metrics_outputs(&broker.bootstrap, &work);
    assert_eq!(
        committed(&broker.bootstrap, "e2e-bad-interceptor", "metric.all"),
        work.inputs.len() as i64
    );
}
