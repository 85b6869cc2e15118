//! Property test: for random interleavings of address updates, deletes and
//! orders, delivered by "the broker" in random chunks per partition (one
//! partition may arrive far ahead of the other, as in a backfill), the real
//! order-join component running in a real task (RocksDB table store, the
//! task's partition group ordering by timestamp) produces exactly what a
//! simple in-memory model of KStream-KTable join semantics produces.

use proptest::prelude::*;
use rill_host::kafka::memory_sink::MemorySink;
use rill_host::manifest::Manifest;
use rill_host::plugin::{InputRecord, Plugin, new_engine};
use rill_host::state::store::TaskStore;
use rill_host::task::TaskId;
use rill_host::task::partition_group::{Lag, PartitionGroup};
use rill_host::task::progress::TaskProgress;
use rill_host::task::spec::ProcessorSpec;
use rill_host::task::stream_task::StreamTask;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
enum Event {
    /// An address record: `None` is a tombstone (the key is deleted).
    Address(u8, Option<u8>),
    /// An order for a name.
    Order(u8, u8),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0..4u8, proptest::option::weighted(0.8, 0..3u8)).prop_map(|(n, c)| Event::Address(n, c)),
        (0..4u8, 0..3u8).prop_map(|(n, i)| Event::Order(n, i)),
    ]
}

fn name(n: u8) -> Vec<u8> {
    format!("name-{n}").into_bytes()
}

/// The order-join plugin, compiled once per join mode.
fn plugin(left_join: bool) -> Arc<Plugin> {
    static PLUGINS: OnceLock<[Arc<Plugin>; 2]> = OnceLock::new();
    let plugins = PLUGINS.get_or_init(|| {
        let engine = new_engine().unwrap();
        [false, true].map(|left| {
            let path = rill_tests::workspace().join("plugins/order-join/plugin.toml");
            let mut manifest = Manifest::load(&path).unwrap();
            manifest.component = rill_tests::component("order-join");
            manifest.config["left-join"] = serde_json::Value::Bool(left);
            Arc::new(Plugin::load(&engine, Arc::new(manifest), None).unwrap())
        })
    });
    plugins[usize::from(left_join)].clone()
}

/// What Kafka Streams' stream-table join emits, in order.
fn model(events: &[Event], left_join: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut table: HashMap<u8, u8> = HashMap::new();
    let mut out = Vec::new();
    for event in events {
        match event {
            Event::Address(n, Some(c)) => {
                table.insert(*n, *c);
            }
            Event::Address(n, None) => {
                table.remove(n);
            }
            Event::Order(n, i) => {
                let address = table.get(n).map(|c| format!("city-{c}"));
                if let Some(address) = address.or(left_join.then(|| "null".to_string())) {
                    out.push((name(*n), format!("item-{i} send to {address}").into_bytes()));
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn joins_match_the_model(
        events in prop::collection::vec(event(), 1..60),
        left_join: bool,
        chunks in prop::collection::vec((0..6usize, 0..6usize), 0..20),
        batch_size in 1..8usize,
    ) {
        // Each input topic's partition holds its records in event order;
        // the event index is the timestamp.
        let mut parts: HashMap<&str, Vec<InputRecord>> = HashMap::from([("address", Vec::new()), ("order", Vec::new())]);
        for (i, event) in events.iter().enumerate() {
            let (topic, key, value) = match event {
                Event::Address(n, c) => ("address", name(*n), c.map(|c| format!("city-{c}").into_bytes())),
                Event::Order(n, item) => ("order", name(*n), Some(format!("item-{item}").into_bytes())),
            };
            let list = parts.get_mut(topic).unwrap();
            list.push(InputRecord {
                topic: topic.into(),
                partition: 0,
                offset: list.len() as i64,
                timestamp: i as i64,
                key: Some(key.into()),
                value: value.map(Into::into),
                headers: Vec::new(),
            });
        }

        let plugin = plugin(left_join);
        let spec = Arc::new(ProcessorSpec::new(&plugin.manifest, plugin.clone(), None));
        let sink = Arc::new(MemorySink::default());
        let dir = tempfile::tempdir().unwrap();
        let store = TaskStore::open(dir.path(), &[], &spec.table_topics, None).unwrap();
        let id = TaskId { processor: spec.name.clone(), partition: 0 };
        let mut task = StreamTask::with_store(id, spec, sink.clone(), Arc::new(TaskProgress::default()), store, dir.path().into()).unwrap();

        // Each poll turn delivers a random number of the next records of
        // each partition; the task then processes what its partition group
        // releases, knowing how much each partition still has on the broker.
        let mut group = PartitionGroup::new([("address".into(), 0), ("order".into(), 0)], Duration::ZERO);
        let mut delivered: HashMap<&str, usize> = HashMap::from([("address", 0), ("order", 0)]);
        let mut turns = chunks;
        turns.push((usize::MAX, usize::MAX));
        for (addresses, orders) in turns {
            for (topic, n) in [("address", addresses), ("order", orders)] {
                let from = delivered[topic];
                let to = from.saturating_add(n).min(parts[topic].len());
                group.add(topic, 0, parts[topic][from..to].iter().cloned());
                delivered.insert(topic, to);
            }
            loop {
                let lag = |topic: &str, _| Lag::Known((parts[topic].len() - delivered[topic]) as i64);
                let batch = group.take_ready(batch_size, Instant::now(), lag);
                if batch.is_empty() {
                    break;
                }
                task.process_batch(batch).unwrap();
            }
        }
        prop_assert_eq!(group.total_buffered(), 0);

        let got: Vec<(Vec<u8>, Vec<u8>)> = sink
            .records()
            .into_iter()
            .filter(|r| r.topic == "order_join")
            .map(|r| (r.key.unwrap(), r.value.unwrap()))
            .collect();
        prop_assert_eq!(got, model(&events, left_join));
    }
}
