//! `cargo bench -p rill-tests --bench stream_join`: the stream-stream join
//! of design 014 over 1M records (order-payment-join: orders left-joined
//! with payments within 5 minutes either way, 1 minute of grace) against
//! the stateless path over the same input (a pass-through processor reading
//! both topics: same records, same partitions, no state), both the real
//! binary on the embedded broker, timed from process start until the
//! group's commits cover every input record. Prints records/s, the ratio,
//! CPU, peak RSS, changelog records per input record and the join's state
//! on disk at the end, then checks every output against
//! `rill_sdk::time::join` run per partition in the host's processing order.
//!
//! Input: N orders and N payments, keys unique order ids, spread over the
//! event time span; 80% of payments within ±5 minutes of their order, 10%
//! 5-10 minutes away (no match), 10% with no order; 1% of payments are
//! produced up to 30 s after their place (out of order within their
//! partition, within grace). Record i of either topic goes to partition
//! i % P, so an order and its payment share a task. Each payment partition
//! ends with one closing payment (key `close`, no order) an hour past the
//! span, which moves that task's stream time past every order's window:
//! every order then has its one result, and the closing record none.
//!
//! Environment: RILL_BENCH_RECORDS (500000 orders, as many payments),
//! RILL_BENCH_PARTITIONS (24; the dev broker keeps about 5 MiB per
//! partition), RILL_BENCH_MINUTES (100: event time the input spans).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, TopicPartitionList};
use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_sdk::time::join::{Input, Join, JoinKind, JoinWindow, MemoryBuffers, Side};
use rill_tests::bench::{Rng, dir_size, env_usize as env, high_watermarks};
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_400_000;
const MIN: i64 = 60_000;
const APP: &str = "bench-join";
const CLOSE: &str = "close";

/// The plugin's window (plugins/order-payment-join/plugin.toml).
const WINDOW: JoinWindow = JoinWindow {
    before: 5 * MIN,
    after: 5 * MIN,
    grace: MIN,
    kind: JoinKind::Left,
};

struct Rec {
    key: String,
    value: String,
    timestamp: i64,
}

/// Per partition, each topic's records in offset order.
struct Workload {
    orders: Vec<Vec<Rec>>,
    payments: Vec<Vec<Rec>>,
    /// Payments within the window of their order.
    in_window: usize,
    /// Payments produced after later ones.
    delayed: usize,
}

impl Workload {
    fn records(&self) -> usize {
        [&self.orders, &self.payments]
            .iter()
            .flat_map(|t| t.iter())
            .map(Vec::len)
            .sum()
    }
}

fn workload(n: usize, partitions: usize, minutes: usize) -> Workload {
    let mut rng = Rng(20_261_207);
    let span = minutes as i64 * MIN;
    let mut orders: Vec<Vec<Rec>> = (0..partitions).map(|_| Vec::new()).collect();
    let mut payments: Vec<Vec<(i64, usize, Rec)>> = (0..partitions).map(|_| Vec::new()).collect();
    let (mut in_window, mut delayed) = (0, 0);
    for i in 0..n {
        let ordered = T0 + span * i as i64 / n as i64;
        let id = format!("o{i:07}");
        orders[i % partitions].push(Rec {
            key: id.clone(),
            value: format!("order-{i}"),
            timestamp: ordered,
        });
        let (key, timestamp) = match rng.next() % 10 {
            0..8 => {
                in_window += 1;
                (id, ordered + rng.between(-5 * MIN, 5 * MIN))
            }
            8 => {
                let away = rng.between(5 * MIN + 1, 10 * MIN);
                (
                    id,
                    if rng.next().is_multiple_of(2) {
                        ordered + away
                    } else {
                        ordered - away
                    },
                )
            }
            _ => (format!("x{i:07}"), T0 + rng.between(0, span)),
        };
        let delay = if rng.next().is_multiple_of(100) {
            delayed += 1;
            rng.between(1, 30_000)
        } else {
            0
        };
        let value = format!("pay-{i}");
        payments[i % partitions].push((timestamp + delay, i, Rec { key, value, timestamp }));
    }
    let payments = payments
        .into_iter()
        .map(|mut part| {
            part.sort_by_key(|(place, i, _)| (*place, *i));
            let mut part: Vec<Rec> = part.into_iter().map(|(_, _, r)| r).collect();
            part.push(Rec {
                key: CLOSE.into(),
                value: CLOSE.into(),
                timestamp: T0 + span + 60 * MIN,
            });
            part
        })
        .collect();
    Workload {
        orders,
        payments,
        in_window,
        delayed,
    }
}

/// What the model says: per partition, the records in the order the
/// host's partition group releases them (smallest timestamp first, ties to
/// `order`, the input listed first; offset order within a topic) through
/// one `Join` (stream time is per task). Returns the results as
/// (key, value) and, per side, the sum over partitions of the peak and of
/// the final number of buffered records.
struct Model {
    results: Vec<(String, String)>,
    peak: [usize; 2],
    end: [usize; 2],
}

