//! `cargo bench -p rill-tests --bench fk_join`: the foreign-key join of
//! design 015 (order-customer-join: the orders table inner-joined on each
//! order's `customer` to the customers table) over 100k orders and 10k
//! customers with updates, against the stateless path over the same input
//! (a pass-through processor reading both topics as streams: same records,
//! same partitions, no state). Both are the real binary on the embedded
//! broker, timed from process start until the group's commits cover every
//! input record and every internal record the join sent itself. Prints
//! records/s, the ratio, CPU, peak RSS, internal and changelog records per
//! input record and the state on disk, then checks the join's outcome: the
//! last result of every order is its final value joined with its final
//! customer's (nothing, or a tombstone, when either is missing), and every
//! result joins some version of the order with some version of a customer.
//!
//! Input, per run: C customers, then N orders (each names one of the C
//! customers, or one of C/100 ids that never exist), then in one stream
//! mixed in time: C/2 customer renames, N/5 order updates (half move to
//! another customer), N/100 order deletes and C/100 customer deletes.
//! Every record goes to the partition Kafka's default partitioner gives its
//! key (the join's requirement).
//!
//! Environment: RILL_BENCH_RECORDS (100000 orders), RILL_BENCH_CUSTOMERS
//! (10000), RILL_BENCH_PARTITIONS (12).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, TopicPartitionList};
use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::state::queries::partition_for;
use rill_tests::bench::{Rng, dir_size, env_usize, high_watermarks};
use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

const APP: &str = "bench-fk";
const T0: i64 = 1_700_000_400_000;

