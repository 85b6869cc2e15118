//! Observability end to end: `rill run --http` against the dev broker,
//! scraped as Prometheus would, read as an orchestrator (`/health`,
//! `/ready`) and a tool (`/status`, `/lag`, `/topology`) would, the status
//! page rendered in headless Chromium, the metric list in
//! docs/observability.md and the Grafana dashboard checked against what is
//! really exported, and `rill lag` judging the group from outside.

use rill_tests::{
    DevBroker, MetricSample, free_port, http_get, install_plugin, metric_families, parse_metrics, produce, rill,
    terminate, wait_exit, workspace,
};
use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const APP: &str = "observing";

fn orders(n: usize, from: usize) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    (from..from + n)
        .map(|i| (Some(format!("k{}", i % 10).into_bytes()), b"item".to_vec()))
        .collect()
}

/// Polls `f` every 100 ms until it returns `Some`, failing after `limit`.
fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn json(addr: &str, path: &str) -> serde_json::Value {
    let (code, body) = http_get(addr, path).unwrap_or_else(|| panic!("{path}: no answer"));
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn sum(samples: &[MetricSample], name: &str) -> f64 {
    samples.iter().filter(|s| s.name == name).map(|s| s.value).sum()
}

fn find<'a>(samples: &'a [MetricSample], name: &str, labels: &[(&str, &str)]) -> Option<&'a MetricSample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

/// Metric names listed in docs/observability.md's metric table.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(workspace().join("docs/observability.md")).unwrap();
    let section = doc.split("## Metrics").nth(1).expect("a Metrics section");
    // Metrics of features a plain run does not configure are listed apart.
    let table = section.split("### Metrics of features").next().unwrap_or(section);
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// Metric names the Grafana dashboard queries.
fn dashboard_metrics() -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace().join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"].as_str() {
            exprs.push(query.to_string());
        }
    }
    let mut names = BTreeSet::new();
    for expr in exprs {
        for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if token.starts_with("rill_") || token.starts_with("kafka_") {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| token.strip_suffix(suffix))
                    .unwrap_or(token);
                names.insert(family.to_string());
            }
        }
    }
    assert!(names.len() >= 20, "the dashboard queries only {names:?}");
    names
}

fn start(
    broker: &DevBroker,
    manifest: &std::path::Path,
    addr: &str,
    state: &std::path::Path,
) -> (Child, std::thread::JoinHandle<String>) {
    let mut child = rill()
        .arg("run")
        .arg(manifest)
        .args(["--brokers", &broker.bootstrap, "--application-id", APP, "--http", addr])
        .args([
            "--commit-interval",
            "200ms",
            "-X",
            "consumer.session.timeout.ms=6000",
            "--state-dir",
        ])
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning rill run");
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        stderr.read_to_string(&mut log).unwrap();
        log
    });
    (child, log)
}

