//! The benchmark's ceiling: the fastest native program that moves the seed
//! pipeline's bytes, written the way a user would for a plain copy. One
//! rdkafka consume loop copies every record of `metric.all` unchanged (same
//! key, value and timestamp) to `metric.cpu`: no parse, no routing, so what
//! is left is the Kafka client's own cost of consuming and producing the
//! same bytes. Issue 23 asks for rill's ratio to this too, next to
//! `native-metrics` (what a user writes for the real topology).
//!
//! Same librdkafka settings (`KafkaSettings`) and the same at-least-once
//! commit as `native-metrics`: offsets are committed every commit interval
//! after the producer has every output acknowledged (flush), and at once
//! when the input runs dry.
//!
//! Usage: native-passthrough <bootstrap> <group> <commit-interval-ms>; runs
//! until killed (the benchmark watches the committed offsets).

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rill_host::kafka::KafkaSettings;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bootstrap, group, interval] = args.as_slice() else {
        eprintln!("usage: native-passthrough <bootstrap> <group> <commit-interval-ms>");
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
            let mut record = BaseRecord::<[u8], [u8]>::to("metric.cpu").payload(message.payload().unwrap_or_default());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(timestamp) = message.timestamp().to_millis() {
                record = record.timestamp(timestamp);
            }
            // The queue is large; when it is full, let deliveries drain.
            while let Err((_, back)) = producer.send(record) {
                std::thread::sleep(Duration::from_millis(1));
                record = back;
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
