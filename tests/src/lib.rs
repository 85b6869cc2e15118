//! Helpers for the end-to-end tests: a `rill dev-broker` process, `rill run`
//! processes, plugin directories with freshly built components, and plain
//! Kafka clients to produce inputs and read outputs back.
//!
//! Nothing here skips: a missing binary or component fails the test loudly.
#![deny(missing_docs)]

pub mod bench;
pub mod member;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `rill` binary built by `cargo build --release --workspace` (which
/// scripts/test.sh runs first), found in this test executable's profile
/// directory.
pub fn rill_bin() -> PathBuf {
    // RILL_BIN names the binary to test instead, for checkouts that share
    // one target directory (the last build of any of them sits next to the
    // test executables).
    if let Some(bin) = std::env::var_os("RILL_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let bin = profile_dir.join("rill");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release --workspace` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A `rill` command whose default `--state-dir` (through `RILL_STATE_DIR`)
/// is a fresh directory under the system's temporary directory, so no test
/// ever writes state or compiled plugins into the source tree. An explicit
/// `--state-dir` still wins.
pub fn rill() -> Command {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rill-test-state-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut command = Command::new(rill_bin());
    command.env("RILL_STATE_DIR", dir);
    command
}

/// The workspace root of the checkout being tested, read when the test runs
/// (cargo sets `CARGO_MANIFEST_DIR` for test and bench runs): compile-time
/// paths can name another checkout that shares the target directory.
pub fn workspace() -> PathBuf {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest_dir)
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The component built by tests/build.rs for a sample plugin.
pub fn component(plugin: &str) -> PathBuf {
    let path = match plugin {
        "metric-branch" => env!("RILL_PLUGIN_METRIC_BRANCH"),
        "metric-route" => env!("RILL_PLUGIN_METRIC_ROUTE"),
        "cpu-alert" => env!("RILL_PLUGIN_CPU_ALERT"),
        "order-join" => env!("RILL_PLUGIN_ORDER_JOIN"),
        "order-count" => env!("RILL_PLUGIN_ORDER_COUNT"),
        "order-window-count" => env!("RILL_PLUGIN_ORDER_WINDOW_COUNT"),
        "order-sliding-count" => env!("RILL_PLUGIN_ORDER_SLIDING_COUNT"),
        "order-payment-join" => env!("RILL_PLUGIN_ORDER_PAYMENT_JOIN"),
        "order-customer-join" => env!("RILL_PLUGIN_ORDER_CUSTOMER_JOIN"),
        "cpu-peak" => env!("RILL_PLUGIN_CPU_PEAK"),
        "fixture-misbehave" => env!("RILL_PLUGIN_FIXTURE_MISBEHAVE"),
        "fixture-wrong-world" => env!("RILL_PLUGIN_FIXTURE_WRONG_WORLD"),
        "fixture-window-gate" => env!("RILL_PLUGIN_FIXTURE_WINDOW_GATE"),
        "consumer-interceptor" => env!("RILL_PLUGIN_CONSUMER_INTERCEPTOR"),
        "producer-interceptor" => env!("RILL_PLUGIN_PRODUCER_INTERCEPTOR"),
        "fixture-bad-interceptor" => env!("RILL_PLUGIN_FIXTURE_BAD_INTERCEPTOR"),
        "fixture-edit-interceptor" => env!("RILL_PLUGIN_FIXTURE_EDIT_INTERCEPTOR"),
        "fixture-files" => env!("RILL_PLUGIN_FIXTURE_FILES"),
        "cpu-alert-python" => env!("RILL_PLUGIN_CPU_ALERT_PYTHON"),
        "cpu-peak-python" => env!("RILL_PLUGIN_CPU_PEAK_PYTHON"),
        "stream-log-copy-python" => env!("RILL_PLUGIN_STREAM_LOG_COPY_PYTHON"),
        "stream-log-filter-python" => env!("RILL_PLUGIN_STREAM_LOG_FILTER_PYTHON"),
        "consumer-interceptor-python" => env!("RILL_PLUGIN_CONSUMER_INTERCEPTOR_PYTHON"),
        "producer-interceptor-python" => env!("RILL_PLUGIN_PRODUCER_INTERCEPTOR_PYTHON"),
        "cpu-alert-js" => env!("RILL_PLUGIN_CPU_ALERT_JS"),
        "cpu-peak-js" => env!("RILL_PLUGIN_CPU_PEAK_JS"),
        "order-window-count-js" => env!("RILL_PLUGIN_ORDER_WINDOW_COUNT_JS"),
        "stream-log-copy-js" => env!("RILL_PLUGIN_STREAM_LOG_COPY_JS"),
        "stream-log-filter-js" => env!("RILL_PLUGIN_STREAM_LOG_FILTER_JS"),
        "cpu-alert-c" => env!("RILL_PLUGIN_CPU_ALERT_C"),
        "cpu-peak-c" => env!("RILL_PLUGIN_CPU_PEAK_C"),
        "stream-log-copy-c" => env!("RILL_PLUGIN_STREAM_LOG_COPY_C"),
        "stream-log-filter-c" => env!("RILL_PLUGIN_STREAM_LOG_FILTER_C"),
        other => panic!("no component is built for {other}"),
    };
    PathBuf::from(path)
}

/// Copies `plugins/<plugin>/plugin.toml` (the real manifest) into `dir`,
/// with the freshly built component next to it under the name it expects.
/// Returns the manifest path.
pub fn install_plugin(dir: &Path, plugin: &str) -> PathBuf {
    install_manifest(dir, plugin, "plugin.toml")
}

/// Like [`install_plugin`] for another manifest of the plugin (e.g.
/// `global.toml`).
pub fn install_manifest(dir: &Path, plugin: &str, file: &str) -> PathBuf {
    let source = workspace().join("plugins").join(plugin).join(file);
    let target_dir = dir.join(plugin);
    std::fs::create_dir_all(&target_dir).unwrap();
    let manifest = target_dir.join(file);
    std::fs::copy(&source, &manifest).unwrap();
    std::fs::copy(component(plugin), target_dir.join(format!("{plugin}.wasm"))).unwrap();
    manifest
}

/// Installs metric-branch and cpu-alert into `dir` with the repository's
/// `apps/metrics.toml` beside them (its manifest paths pointed at the
/// installed copies). Returns the application file's path.
pub fn install_metrics_app(dir: &Path) -> PathBuf {
    install_app(dir, "metrics.toml", &["metric-branch", "cpu-alert"])
}

/// Installs `plugins` into `dir` with the repository's `apps/<app>` beside
/// them (its manifest paths pointed at the installed copies). Returns the
/// application file's path.
pub fn install_app(dir: &Path, app: &str, plugins: &[&str]) -> PathBuf {
    for plugin in plugins {
        install_plugin(dir, plugin);
    }
    let text = std::fs::read_to_string(workspace().join("apps").join(app))
        .unwrap()
        .replace("../plugins/", "./");
    let path = dir.join(app);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes a pass-through processor into `dir` (the misbehave fixture with
/// no poison record in its input): `in` -> output `out`, dead letters to
/// `dlq`. Returns its manifest path.
pub fn install_passthrough(dir: &Path) -> PathBuf {
    std::fs::copy(component("fixture-misbehave"), dir.join("fixture-misbehave.wasm")).unwrap();
    let path = dir.join("passthrough.toml");
    std::fs::write(
        &path,
        "manifest-version = 1\nname = \"passthrough\"\nversion = \"0.1.0\"\ncomponent = \"fixture-misbehave.wasm\"\n\
         dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"in\"\n[outputs]\nout = \"out\"\n[config]\npoison = \"error\"\n",
    )
    .unwrap();
    path
}

/// A broker child process for one test; stopped with SIGTERM when
/// dropped. Normally `rill dev-broker` (librdkafka's mock); with
/// `RILL_TEST_BROKER=txn` crabka-broker through `rill-txn-broker`
/// (tools/txn-broker), a second, independent implementation of the Kafka
/// protocol that also honours transactions. scripts/test.sh runs the
/// at-least-once end-to-end tests against both.
pub struct DevBroker {
    child: Child,
    /// `bootstrap.servers` for clients.
    pub bootstrap: String,
    /// Its stdout, where fault commands are confirmed.
    answers: BufReader<std::process::ChildStdout>,
    /// Whether this is the transactional broker (no fault commands).
    transactional: bool,
}

/// The `rill-txn-broker` binary scripts/txn-broker.sh builds
/// (`RILL_TXN_BROKER`, or its default place in the tools cache).
pub fn txn_broker_bin() -> PathBuf {
    let bin = std::env::var_os("RILL_TXN_BROKER").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/rill/txn-broker-target/debug/rill-txn-broker")
        },
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "{} is missing: build it with scripts/txn-broker.sh (scripts/test.sh does)",
        bin.display()
    );
    bin
}

impl DevBroker {
    /// Starts a broker with `topics` (name, partitions) created: the one
    /// `RILL_TEST_BROKER` names (`dev`, the default, or `txn`).
    pub fn start(topics: &[(&str, i32)]) -> DevBroker {
        match std::env::var("RILL_TEST_BROKER").as_deref() {
            Err(_) | Ok("dev") => Self::start_dev(topics),
            Ok("txn") => Self::start_txn(topics),
            Ok(other) => panic!("RILL_TEST_BROKER={other}: use dev or txn"),
        }
    }

    /// Starts crabka-broker (transactions honoured) with `topics` created.
    pub fn start_txn(topics: &[(&str, i32)]) -> DevBroker {
        let mut child = Command::new(txn_broker_bin())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // Its own failures (a port taken, a start refused) are said
            // here, in the test's output.
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning rill-txn-broker");
        let (answers, bootstrap) = Self::bootstrap_line(&mut child);
        let settings = rill_host::kafka::KafkaSettings::new(&bootstrap);
        let wanted: Vec<(String, i32)> = topics.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        rill_host::kafka::admin::create_topics(&settings, &wanted, &[]).expect("creating the test topics");
        DevBroker {
            child,
            bootstrap,
            answers,
            transactional: true,
        }
    }

    /// Reads the `bootstrap.servers=...` line both brokers print first; the
    /// rest of their stdout answers fault commands.
    fn bootstrap_line(child: &mut Child) -> (BufReader<std::process::ChildStdout>, String) {
        let mut answers = BufReader::new(child.stdout.take().expect("the broker's stdout"));
        let mut first = String::new();
        answers.read_line(&mut first).expect("reading the bootstrap line");
        let bootstrap = first
            .trim()
            .strip_prefix("bootstrap.servers=")
            .unwrap_or_else(|| panic!("the broker printed {first:?} instead of bootstrap.servers=..."))
            .to_string();
        (answers, bootstrap)
    }

    /// Starts `rill dev-broker` with `topics` (name, partitions) created.
    pub fn start_dev(topics: &[(&str, i32)]) -> DevBroker {
        let mut command = rill();
        command.args(["dev-broker", "--brokers", "1", "--log-level", "warn"]);
        for (topic, partitions) in topics {
            command.args(["--topic", &format!("{topic}:{partitions}")]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning rill dev-broker");
        let (answers, bootstrap) = Self::bootstrap_line(&mut child);
        DevBroker {
            child,
            bootstrap,
            answers,
            transactional: false,
        }
    }

    /// Sends a fault command (`down`, `up`, `fail-produce <error> <count>`)
    /// and waits until the broker confirms it is in effect.
    pub fn command(&mut self, line: &str) {
        use std::io::Write;
        assert!(
            !self.transactional,
            "`{line}` needs rill dev-broker's fault injection, which the transactional broker does not have"
        );
        let stdin = self.child.stdin.as_mut().expect("dev-broker stdin");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .expect("writing a dev-broker command");
        let mut answer = String::new();
        self.answers
            .read_line(&mut answer)
            .expect("reading the dev-broker's answer");
        assert_eq!(answer.trim(), format!("ok {line}"), "dev-broker refused {line:?}");
    }
}

impl Drop for DevBroker {
    fn drop(&mut self) {
        terminate(&mut self.child);
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM to the child (use `wait` for its exit status).
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

/// Waits for `child` to exit, killing it (and failing) after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for rill") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rill did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Produces `(key, value)` records to `topic` (lz4-compressed: the dev
/// broker's retention is counted in stored bytes) and waits for all acks.
pub fn produce(bootstrap: &str, topic: &str, records: &[(Option<Vec<u8>>, Vec<u8>)]) {
    let settings = rill_host::kafka::KafkaSettings::new(bootstrap);
    rill_host::kafka::produce_all(
        &settings,
        topic,
        records.iter().map(|(k, v)| (k.as_deref(), v.as_slice())),
    )
    .expect("producing test records");
}

/// Produces records with explicit timestamps (ms) and possibly null values
/// (tombstones) to `topic`, keyed partitioning as rill's producer does it,
/// and waits for all acks. For pre-loading topics in event time.
pub fn produce_at(bootstrap: &str, topic: &str, records: &[(&str, Option<&str>, i64)]) {
    let records: Vec<(Option<&str>, Option<&str>, i64)> = records.iter().map(|(k, v, t)| (Some(*k), *v, *t)).collect();
    produce_timed(bootstrap, topic, &records);
}

/// [`produce_at`] with optional keys (a keyless record goes to a partition
/// the client picks: use it on one-partition topics where order matters).
pub fn produce_timed(bootstrap: &str, topic: &str, records: &[(Option<&str>, Option<&str>, i64)]) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let settings = rill_host::kafka::KafkaSettings::new(bootstrap);
    let producer: ThreadedProducer<DefaultProducerContext> = settings.producer().create().expect("test producer");
    for (key, value, timestamp) in records {
        let mut record = BaseRecord::<str, str>::to(topic).timestamp(*timestamp);
        if let Some(key) = key {
            record = record.key(*key);
        }
        if let Some(value) = value {
            record = record.payload(*value);
        }
        producer
            .send(record)
            .map_err(|(e, _)| e)
            .expect("queueing a test record");
    }
    producer.flush(Duration::from_secs(30)).expect("producing test records");
}

/// The sum over `topic`'s partitions of `group`'s committed offsets (asked
/// of the coordinator without joining the group).
pub fn committed(bootstrap: &str, group: &str, topic: &str) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("test consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for partition in 0..metadata.topics()[0].partitions().len() as i32 {
        tpl.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(tpl, timeout).expect("committed offsets");
    committed
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw())
        .filter(|o| *o >= 0)
        .sum()
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Partition it was in.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers by name (last wins).
    pub headers: HashMap<String, String>,
}

/// Every record of `topic` in offset order, as a consumer of the run's
/// guarantee sees it: committed transactions only under exactly-once.
pub fn read_as(bootstrap: &str, topic: &str, exactly_once: bool) -> Vec<Received> {
    let mut records = if exactly_once {
        read_isolated(bootstrap, topic, true)
    } else {
        read_all(bootstrap, topic)
    };
    records.sort_by_key(|r| r.offset);
    records
}

/// Reads every record of `topic` (all partitions, up to the high watermark
/// at call time). Fails if the broker's retention already dropped any.
pub fn read_all(bootstrap: &str, topic: &str) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "rill-tests-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "1")
        .create()
        .expect("test consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .expect("watermarks");
        assert_eq!(
            low, 0,
            "{topic}/{partition}: the dev broker's retention dropped records; make the test smaller"
        );
        remaining += high;
        tpl.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(remaining as usize);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (out.len() as i64) < remaining {
        assert!(
            Instant::now() < deadline,
            "{topic}: read {} of {remaining} records",
            out.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        out.push(received(&message.expect("consuming")));
    }
    out
}

/// A consumed message as a [`Received`].
fn received(message: &rdkafka::message::BorrowedMessage<'_>) -> Received {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Received {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// CPU seconds (user + system) and peak RSS (MiB) of a running process,
/// from /proc: what the benchmarks report.
pub fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime, in clock ticks of 1/100 s.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm_kib / 1024.0)
}

/// Counts of each element, for comparing outputs as multisets.
pub fn multiset<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> HashMap<T, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

/// Runs `rill run` on `manifests` until the inputs are drained (2 s idle)
/// and returns its log; fails the test if it does not exit 0. Uses a 6 s
/// session timeout because the dev broker holds a rejoin for it.
pub fn run_until_idle(bootstrap: &str, manifests: &[&Path], application_id: &str, state_dir: &Path) -> String {
    run_until_idle_with(bootstrap, manifests, application_id, state_dir, &[])
}

/// [`run_until_idle`] with more `rill run` arguments (e.g. the guarantee).
pub fn run_until_idle_with(
    bootstrap: &str,
    manifests: &[&Path],
    application_id: &str,
    state_dir: &Path,
    extra: &[&str],
) -> String {
    let mut child = rill()
        .arg("run")
        .args(manifests)
        .args(extra)
        .args([
            "--brokers",
            bootstrap,
            "--application-id",
            application_id,
            "--stop-when-idle",
            "2s",
        ])
        .args(["-X", "consumer.session.timeout.ms=6000", "--state-dir"])
        .arg(state_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning rill run");
    // Read the log while it runs so a full pipe never blocks rill.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        log
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for rill") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = reader.join().unwrap();
    let Some(status) = status else {
        panic!("rill did not go idle and exit within 120 s:\n{log}");
    };
    assert!(status.success(), "rill run failed:\n{log}");
    log
}

/// Records restored over all tasks, from the "restored N records" log lines.
pub fn restored_records(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split("restored ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A program of scripts/setup.sh's Python venv (`pytest`, ...), under
/// `RILL_TOOLS_DIR` (default ~/.cache/rill/tools) as setup.sh puts it.
pub fn venv_tool(name: &str) -> PathBuf {
    let tools = std::env::var("RILL_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/rill/tools"));
    tools.join("venv/bin").join(name)
}

/// A TCP port free right now on 127.0.0.1 (for `rill run --http`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET http://{addr}{path}`: the status code and body, or `None` when
/// nothing answers. A plain HTTP/1.0 request: enough for rill's endpoints.
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http_get_with(addr, path, &[])
}

/// As [`http_get`], sending `headers` too (`("Authorization", "Bearer t")`).
pub fn http_get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// One sample of a Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSample {
    /// The series name (`x_bucket` for a histogram's buckets).
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// Parses the samples of a Prometheus text exposition (label values
/// without escaped quotes, which rill never writes).
pub fn parse_metrics(text: &str) -> Vec<MetricSample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.trim().to_string(), v.trim_matches('"').to_string()))
                })
                .collect();
            Some(MetricSample {
                name: name.to_string(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// The metric families a Prometheus exposition declares (`# TYPE` lines).
pub fn metric_families(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Reads every record of `topic` as a consumer with
/// `isolation.level=read_committed` (`committed`) or `read_uncommitted`
/// sees it: from the beginning of each partition until its position
/// passes the high watermark at call time (offsets there include
/// transaction markers, so records are not counted). Fails after 60 s, e.g.
/// while an open transaction holds a read_committed reader back.
pub fn read_isolated(bootstrap: &str, topic: &str, committed: bool) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "rill-tests-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "1")
        .set(
            "isolation.level",
            if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .expect("test consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut tpl = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for partition in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .expect("watermarks");
        if high > 0 {
            ends.insert(partition, high);
            tpl.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return out;
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ends.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{topic}: partitions {ends:?} not read to their end within 60 s (read {} records; an open transaction?)",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(message) => {
                let message = message.expect("consuming");
                if ends
                    .get(&message.partition())
                    .is_some_and(|end| message.offset() < *end)
                {
                    out.push(received(&message));
                }
            }
            None => {
                // Markers and aborted records are skipped without being
                // handed over; the position still moves past them.
                let positions = consumer.position().expect("positions");
                for element in positions.elements() {
                    if let (Some(end), Some(at)) = (ends.get(&element.partition()), element.offset().to_raw())
                        && at >= *end
                    {
                        ends.remove(&element.partition());
                    }
                }
            }
        }
    }
    out
}

/// Produces `records` to `topic` as a steady stream, `per_second` records a
/// second in slices every 10 ms from one producer, and waits for all acks:
/// members reading it are busy all along instead of with one backlog.
pub fn produce_paced(bootstrap: &str, topic: &str, records: &[(Option<Vec<u8>>, Vec<u8>)], per_second: usize) {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let settings = rill_host::kafka::KafkaSettings::new(bootstrap);
    let producer: ThreadedProducer<DefaultProducerContext> = settings.producer().create().expect("test producer");
    let slice = (per_second / 100).max(1);
    let started = Instant::now();
    for (i, chunk) in records.chunks(slice).enumerate() {
        for (key, value) in chunk {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            producer
                .send(record)
                .map_err(|(e, _)| e)
                .expect("queueing a test record");
        }
        let due = started + Duration::from_millis(10 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    producer.flush(Duration::from_secs(30)).expect("producing test records");
}

/// A key and a value, as the metrics pipeline's checks compare records.
pub type Kv = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Generated metricbeat input records plus every output the seed's
/// metrics pipeline must produce from them, per topic, as multisets of
/// (key, value).
pub struct MetricsWorkload {
    /// The records for `metric.all`, keyed `k<i>`.
    pub inputs: Vec<(Option<Vec<u8>>, Vec<u8>)>,
    /// Topic to the multiset of records it must hold.
    pub expected: HashMap<&'static str, HashMap<Kv, usize>>,
}

/// `records` metricbeat records from seed `seed` and what the pipeline
/// (metric-branch, then cpu-alert) must write for them.
pub fn metrics_workload(records: usize, seed: u64) -> MetricsWorkload {
    use rill_host::metricbeat::{Expect, Generator};
    let mut generator = Generator::new(seed);
    let mut inputs = Vec::with_capacity(records);
    let mut expected: HashMap<&'static str, Vec<Kv>> = HashMap::new();
    for i in 0..records {
        let sample = generator.sample();
        let key = Some(format!("k{i}").into_bytes());
        let same = (key.clone(), Some(sample.value.clone()));
        match sample.expect {
            Expect::Cpu { pct, alert } => {
                expected.entry("metric.cpu").or_default().push(same);
                if pct > 0.5 {
                    expected
                        .entry("metric.cpu.alert")
                        .or_default()
                        .push((key.clone(), Some(alert.into_bytes())));
                }
            }
            Expect::CpuWithoutHost => {
                expected.entry("metric.cpu").or_default().push(same.clone());
                expected.entry("metric.cpu.dlq").or_default().push(same);
            }
            Expect::Memory => expected.entry("metric.memory").or_default().push(same),
            Expect::Other => {}
            Expect::Malformed => expected.entry("metric.all.dlq").or_default().push(same),
        }
        inputs.push((key, sample.value));
    }
    MetricsWorkload {
        inputs,
        expected: expected.into_iter().map(|(t, v)| (t, multiset(v))).collect(),
    }
}

/// Records as a multiset of (key, value).
pub fn kv(records: &[Received]) -> HashMap<Kv, usize> {
    multiset(records.iter().map(|r| (r.key.clone(), r.value.clone())))
}

/// Checks that every topic the metrics pipeline writes holds exactly what
/// `work` expects: nothing missing, nothing extra, nothing twice.
pub fn check_metrics_outputs(bootstrap: &str, work: &MetricsWorkload) {
    for topic in rill_host::metricbeat::written_topics() {
        let got = kv(&read_all(bootstrap, topic));
        let want = &work.expected[topic];
        let missing = want.iter().filter(|(k, n)| got.get(*k) < Some(n)).count();
        let extra = got.iter().filter(|(k, n)| want.get(*k) < Some(n)).count();
        assert_eq!(
            (missing, extra),
            (0, 0),
            "{topic}: {missing} expected records missing, {extra} unexpected"
        );
        assert_eq!(
            got.values().sum::<usize>(),
            want.values().sum::<usize>(),
            "{topic}: record count"
        );
    }
}
