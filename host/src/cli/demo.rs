//! `rill demo`: the seed notes' metricbeat pipeline end to end on an
//! embedded broker. Produces the seed records plus generated ones to
//! `metric.all`, runs `apps/metrics.toml` (metric-branch feeding cpu-alert
//! in memory) until the inputs are drained, then prints per-topic counts
//! (next to what the data implies) and a few alerts.

pub mod metricbeat;

use crate::app::App;
use crate::kafka::KafkaSettings;
use crate::kafka::embedded::EmbeddedBroker;
use crate::plugin::{Plugin, new_engine};
use crate::runtime::{self, ProcessorDef, RunOptions};
use anyhow::Context as _;
use clap::Args;
use metricbeat::{Expect, Generator, SEED_CPU, SEED_MEMORY, TOPICS};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Arguments of `rill demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Generated records on top of the two seed records.
    #[arg(long, default_value_t = 20_000)]
    records: usize,
    /// The application file to run (its plugins built by
    /// scripts/build-plugins.sh).
    #[arg(long, default_value = "apps/metrics.toml")]
    app: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// librdkafka property for every client, e.g. -X linger.ms=5.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

const PARTITIONS: i32 = 3;

/// Runs `rill demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let engine = new_engine()?;
    let app = App::load(&args.app)?;
    let mut processors = Vec::new();
    let interceptors = crate::intercept::load_for_app(&engine, None, &app)?;
    for (manifest, interceptors) in app.processors.iter().zip(interceptors) {
        let plugin = Plugin::load(&engine, manifest.clone(), None)
            .with_context(|| format!("build the plugins first: scripts/build-plugins.sh ({})", manifest.name))?;
        processors.push(ProcessorDef {
            manifest: manifest.clone(),
            factory: Arc::new(plugin),
            interceptors,
        });
    }

    let broker = EmbeddedBroker::start(3)?;
    let topics = TOPICS;
    for topic in topics {
        broker.create_topic(topic, PARTITIONS)?;
    }
    println!("embedded broker: {}", broker.bootstrap_servers());
    let kafka = KafkaSettings {
        brokers: broker.bootstrap_servers().to_string(),
        overrides: args.property,
    };

    let mut values = vec![SEED_CPU.as_bytes().to_vec(), SEED_MEMORY.as_bytes().to_vec()];
    let (mut cpu, mut memory, mut alerts, mut malformed, mut no_host) = (1u64, 1u64, 0u64, 0u64, 0u64);
    let mut generator = Generator::new(2025);
    for _ in 0..args.records {
        let sample = generator.sample();
        match sample.expect {
            Expect::Cpu { pct, .. } => {
                cpu += 1;
                alerts += u64::from(pct > 0.5);
            }
            Expect::CpuWithoutHost => {
                cpu += 1;
                no_host += 1;
            }
            Expect::Memory => memory += 1,
            Expect::Other => {}
            Expect::Malformed => malformed += 1,
        }
        values.push(sample.value);
    }
    crate::kafka::produce_all(&kafka, "metric.all", values.iter().map(|v| (None, v.as_slice())))?;
    println!("produced {} metricbeat records to metric.all", values.len());

    let options = RunOptions {
        application_id: "rill-demo".into(),
        kafka: kafka.clone(),
        threads: args.threads,
        batch_size: 500,
        buffered_records_per_partition: 1_000,
        commit_interval: Duration::from_secs(1),
        max_task_idle: Duration::ZERO,
        stop_when_idle: Some(Duration::from_secs(2)),
        state_dir: std::env::temp_dir().join("rill-demo-state"),
        hot_swap: None,
        lag_window: crate::observe::lag::DEFAULT_WINDOW,
        on_fatal: Default::default(),
        guarantee: Default::default(),
        group: Default::default(),
    };
    let report = runtime::run_connected(
        &options,
        processors,
        &app.connections,
        &Arc::new(AtomicBool::new(false)),
    )?;

    println!("\n{:<18} {:>8} {:>9}", "topic", "records", "expected");
    let expected = [values.len() as u64, cpu, memory, alerts, malformed, no_host];
    for (topic, want) in topics.iter().zip(expected) {
        println!("{topic:<18} {:>8} {want:>9}", count(&kafka, topic)?);
    }
    for p in &report.processors {
        println!(
            "{}: {} in, {} out, {} dropped, {} dead-lettered",
            p.name, p.counts.records_in, p.counts.records_out, p.counts.dropped, p.counts.dead_lettered
        );
    }
    let processed: u64 = report.processors.iter().map(|p| p.counts.records_in).sum();
    println!(
        "pipeline busy {:.2}s for {processed} records ({:.0} records/s through both processors)",
        report.active.as_secs_f64(),
        processed as f64 / report.active.as_secs_f64().max(1e-3)
    );
    println!("\nfirst alerts in metric.cpu.alert:");
    for alert in first(&kafka, "metric.cpu.alert", 3)? {
        println!("  {alert}");
    }
    Ok(())
}

fn count(kafka: &KafkaSettings, topic: &str) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &kafka.brokers).create()?;
    let mut total = 0;
    for partition in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        total += (high - low) as u64;
    }
    Ok(total)
}

fn first(kafka: &KafkaSettings, topic: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", "rill-demo-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        tpl.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while out.len() < n && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            out.push(String::from_utf8_lossy(message?.payload().unwrap_or_default()).into_owned());
        }
    }
    Ok(out)
}
