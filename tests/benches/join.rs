//! `cargo bench -p rill-tests --bench join`: the order-join workload on the
//! embedded broker. Loads A addresses and O orders (12 partitions), runs the
//! Wasm join until drained, then restarts with the state dir deleted so the
//! tables are restored from the address topic. Prints join records/s,
//! restore records/s and the state size on disk.
//!
//! Environment: RILL_BENCH_ADDRESSES (default 100000), RILL_BENCH_ORDERS
//! (default 1000000).

use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::kafka::{KafkaSettings, produce_all};
use rill_host::manifest::Manifest;
use rill_host::plugin::{Plugin, new_engine};
use rill_host::runtime::{self, ProcessorDef, RunOptions, RunReport};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const PARTITIONS: i32 = 12;

fn size_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => size_on_disk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn run(kafka: &KafkaSettings, plugin: &Arc<Plugin>, state_dir: &Path) -> RunReport {
    let options = RunOptions {
        application_id: "bench-join".into(),
        kafka: kafka.clone(),
        threads: 2,
        batch_size: 500,
        buffered_records_per_partition: 1_000,
        commit_interval: Duration::from_secs(1),
        max_task_idle: Duration::ZERO,
        stop_when_idle: Some(Duration::from_millis(500)),
        state_dir: state_dir.to_path_buf(),
        hot_swap: None,
        lag_window: rill_host::observe::lag::DEFAULT_WINDOW,
        on_fatal: Default::default(),
        guarantee: Default::default(),
        group: Default::default(),
    };
    let processors = vec![ProcessorDef {
        manifest: plugin.manifest.clone(),
        factory: plugin.clone(),
        interceptors: Vec::new(),
    }];
    runtime::run(&options, processors, &Arc::new(AtomicBool::new(false))).unwrap()
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (addresses, orders) = (
        env("RILL_BENCH_ADDRESSES", 100_000),
        env("RILL_BENCH_ORDERS", 1_000_000),
    );

    let broker = EmbeddedBroker::start(1).unwrap();
    for topic in ["order", "address", "order_join", "order.dlq"] {
        broker.create_topic(topic, PARTITIONS).unwrap();
    }
    let mut kafka = KafkaSettings::new(broker.bootstrap_servers());
    // The dev broker holds a rejoin for the session timeout (docs/dev-broker.md).
    kafka
        .overrides
        .push(("consumer.session.timeout.ms".into(), "6000".into()));
    let names: Vec<Vec<u8>> = (0..addresses).map(|i| format!("user-{i}").into_bytes()).collect();
    let cities: Vec<Vec<u8>> = (0..addresses)
        .map(|i| format!("{i} Main Street, Springfield").into_bytes())
        .collect();
    produce_all(
        &kafka,
        "address",
        names
            .iter()
            .zip(&cities)
            .map(|(n, c)| (Some(n.as_slice()), c.as_slice())),
    )
    .unwrap();
    let items: Vec<(usize, Vec<u8>)> = (0..orders)
        .map(|i| ((i * 7919) % addresses, format!("item-{i}").into_bytes()))
        .collect();
    produce_all(
        &kafka,
        "order",
        items
            .iter()
            .map(|(n, item)| (Some(names[*n].as_slice()), item.as_slice())),
    )
    .unwrap();
    println!("order-join: {addresses} addresses, {orders} orders, {PARTITIONS} partitions, 2 worker threads");

    let mut manifest = Manifest::load(&rill_tests::workspace().join("plugins/order-join/plugin.toml")).unwrap();
    manifest.component = rill_tests::component("order-join");
    let plugin = Arc::new(Plugin::load(&new_engine().unwrap(), Arc::new(manifest), None).unwrap());
    let state = tempfile::tempdir().unwrap();

    let first = run(&kafka, &plugin, state.path());
    let p = &first.processors[0];
    println!(
        "join: {orders} orders (+{} address records read as input, in timestamp order) in {:.2}s = {:.0} orders/s, {} joined out, plugin {:.2} us/order",
        p.counts.records_in - orders as u64,
        first.active.as_secs_f64(),
        orders as f64 / first.active.as_secs_f64(),
        p.counts.records_out,
        p.plugin_nanos as f64 / 1e3 / orders.max(1) as f64
    );
    println!(
        "restore (first start: nothing committed, so the table topic is input): {} records in {:.2}s = {:.0} records/s",
        p.restored,
        p.restore_nanos as f64 / 1e9,
        p.restored as f64 / (p.restore_nanos as f64 / 1e9).max(1e-9)
    );
    println!(
        "state on disk: {:.1} MiB",
        size_on_disk(state.path()) as f64 / 1048576.0
    );

    std::fs::remove_dir_all(state.path().join("bench-join")).unwrap();
    let second = run(&kafka, &plugin, state.path());
    let p = &second.processors[0];
    println!(
        "restore (state dir deleted: the address topic up to the committed offsets): {} records in {:.2}s = {:.0} records/s",
        p.restored,
        p.restore_nanos as f64 / 1e9,
        p.restored as f64 / (p.restore_nanos as f64 / 1e9).max(1e-9)
    );
}
