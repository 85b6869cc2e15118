//! `cargo bench -p rill-tests`: the metrics pipeline over N records through
//! the embedded broker, once with the Wasm plugins and once with the same
//! plugin crates compiled natively behind the same `ProcessorFactory` seam
//! (same broker, data, batch size and client settings; no Wasm). Prints
//! records/s for each, their ratio, and where the time went.
//!
//! Environment: RILL_BENCH_RECORDS (default 100000), RILL_BENCH_BATCH (500).

use rill_host::kafka::KafkaSettings;
use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::manifest::Manifest;
use rill_host::metricbeat::Generator;
use rill_host::plugin::{
    InputRecord, OutputRecord, Plugin, PluginError, ProcessorFactory, RecordProcessor, RecordResult, new_engine,
};
use rill_host::runtime::{self, ProcessorDef, ProcessorSummary, RunOptions};
use rill_sdk::testing::TestDriver;
use rill_sdk::{Processor, Record};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const PARTITIONS: i32 = 12;
const IDLE: Duration = Duration::from_millis(500);

/// A plugin crate run natively, converting records exactly as the SDK's
/// component glue does.
struct Native<P> {
    config: String,
    _p: PhantomData<fn() -> P>,
}

struct NativeInstance<P: Processor>(TestDriver<P>);

impl<P: Processor + Send> ProcessorFactory for Native<P> {
    fn version(&self) -> String {
        "native".into()
    }
    fn instantiate(
        &self,
        _tag: &str,
        _state: Option<rill_host::plugin::SharedTaskStore>,
    ) -> Result<Box<dyn RecordProcessor>, PluginError> {
        let driver = TestDriver::<P>::new(&self.config).expect("native init");
        Ok(Box::new(NativeInstance(driver)))
    }
}

impl<P: Processor + Send> RecordProcessor for NativeInstance<P> {
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
        Ok(batch
            .iter()
            .map(|r| {
                let record = Record {
                    topic: r.topic.clone(),
                    partition: r.partition,
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: Vec::new(),
                };
                self.0
                    .process(record)
                    .map(|outs| {
                        outs.into_iter()
                            .map(|o| OutputRecord {
                                output: o.output,
                                key: o.key,
                                value: o.value,
                                headers: Vec::new(),
                                timestamp: o.timestamp,
                            })
                            .collect()
                    })
                    .map_err(|e| e.to_string())
            })
            .collect())
    }
}

fn manifest(name: &str) -> Arc<Manifest> {
    let path = rill_tests::workspace().join("plugins").join(name).join("plugin.toml");
    let mut manifest = Manifest::load(&path).expect("manifest");
    manifest.component = rill_tests::component(name);
    Arc::new(manifest)
}

fn run(mode: &str, records: &[Vec<u8>], batch: usize) -> (f64, Vec<ProcessorSummary>) {
    let broker = EmbeddedBroker::start(1).unwrap();
    for topic in rill_host::metricbeat::TOPICS {
        broker.create_topic(topic, PARTITIONS).unwrap();
    }
    let kafka = KafkaSettings::new(broker.bootstrap_servers());
    let inputs: Vec<(Option<Vec<u8>>, Vec<u8>)> = records.iter().map(|v| (None, v.clone())).collect();
    rill_tests::produce(&kafka.brokers, "metric.all", &inputs);

    let (branch, alert) = (manifest("metric-branch"), manifest("cpu-alert"));
    let factories: [Arc<dyn ProcessorFactory>; 2] = if mode == "wasm" {
        let engine = new_engine().unwrap();
        [
            Arc::new(Plugin::load(&engine, branch.clone(), None).unwrap()),
            Arc::new(Plugin::load(&engine, alert.clone(), None).unwrap()),
        ]
    } else {
        [
            Arc::new(Native::<metric_branch::MetricBranch> {
                config: branch.config.to_string(),
                _p: PhantomData,
            }),
            Arc::new(Native::<cpu_alert::CpuAlert> {
                config: alert.config.to_string(),
                _p: PhantomData,
            }),
        ]
    };
    let processors = vec![
        ProcessorDef {
            manifest: branch,
            factory: factories[0].clone(),
        },
        ProcessorDef {
            manifest: alert,
            factory: factories[1].clone(),
        },
    ];
    let options = RunOptions {
        application_id: format!("bench-{mode}"),
        kafka,
        threads: 2,
        batch_size: batch,
        commit_interval: Duration::from_secs(1),
        max_task_idle: Duration::ZERO,
        stop_when_idle: Some(IDLE),
        state_dir: std::env::temp_dir().join("rill-bench-state"),
        hot_swap: None,
    };
    let report = runtime::run(&options, processors, &Arc::new(AtomicBool::new(false))).unwrap();
    (report.active.as_secs_f64(), report.processors)
}

fn main() {
    // RILL_LOG=rill_host=debug shows the poll loop's per-second figures.
    let filter = std::env::var("RILL_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (n, batch, rounds) = (
        env("RILL_BENCH_RECORDS", 100_000),
        env("RILL_BENCH_BATCH", 500),
        env("RILL_BENCH_ROUNDS", 3),
    );
    let mut generator = Generator::new(1);
    let records: Vec<Vec<u8>> = (0..n).map(|_| generator.sample().value).collect();
    println!(
        "metrics pipeline: {n} metricbeat records, batch {batch}, {PARTITIONS} partitions, 2 worker threads, {rounds} rounds per mode"
    );

    // Alternate the modes so drift on a shared machine hits both alike.
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut per_record: [Vec<(String, f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (m, mode) in ["native", "wasm"].into_iter().enumerate() {
            let (seconds, summary) = run(mode, &records, batch);
            let processed: u64 = summary.iter().map(|s| s.records_in).sum();
            let rate = processed as f64 / seconds;
            println!(
                "round {round} {mode:>6}: {processed} records through both processors in {seconds:.2}s = {rate:.0} records/s"
            );
            rates[m].push(rate);
            per_record[m] = summary
                .iter()
                .map(|s| {
                    let n = s.records_in.max(1) as f64;
                    (
                        s.name.clone(),
                        s.plugin_nanos as f64 / n / 1e3,
                        s.produce_nanos as f64 / n / 1e3,
                    )
                })
                .collect();
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (native, wasm) = (median(&mut rates[0]), median(&mut rates[1]));
    println!(
        "\nend to end (fetch + plugin + produce), median records/s: native {native:.0}, wasm {wasm:.0}, wasm/native {:.2}",
        wasm / native
    );
    println!("per record, last round (us): plugin call native / wasm (ratio native/wasm), routing+produce wasm");
    for ((name, native_us, _), (_, wasm_us, produce_us)) in per_record[0].iter().zip(&per_record[1]) {
        println!(
            "  {name:<14} {native_us:.2} / {wasm_us:.2} ({:.2}), {produce_us:.2}",
            native_us / wasm_us
        );
    }
}