/// (topic, key, value or a delete, timestamp), in producing order.
type Row = (&'static str, String, Option<String>, i64);

struct Workload {
    rows: Vec<Row>,
    /// Every name each customer had.
    names: HashMap<String, Vec<String>>,
    /// Every (item, customer) each order had.
    orders: HashMap<String, Vec<(String, String)>>,
    /// What the join must end with, per order: its final value joined with
    /// its final customer's, `None` when there is no result.
    last: HashMap<String, Option<String>>,
}

fn workload(n: usize, customers: usize) -> Workload {
    let mut rng = Rng(20_261_208);
    let mut rows: Vec<Row> = Vec::new();
    let mut t = T0;
    let mut tick = || {
        t += 1;
        t
    };
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    let mut current_name: HashMap<String, String> = HashMap::new();
    for c in 0..customers {
        let (id, name) = (format!("c{c:06}"), format!("name-{c}"));
        names.entry(id.clone()).or_default().push(name.clone());
        current_name.insert(id.clone(), name.clone());
        rows.push(("customers", id, Some(name), tick()));
    }
    let missing = (customers / 100).max(1);
    let pick = |rng: &mut Rng| -> String {
        if rng.next() % 50 == 0 {
            format!("x{:06}", rng.next() as usize % missing)
        } else {
            format!("c{:06}", rng.next() as usize % customers)
        }
    };
    let mut orders: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut current_order: HashMap<String, (String, String)> = HashMap::new();
    let order_value = |item: &str, customer: &str| format!(r#"{{"customer":"{customer}","item":"{item}"}}"#);
    for o in 0..n {
        let (id, item, customer) = (format!("o{o:07}"), format!("item-{o}"), pick(&mut rng));
        rows.push(("orders", id.clone(), Some(order_value(&item, &customer)), tick()));
        orders
            .entry(id.clone())
            .or_default()
            .push((item.clone(), customer.clone()));
        current_order.insert(id, (item, customer));
    }
    let updates = customers / 2 + n / 5 + n / 100 + customers / 100;
    for u in 0..updates {
        match rng.next() % updates as u64 {
            k if k < (customers / 2) as u64 => {
                let id = format!("c{:06}", rng.next() as usize % customers);
                let name = format!("renamed-{u}");
                names.entry(id.clone()).or_default().push(name.clone());
                current_name.insert(id.clone(), name.clone());
                rows.push(("customers", id, Some(name), tick()));
            }
            k if k < (customers / 2 + n / 5) as u64 => {
                let id = format!("o{:07}", rng.next() as usize % n);
                let Some((item, customer)) = current_order.get(&id).cloned() else {
                    continue;
                };
                let customer = if rng.next().is_multiple_of(2) {
                    pick(&mut rng)
                } else {
                    customer
                };
                let item = format!("{item}+{u}");
                rows.push(("orders", id.clone(), Some(order_value(&item, &customer)), tick()));
                orders
                    .entry(id.clone())
                    .or_default()
                    .push((item.clone(), customer.clone()));
                current_order.insert(id, (item, customer));
            }
            k if k < (customers / 2 + n / 5 + n / 100) as u64 => {
                let id = format!("o{:07}", rng.next() as usize % n);
                current_order.remove(&id);
                rows.push(("orders", id, None, tick()));
            }
            _ => {
                let id = format!("c{:06}", rng.next() as usize % customers);
                current_name.remove(&id);
                rows.push(("customers", id, None, tick()));
            }
        }
    }
    let last = orders
        .keys()
        .map(|id| {
            let result = current_order
                .get(id)
                .and_then(|(item, customer)| Some(format!("{item}|{}", current_name.get(customer)?)));
            (id.clone(), result)
        })
        .collect();
    Workload {
        rows,
        names,
        orders,
        last,
    }
}

struct Measured {
    seconds: f64,
    cpu: f64,
    rss: f64,
    /// (order, value) in offset order per partition.
    outputs: Vec<(String, Option<String>)>,
    dead_letters: i64,
    internal: i64,
    changelog: i64,
    state_bytes: u64,
}

fn measure(mode: &str, work: &Workload, partitions: i32) -> Measured {
    let broker = EmbeddedBroker::start(1).unwrap();
    let app = if mode == "join" {
        APP.to_string()
    } else {
        format!("{APP}-{mode}")
    };
    let internal = [
        format!("{app}-order-customer-subscription-registration-topic"),
        format!("{app}-order-customer-subscription-response-topic"),
    ];
    let changelog = format!("{app}-order-customer-subscription-store-changelog");
    let topics = [
        "orders",
        "customers",
        "order_customer",
        "order.customer.dlq",
        "out",
        "dlq",
    ];
    for topic in topics
        .iter()
        .copied()
        .chain(internal.iter().map(String::as_str))
        .chain([changelog.as_str()])
    {
        broker.create_topic(topic, partitions).unwrap();
    }
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    let producer: ThreadedProducer<DefaultProducerContext> = kafka.producer().create().unwrap();
    for (topic, key, value, timestamp) in &work.rows {
        let mut record = BaseRecord::<String, String>::to(topic)
            .partition(partition_for(key.as_bytes(), partitions))
            .key(key)
            .timestamp(*timestamp);
        if let Some(value) = value {
            record = record.payload(value);
        }
        let mut record = Some(record);
        while let Some(next) = record.take() {
            if let Err((_, back)) = producer.send(next) {
                producer.poll(Duration::from_millis(5));
                record = Some(back);
            }
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let probe: BaseConsumer = kafka.reader().create().unwrap();
    let produced = high_watermarks(&probe, "orders", partitions) + high_watermarks(&probe, "customers", partitions);
    assert_eq!(produced, work.rows.len() as i64, "records produced");

    let dir = tempfile::tempdir().unwrap();
    let manifest = match mode {
        "join" => rill_tests::install_plugin(dir.path(), "order-customer-join"),
        _ => {
            std::fs::copy(rill_tests::component("fixture-misbehave"), dir.path().join("pass.wasm")).unwrap();
            let path = dir.path().join("pass.toml");
            std::fs::write(
                &path,
                "manifest-version = 1\nname = \"pass\"\nversion = \"0.1.0\"\ncomponent = \"pass.wasm\"\n\
                 dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"orders\"\n[[inputs]]\ntopic = \"customers\"\n\
                 [outputs]\nout = \"out\"\n[config]\npoison = \"error\"\n",
            )
            .unwrap();
            path
        }
    };
    let state = dir.path().join("state");
    let started = Instant::now();
    let mut child = rill_tests::rill()
        .arg("run")
        .arg(&manifest)
        .args(["--brokers", &kafka.brokers, "--application-id", &app, "--threads", "2"])
        .args(["--log-level", "warn", "--state-dir"])
        .arg(&state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", &app)
        .create()
        .unwrap();
    let read: Vec<&str> = if mode == "join" {
        vec!["orders", "customers", &internal[0], &internal[1]]
    } else {
        vec!["orders", "customers"]
    };
    let mut tpl = TopicPartitionList::new();
    for topic in &read {
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
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
        // Internal records are written as the join runs: done when the
        // commits cover the inputs and everything the join sent itself.
        let written: i64 = read[2..].iter().map(|t| high_watermarks(&probe, t, partitions)).sum();
        if committed >= produced + written {
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
    let text = |v: Vec<u8>| String::from_utf8(v).unwrap();
    if mode == "join" {
        let mut records = rill_tests::read_all(&kafka.brokers, "order_customer");
        records.sort_by_key(|r| (r.partition, r.offset));
        Measured {
            seconds,
            cpu,
            rss,
            outputs: records
                .into_iter()
                .map(|r| (text(r.key.unwrap_or_default()), r.value.map(text)))
                .collect(),
            dead_letters: high_watermarks(&probe, "order.customer.dlq", partitions),
            internal: internal.iter().map(|t| high_watermarks(&probe, t, partitions)).sum(),
            changelog: high_watermarks(&probe, &changelog, partitions),
            state_bytes: dir_size(&state),
        }
    } else {
        Measured {
            seconds,
            cpu,
            rss,
            outputs: vec![Default::default(); high_watermarks(&probe, "out", partitions) as usize],
            dead_letters: high_watermarks(&probe, "dlq", partitions),
            internal: 0,
            changelog: 0,
            state_bytes: dir_size(&state),
        }
    }
}

/// KIP-213's guarantees on the outputs: every value joins some version of
/// its order with some version of a customer that order named, and each
/// order's last result is the join of the final values (no result, or a
/// tombstone, when there is none). Returns (results, tombstones).
fn check(work: &Workload, outputs: &[(String, Option<String>)]) -> (usize, usize) {
    let mut possible: HashMap<&str, HashSet<String>> = HashMap::new();
    for (order, versions) in &work.orders {
        let set = possible.entry(order).or_default();
        for (item, customer) in versions {
            for name in work.names.get(customer).into_iter().flatten() {
                set.insert(format!("{item}|{name}"));
            }
        }
    }
    let mut last: HashMap<&str, Option<&str>> = HashMap::new();
    let mut tombstones = 0;
    for (key, value) in outputs {
        match value {
            Some(v) => assert!(
                possible.get(key.as_str()).is_some_and(|p| p.contains(v)),
                "{key}: {v} joins no version of the order with a customer it named"
            ),
            None => tombstones += 1,
        }
        last.insert(key, value.as_deref());
    }
    let mut wrong = Vec::new();
    for (order, want) in &work.last {
        let got = last.get(order.as_str()).copied().flatten();
        if got != want.as_deref() {
            wrong.push((order, want, got));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} orders end wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    (outputs.len() - tombstones, tombstones)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_usize("RILL_BENCH_RECORDS", 100_000);
    let customers = env_usize("RILL_BENCH_CUSTOMERS", 10_000);
    let partitions = env_usize("RILL_BENCH_PARTITIONS", 12) as i32;
    let work = workload(n, customers);
    let records = work.rows.len();
    println!(
        "{n} orders, {customers} customers, {records} records in all with updates and deletes, {partitions} \
         partitions"
    );
    let stateless = measure("stateless", &work, partitions);
    let join = measure("join", &work, partitions);
    for (name, m) in [("stateless pass-through", &stateless), ("foreign-key join", &join)] {
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
        "join/stateless records/s: {:.2}; internal records {} ({:.2} per input record), changelog records {} \
         ({:.2} per input record)",
        stateless.seconds / join.seconds,
        join.internal,
        join.internal as f64 / records as f64,
        join.changelog,
        join.changelog as f64 / records as f64
    );
    assert_eq!(stateless.outputs.len(), records, "pass-through outputs");
    assert_eq!(join.dead_letters, 0, "join dead letters");
    let (results, tombstones) = check(&work, &join.outputs);
    println!(
        "outputs: {results} results and {tombstones} tombstones; every order ends with its final value joined \
         with its final customer's, and every result joins versions that existed"
    );
}