/// Renders `url` in headless Chromium (Debian's, installed by
/// scripts/setup.sh) after its scripts ran, and returns the DOM.
fn render(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .expect("running chromium (scripts/setup.sh installs Debian's chromium)");
    assert!(
        output.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_running_application_is_visible_from_outside() {
    let changelog = format!("{APP}-counts-changelog");
    let broker = DevBroker::start(&[
        ("order", 2),
        ("order_count", 2),
        ("order.count.dlq", 2),
        (&changelog, 2),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let manifest = install_plugin(dir.path(), "order-count");
    produce(&broker.bootstrap, "order", &orders(50, 0));

    let addr = format!("127.0.0.1:{}", free_port());
    let (mut child, log) = start(&broker, &manifest, &addr, &dir.path().join("state"));
    // Alive at once; ready only once it runs every task.
    eventually(Duration::from_secs(30), "/health", || {
        http_get(&addr, "/health").filter(|(code, _)| *code == 200)
    });
    // The server starts before the plugins load and the group is joined,
    // so the first polls see 503 with the state that is not yet RUNNING.
    let mut not_ready = Vec::new();
    eventually(Duration::from_secs(60), "/ready", || {
        let (code, body) = http_get(&addr, "/ready")?;
        if code == 503 {
            not_ready.push(body);
        }
        (code == 200).then_some(())
    });
    assert!(!not_ready.is_empty(), "/ready answered 200 before rill was running");
    assert!(
        not_ready
            .iter()
            .all(|b| b.contains("\"CREATED\"") || b.contains("\"REBALANCING\"")),
        "{not_ready:?}"
    );
    let samples = eventually(Duration::from_secs(60), "all 50 orders counted and committed", || {
        let (_, body) = http_get(&addr, "/metrics")?;
        let samples = parse_metrics(&body);
        let lags: Vec<&MetricSample> = samples.iter().filter(|s| s.name == "kafka_consumergroup_lag").collect();
        (sum(&samples, "rill_records_consumed_total") == 50.0 && lags.len() == 2 && lags.iter().all(|s| s.value == 0.0))
            .then_some(samples)
    });

    // Prometheus: kafka_exporter's lag series, and rill's own.
    for partition in ["0", "1"] {
        let labels = [("consumergroup", APP), ("topic", "order"), ("partition", partition)];
        assert!(
            find(&samples, "kafka_consumergroup_lag", &labels).is_some(),
            "{partition}"
        );
        assert!(find(&samples, "kafka_consumergroup_current_offset", &labels).is_some());
        let ok = [
            ("consumergroup", APP),
            ("topic", "order"),
            ("partition", partition),
            ("status", "OK"),
        ];
        assert_eq!(
            find(&samples, "rill_consumergroup_lag_status", &ok).map(|s| s.value),
            Some(1.0)
        );
    }
    assert_eq!(sum(&samples, "kafka_consumergroup_current_offset"), 50.0);
    assert_eq!(
        find(&samples, "rill_application_state", &[("state", "RUNNING")]).map(|s| s.value),
        Some(1.0)
    );
    assert_eq!(
        find(&samples, "rill_tasks", &[("state", "Running")]).map(|s| s.value),
        Some(2.0)
    );
    assert_eq!(
        sum(&samples, "rill_records_produced_total"),
        50.0,
        "one count per order"
    );
    assert_eq!(sum(&samples, "rill_batch_size_records_sum"), 50.0);
    assert!(
        find(
            &samples,
            "rill_store_operation_latency_seconds_count",
            &[("store", "counts"), ("operation", "get")]
        )
        .is_some()
    );
    assert!(
        find(
            &samples,
            "rill_records_dead_lettered_total",
            &[("reason", "record-error")]
        )
        .is_some(),
        "reasons exist at zero"
    );
    assert!(
        sum(&samples, "rill_plugin_memory_bytes") > 0.0,
        "plugin memory is measured"
    );
    assert!(
        sum(&samples, "rill_store_disk_bytes") > 0.0,
        "state on disk is measured"
    );

    // The docs list exactly what is exported; the dashboard queries only that.
    let (_, body) = http_get(&addr, "/metrics").unwrap();
    let exported = metric_families(&body);
    let docs = documented();
    assert_eq!(
        docs.difference(&exported).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "documented in docs/observability.md but not exported"
    );
    assert_eq!(
        exported.difference(&docs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "exported but missing from docs/observability.md"
    );
    let queried = dashboard_metrics();
    assert_eq!(
        queried.difference(&exported).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "docs/grafana-dashboard.json queries metrics rill does not export"
    );

    // JSON for tools.
    let status = json(&addr, "/status");
    assert_eq!(status["application_id"], APP);
    assert_eq!(status["state"], "RUNNING");
    let tasks: Vec<&str> = status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["order-count_0", "order-count_1"]);
    assert!(
        status["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "Running")
    );
    assert_eq!(status["processors"][0]["records_in"], 50);
    assert!(
        status["processors"][0]["version"]
            .as_str()
            .unwrap()
            .starts_with("0.1.0+")
    );
    assert_eq!(status["threads"][0]["name"], "rill-worker-0");
    assert_eq!(status["restores"].as_array().unwrap().len(), 2, "{status}");
    let lag = json(&addr, "/lag");
    assert_eq!(lag["consumergroup"], APP);
    assert_eq!(lag["status"], "OK");
    let partitions = lag["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 2);
    assert_eq!(
        partitions
            .iter()
            .map(|p| p["committed_offset"].as_i64().unwrap())
            .sum::<i64>(),
        50
    );
    assert!(
        partitions
            .iter()
            .all(|p| p["lag"] == 0 && p["lag_seconds"] == 0.0 && !p["window"].as_array().unwrap().is_empty())
    );
    let topology = json(&addr, "/topology");
    assert!(topology.to_string().contains("order-count"), "{topology}");
    assert_eq!(http_get(&addr, "/nothing-here").map(|(code, _)| code), Some(404));

    // The status page, rendered by a real browser.
    let dom = render(&format!("http://{addr}/"));
    assert!(dom.contains(&format!("<span id=\"app\">{APP}</span>")), "{dom}");
    assert!(dom.contains("class=\"state RUNNING\""), "{dom}");
    assert!(
        dom.contains("<td>order-count_0</td>") && dom.contains("<td>order-count_1</td>"),
        "{dom}"
    );
    assert!(dom.contains("<td>order</td>"), "lag rows: {dom}");
    assert!(dom.contains("class=\"state OK\""), "lag coloured by status: {dom}");
    assert!(dom.contains("<polyline"), "the records/s chart: {dom}");
    assert!(!dom.contains("<span id=\"updated\">failed"), "{dom}");

    // Shutdown walks the states down, logged.
    terminate(&mut child);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let log = log.join().unwrap();
    for transition in [
        "application state CREATED -> REBALANCING",
        "application state REBALANCING -> RUNNING",
        "application state RUNNING -> PENDING_SHUTDOWN",
        "application state PENDING_SHUTDOWN -> NOT_RUNNING",
    ] {
        assert!(log.contains(transition), "{transition}: {log}");
    }

    // From outside, with rill down: caught up now...
    let once = rill()
        .args([
            "lag",
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            APP,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(once.status.success(), "{}", String::from_utf8_lossy(&once.stderr));
    let report: serde_json::Value = serde_json::from_slice(&once.stdout).unwrap();
    assert_eq!(report["status"], "OK", "{report}");
    let lags: Vec<i64> = report["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["lag"].as_i64().unwrap())
        .collect();
    assert_eq!(lags, [0, 0], "{report}");

    // ...then 20 more orders nobody consumes: lag, and offsets not moving.
    produce(&broker.bootstrap, "order", &orders(20, 50));
    let watched = rill()
        .args(["lag", "--brokers", &broker.bootstrap, "--application-id", APP])
        .args(["--watch", "300ms", "--count", "3", "--format", "json"])
        .output()
        .unwrap();
    assert!(watched.status.success(), "{}", String::from_utf8_lossy(&watched.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(watched.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one line per sample");
    let last = &lines[2];
    assert_eq!(last["status"], "STALL", "{last}");
    let partitions = last["partitions"].as_array().unwrap();
    assert_eq!(partitions.iter().map(|p| p["lag"].as_i64().unwrap()).sum::<i64>(), 20);
    assert!(partitions.iter().all(|p| p["lag_seconds"].as_f64().is_some()), "{last}");
    assert!(partitions.iter().all(|p| p["window"].as_array().unwrap().len() == 3));

    let table = rill()
        .args(["lag", "--brokers", &broker.bootstrap, "--application-id", APP])
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("GROUP"), "{table}");
    assert!(table.contains("LOG-END-OFFSET") && table.contains("order"), "{table}");

    let missing = rill()
        .args(["lag", "--brokers", &broker.bootstrap, "--application-id", "nobody"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("group nobody has no committed offsets"));

    // A restart without local state restores the counts from the changelog:
    // the restore shows in the metrics and in /status, and the 20 waiting
    // orders are then processed (lag back to zero).
    let changelog_records = rill_tests::read_all(&broker.bootstrap, &changelog).len() as f64;
    assert!(changelog_records > 0.0);
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let (mut child, log) = start(&broker, &manifest, &addr, &dir.path().join("state"));
    let samples = eventually(Duration::from_secs(60), "the restore and the 20 new orders", || {
        let (_, body) = http_get(&addr, "/metrics")?;
        let samples = parse_metrics(&body);
        (sum(&samples, "rill_records_consumed_total") == 20.0
            && sum(&samples, "kafka_consumergroup_lag") == 0.0
            && sum(&samples, "kafka_consumergroup_current_offset") == 70.0)
            .then_some(samples)
    });
    assert_eq!(sum(&samples, "rill_store_restored_records_total"), changelog_records);
    assert_eq!(sum(&samples, "rill_store_restore_remaining_records"), 0.0);
    assert!(find(&samples, "rill_store_restored_records_total", &[("store", "counts")]).is_some());
    let status = json(&addr, "/status");
    let restores = status["restores"].as_array().unwrap();
    assert_eq!(
        restores.iter().map(|r| r["restored"].as_f64().unwrap()).sum::<f64>(),
        changelog_records,
        "{status}"
    );
    assert!(
        restores
            .iter()
            .all(|r| r["done"] == true && r["restored"] == r["total"]),
        "{status}"
    );
    terminate(&mut child);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let log = log.join().unwrap();
    assert!(log.contains("records/s)"), "the restore logs its rate: {log}");
}
