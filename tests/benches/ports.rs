//! `cargo bench -p rill-tests --bench ports`: cpu-alert in Rust, Python,
//! JavaScript and C side by side: component size, cold and cached load,
//! instance creation, and records/s through the cpu-alert stage of the
//! metrics pipeline on the embedded broker (same records for each).
//!
//! Environment: RILL_BENCH_RECORDS (cpu records, default 20000);
//! RILL_BENCH_PORTS (comma-separated ports to run, default all four).

use rill_host::kafka::embedded::EmbeddedBroker;
use rill_host::kafka::{KafkaSettings, produce_all};
use rill_host::manifest::Manifest;
use rill_host::metricbeat::{Expect, Generator};
use rill_host::plugin::cache::CompileCache;
use rill_host::plugin::{Plugin, new_engine};
use rill_host::runtime::{self, ProcessorDef, RunOptions};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let n: usize = std::env::var("RILL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut generator = Generator::new(3);
    let mut records = Vec::with_capacity(n);
    while records.len() < n {
        let sample = generator.sample();
        if matches!(sample.expect, Expect::Cpu { .. }) {
            records.push(sample.value);
        }
    }
    println!("cpu-alert ports: {n} cpu records, batch 500, 6 partitions, 2 worker threads");
    println!(
        "{:<18} {:>9} {:>11} {:>10} {:>12} {:>11} {:>12}",
        "port", "size", "cold load", "cached", "instance", "records/s", "us/record"
    );
    let engine = new_engine().unwrap();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let only = std::env::var("RILL_BENCH_PORTS").ok();
    let ports = ["cpu-alert", "cpu-alert-python", "cpu-alert-js", "cpu-alert-c"];
    for port in ports
        .into_iter()
        .filter(|p| only.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == *p)))
    {
        let mut manifest =
            Manifest::load(&rill_tests::workspace().join("plugins").join(port).join("plugin.toml")).unwrap();
        manifest.component = rill_tests::component(port);
        let manifest = Arc::new(manifest);
        let size = std::fs::metadata(&manifest.component).unwrap().len();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(cache_dir.path().to_path_buf());
        let t = Instant::now();
        Plugin::load(&engine, manifest.clone(), Some(&cache)).unwrap();
        let cold = ms(t);
        let t = Instant::now();
        let plugin = Arc::new(Plugin::load(&engine, manifest.clone(), Some(&cache)).unwrap());
        let cached = ms(t);
        let t = Instant::now();
        for _ in 0..20 {
            std::hint::black_box(plugin.start("bench", None).unwrap());
        }
        let instance = ms(t) / 20.0;

        let broker = EmbeddedBroker::start(1).unwrap();
        for topic in ["metric.cpu", "metric.cpu.alert", "metric.cpu.dlq"] {
            broker.create_topic(topic, 6).unwrap();
        }
        let kafka = KafkaSettings::new(broker.bootstrap_servers());
        produce_all(&kafka, "metric.cpu", records.iter().map(|v| (None, v.as_slice()))).unwrap();
        let state = tempfile::tempdir().unwrap();
        let options = RunOptions {
            application_id: format!("bench-{port}"),
            kafka,
            threads: 2,
            batch_size: 500,
            buffered_records_per_partition: 1_000,
            commit_interval: Duration::from_secs(1),
            max_task_idle: Duration::ZERO,
            stop_when_idle: Some(Duration::from_millis(500)),
            state_dir: state.path().to_path_buf(),
            hot_swap: None,
            lag_window: rill_host::observe::lag::DEFAULT_WINDOW,
            on_fatal: Default::default(),
            guarantee: Default::default(),
            group: Default::default(),
        };
        let report = runtime::run(
            &options,
            vec![ProcessorDef {
                manifest,
                factory: plugin,
                interceptors: Vec::new(),
            }],
            &Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        let p = &report.processors[0];
        println!(
            "{port:<18} {:>7.1}MB {:>9.0}ms {:>8.2}ms {:>10.3}ms {:>11.0} {:>12.2}",
            size as f64 / 1e6,
            cold,
            cached,
            instance,
            p.counts.records_in as f64 / report.active.as_secs_f64(),
            p.plugin_nanos as f64 / 1e3 / p.counts.records_in.max(1) as f64
        );
        println!(
            "{:<18} load average {}, mean batch {:.1} records",
            "",
            load_average(),
            p.counts.records_in as f64 / p.calls.max(1) as f64
        );
    }
}

/// The 1-minute load average (Linux), printed with each figure: this bench
/// shares its machine, and a figure means little without it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}
