//! The benchmark's baseline: the seed notes' metricbeat topology written the
//! way a user would without rill, as one native program with one rdkafka
//! consume loop (Kafka Streams' shape: one pass per record, in memory).
//!
//! Per record of `metric.all`: one JSON parse; `metricset.name` routes it to
//! `metric.cpu` or `metric.memory` unchanged; a cpu record above 0.5
//! `system.cpu.total.norm.pct` becomes an alert (its `host` object plus
//! `timestamp`) on `metric.cpu.alert`; a record that is not JSON goes to
//! `metric.all.dlq` and a cpu record without those fields to
//! `metric.cpu.dlq`. Offsets are committed every commit interval after the
//! producer has every output acknowledged (flush), so it is at-least-once
//! like rill (Kafka Streams' at-least-once commit: flush, then commit), and
//! at once when the input runs dry. Parsing is typed and borrows from the
//! record, as the sample plugins do. Same librdkafka settings as rill
//! (`KafkaSettings`), with the 16 MiB prefetch of `KafkaSettings::consumer`
//! (rill's member consumer takes 2 MiB: its tasks buffer records
//! themselves, a consume loop does not).
//!
//! Usage: native-metrics <bootstrap> <group> <commit-interval-ms>; runs until
//! killed (the benchmark watches the committed offsets).

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rill_host::kafka::KafkaSettings;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Metric<'a> {
    #[serde(borrow)]
    metricset: MetricSet<'a>,
    system: Option<System>,
    host: Option<Map<String, Value>>,
    #[serde(rename = "@timestamp")]
    timestamp: Option<Value>,
}

#[derive(Deserialize)]
struct MetricSet<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct System {
    cpu: Option<Cpu>,
}

#[derive(Deserialize)]
struct Cpu {
    total: Total,
}

#[derive(Deserialize)]
struct Total {
    norm: Norm,
}

#[derive(Deserialize)]
struct Norm {
    pct: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, group, interval] = args.as_slice() else {
        eprintln!("usage: native-metrics <bootstrap> <group> <commit-interval-ms>");
        std::process::exit(2);
    };
    let interval = Duration::from_millis(interval.parse().expect("commit interval in ms"));
    let kafka = KafkaSettings::new(bootstrap.as_str());
    let consumer: BaseConsumer = kafka.consumer(group).create().expect("consumer");
    let producer: ThreadedProducer<DefaultProducerContext> = kafka.producer().create().expect("producer");
    consumer.subscribe(&["metric.all"]).expect("subscribe");

    let mut last_commit = Instant::now();
    let mut uncommitted = false;
    loop {
        let polled = consumer.poll(Duration::from_millis(5));
        let idle = polled.is_none();
        if let Some(Ok(message)) = polled {
            let payload = message.payload().unwrap_or_default();
            let key = message.key();
            let timestamp = message.timestamp().to_millis();
            let send = |topic: &str, value: &[u8]| {
                let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
                if let Some(key) = key {
                    record = record.key(key);
                }
                if let Some(timestamp) = timestamp {
                    record = record.timestamp(timestamp);
                }
                // The queue is large; when it is full, let deliveries drain.
                while let Err((_, back)) = producer.send(record) {
                    std::thread::sleep(Duration::from_millis(1));
                    record = back;
                }
            };
            match serde_json::from_slice::<Metric>(payload) {
                Err(_) => send("metric.all.dlq", payload),
                Ok(metric) => match metric.metricset.name.as_ref() {
                    "cpu" => {
                        send("metric.cpu", payload);
                        let pct = metric.system.and_then(|s| s.cpu).map(|c| c.total.norm.pct);
                        match (pct, metric.host, metric.timestamp) {
                            (Some(pct), Some(mut alert), Some(at)) => {
                                if pct > 0.5 {
                                    alert.insert("timestamp".into(), at);
                                    send("metric.cpu.alert", &serde_json::to_vec(&alert).expect("json"));
                                }
                            }
                            _ => send("metric.cpu.dlq", payload),
                        }
                    }
                    "memory" => send("metric.memory", payload),
                    _ => {}
                },
            }
            consumer.store_offset_from_message(&message).expect("store offset");
            uncommitted = true;
        }
        if uncommitted && (idle || last_commit.elapsed() >= interval) {
            producer.flush(Duration::from_secs(60)).expect("flush");
            consumer.commit_consumer_state(CommitMode::Sync).expect("commit");
            uncommitted = false;
            last_commit = Instant::now();
        }
    }
}