fn model(work: &Workload) -> Model {
    let partition = |p: usize| {
        let (orders, payments) = (&work.orders[p], &work.payments[p]);
        let mut join = Join::new(WINDOW);
        let mut buffers = MemoryBuffers::new();
        let (mut o, mut y) = (0, 0);
        let mut results = Vec::new();
        let mut peak = [0; 2];
        while o < orders.len() || y < payments.len() {
            let left = y == payments.len() || (o < orders.len() && orders[o].timestamp <= payments[y].timestamp);
            let (side, offset, r) = if left {
                o += 1;
                (Side::Left, o - 1, &orders[o - 1])
            } else {
                y += 1;
                (Side::Right, y - 1, &payments[y - 1])
            };
            let step = join
                .step(
                    &mut buffers,
                    Input {
                        side,
                        key: Some(r.key.as_bytes()),
                        value: Some(r.value.as_bytes()),
                        timestamp: r.timestamp,
                        offset: offset as u64,
                    },
                )
                .unwrap();
            let text = |v: Option<Vec<u8>>| v.map_or("null".into(), |v| String::from_utf8(v).unwrap());
            results.extend(step.results.into_iter().map(|j| {
                let key = String::from_utf8(j.key.unwrap()).unwrap();
                (key, format!("{}|{}", text(j.left), text(j.right)))
            }));
            for s in [Side::Left, Side::Right] {
                peak[s as usize] = peak[s as usize].max(buffers.len(s));
            }
        }
        (results, peak, [buffers.len(Side::Left), buffers.len(Side::Right)])
    };
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..work.orders.len())
            .map(|p| scope.spawn(move || partition(p)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut m = Model {
        results: Vec::new(),
        peak: [0; 2],
        end: [0; 2],
    };
    for (results, peak, end) in parts {
        m.results.extend(results);
        for s in 0..2 {
            m.peak[s] += peak[s];
            m.end[s] += end[s];
        }
    }
    m
}

struct Measured {
    seconds: f64,
    cpu: f64,
    rss: f64,
    outputs: Vec<(String, String)>,
    dead_letters: i64,
    changelog: i64,
    state_bytes: u64,
}

fn measure(mode: &str, work: &Workload) -> Measured {
    let partitions = work.orders.len() as i32;
    let broker = EmbeddedBroker::start(1).unwrap();
    let changelogs = [
        format!("{APP}-order-payment-left-changelog"),
        format!("{APP}-order-payment-right-changelog"),
    ];
    let topics = ["order", "payment", "order_payment", "order.payment.dlq", "out", "dlq"];
    for topic in topics.iter().copied().chain(changelogs.iter().map(String::as_str)) {
        broker.create_topic(topic, partitions).unwrap();
    }
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    let producer: ThreadedProducer<DefaultProducerContext> = kafka.producer().create().unwrap();
    for (topic, parts) in [("order", &work.orders), ("payment", &work.payments)] {
        for (p, records) in parts.iter().enumerate() {
            for r in records {
                let record = BaseRecord::to(topic)
                    .partition(p as i32)
                    .key(&r.key)
                    .payload(&r.value)
                    .timestamp(r.timestamp);
                let mut record = Some(record);
                while let Some(next) = record.take() {
                    if let Err((_, back)) = producer.send(next) {
                        producer.poll(Duration::from_millis(5));
                        record = Some(back);
                    }
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let probe: BaseConsumer = kafka.reader().create().unwrap();
    let produced = high_watermarks(&probe, "order", partitions) + high_watermarks(&probe, "payment", partitions);
    assert_eq!(produced, work.records() as i64, "records produced");

    let dir = tempfile::tempdir().unwrap();
    let manifest = match mode {
        "join" => rill_tests::install_plugin(dir.path(), "order-payment-join"),
        _ => {
            std::fs::copy(rill_tests::component("fixture-misbehave"), dir.path().join("pass.wasm")).unwrap();
            let path = dir.path().join("pass.toml");
            std::fs::write(
                &path,
                "manifest-version = 1\nname = \"pass\"\nversion = \"0.1.0\"\ncomponent = \"pass.wasm\"\n\
                 dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"order\"\n[[inputs]]\ntopic = \"payment\"\n\
                 [outputs]\nout = \"out\"\n[config]\npoison = \"error\"\n",
            )
            .unwrap();
            path
        }
    };
    let state = dir.path().join("state");
    let app = format!("{APP}-{mode}");
    let app = if mode == "join" { APP } else { app.as_str() };
    let started = Instant::now();
    let mut child = rill_tests::rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &kafka.brokers, "--application-id", app, "--threads", "2"])
        .args(["--log-level", "warn", "--state-dir"])
        .arg(&state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", app)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition("order", p);
        tpl.add_partition("payment", p);
    }
    let mut last = (0.0, 0.0);
    let seconds = loop {
        let committed: i64 = watcher
            .committed_offsets(tpl.clone(), Duration::from_secs(5))
            .map(|c| {
                c.elements()
                    .iter()
                    .filter_map(|e| e.offset().to_raw())
                    .filter(|o| *o >= 0)
                    .sum()
            })
            .unwrap_or(0);
        if committed >= produced {
            break started.elapsed().as_secs_f64();
        }
        last = rill_tests::usage(pid);
        assert!(started.elapsed() < Duration::from_secs(900), "{mode} did not finish");
        assert!(child.try_wait().unwrap().is_none(), "{mode} exited early");
        std::thread::sleep(Duration::from_millis(10));
    };
    let (cpu, rss) = match rill_tests::usage(pid) {
        (0.0, _) => last,
        now => now,
    };
    rill_tests::terminate(&mut child);
    let _ = child.wait();
    let text = |v: Option<Vec<u8>>| String::from_utf8(v.unwrap_or_default()).unwrap();
    let (outputs, dead_letters, changelog) = if mode == "join" {
        let outputs = rill_tests::read_all(&kafka.brokers, "order_payment")
            .into_iter()
            .map(|r| (text(r.key), text(r.value)))
            .collect();
        let changelog = changelogs.iter().map(|t| high_watermarks(&probe, t, partitions)).sum();
        (
            outputs,
            high_watermarks(&probe, "order.payment.dlq", partitions),
            changelog,
        )
    } else {
        let outputs = (0..high_watermarks(&probe, "out", partitions))
            .map(|_| Default::default())
            .collect();
        (outputs, high_watermarks(&probe, "dlq", partitions), 0)
    };
    Measured {
        seconds,
        cpu,
        rss,
        outputs,
        dead_letters,
        changelog,
        state_bytes: dir_size(&state),
    }
}

/// The checks that do not need the model: one result per order (joined
/// with its payment if that is within 5 minutes, else `|null`), none for
/// payments without an order or for the closing records, nothing else.
fn check_shape(work: &Workload, outputs: &[(String, String)]) -> usize {
    let mut orders: HashMap<&str, (&str, i64)> = HashMap::new();
    for r in work.orders.iter().flatten() {
        orders.insert(&r.key, (&r.value, r.timestamp));
    }
    let mut expected: HashMap<&str, String> = orders
        .iter()
        .map(|(key, (value, _))| (*key, format!("{value}|null")))
        .collect();
    for r in work.payments.iter().flatten() {
        if let Some((order, ordered)) = orders.get(r.key.as_str())
            && (r.timestamp - ordered).abs() <= 5 * MIN
        {
            expected.insert(&r.key, format!("{order}|{}", r.value));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (key, value) in outputs {
        assert_eq!(expected.get(key.as_str()), Some(value), "output for {key}");
        *seen.entry(key).or_default() += 1;
    }
    let twice = seen.values().filter(|n| **n > 1).count();
    assert_eq!(twice, 0, "orders with more than one result");
    assert_eq!(seen.len(), orders.len(), "orders with a result");
    expected.values().filter(|v| !v.ends_with("|null")).count()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env("RILL_BENCH_RECORDS", 500_000);
    let partitions = env("RILL_BENCH_PARTITIONS", 24);
    let minutes = env("RILL_BENCH_MINUTES", 100);
    let work = workload(n, partitions, minutes);
    let records = work.records();
    println!(
        "{n} orders, {n} payments ({} within ±5 min of their order, {} produced up to 30 s late) + {partitions} \
         closing payments, {partitions} partitions, {minutes} minutes of event time",
        work.in_window, work.delayed
    );
    let stateless = measure("stateless", &work);
    let join = measure("join", &work);
    for (name, m) in [("stateless pass-through", &stateless), ("stream-stream join", &join)] {
        println!(
            "{name:>24}: {:>9.0} records/s  {:6.2} s  {:5.2} CPU s  {:6.1} MiB peak RSS  {:>8} outputs  {} dead \
             letters  state {:.1} MiB",
            records as f64 / m.seconds,
            m.seconds,
            m.cpu,
            m.rss,
            m.outputs.len(),
            m.dead_letters,
            m.state_bytes as f64 / (1 << 20) as f64
        );
    }
    println!(
        "join/stateless records/s: {:.2}; changelog records {} ({:.2} per input record)",
        stateless.seconds / join.seconds,
        join.changelog,
        join.changelog as f64 / records as f64
    );
    assert_eq!(stateless.outputs.len(), records, "pass-through outputs");
    assert_eq!(join.dead_letters, 0, "join dead letters");

    let started = Instant::now();
    let joined = check_shape(&work, &join.outputs);
    let model = model(&work);
    let expected = rill_tests::multiset(model.results.iter());
    let got = rill_tests::multiset(join.outputs.iter());
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(n))
        .take(5)
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, n)| expected.get(*k) != Some(n))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "outputs differ from the model: expected {missing:?}, got {extra:?}"
    );
    println!(
        "outputs: {} = one per order ({joined} joined, {} order|null), equal to the model's (checked in {:.1} s); \
         model buffers (sum of per-partition peaks) left {} right {}, at the end left {} right {} (the {partitions} \
         closing records)",
        join.outputs.len(),
        join.outputs.len() - joined,
        started.elapsed().as_secs_f64(),
        model.peak[0],
        model.peak[1],
        model.end[0],
        model.end[1]
    );
}
