//! `rill lag`: a consumer group's lag and Burrow's verdict, from outside
//! (committed offsets against end offsets), for any group and whether rill
//! runs or not, like `kafka-consumer-groups.sh --describe` with a status.
//!
//! One sample judges only "caught up or not"; `--watch 5s` samples again
//! and again and judges each partition on its last `--window` samples with
//! the same rules rill's own `/lag` uses (see `observe::lag`). From outside
//! a commit of an unchanged offset cannot be seen, so a consumer that
//! stopped with lag shows as STALL here (offsets not moving).

use crate::kafka::KafkaSettings;
use crate::kafka::group::{GroupOffset, sample};
use crate::observe::lag::{self, LagMonitor, PartitionLag};
use crate::observe::now_ms;
use clap::Args;
use std::time::Duration;

/// Arguments of `rill lag`.
#[derive(Debug, Args)]
pub struct LagArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = "RILL_BROKERS")]
    brokers: String,
    /// The consumer group: rill's application id, or any other group.
    #[arg(long, alias = "group")]
    application_id: String,
    /// Only these topics (repeatable); every topic the group committed on
    /// by default.
    #[arg(long = "topic")]
    topics: Vec<String>,
    /// Sample again every this long, printing each time, and judge the
    /// status on the samples (e.g. 5s).
    #[arg(long, value_parser = humantime::parse_duration)]
    watch: Option<Duration>,
    /// With --watch: stop after this many samples (default: until Ctrl-C).
    #[arg(long)]
    count: Option<usize>,
    /// Samples a status is judged on (Burrow's window).
    #[arg(long, default_value_t = lag::DEFAULT_WINDOW)]
    window: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// librdkafka property, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

/// How `rill lag` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// Columns, like kafka-consumer-groups.sh --describe.
    Table,
    /// One JSON object per sample (the shape of rill's `/lag`).
    Json,
}

/// Runs `rill lag`.
pub fn run(args: LagArgs) -> anyhow::Result<()> {
    let kafka = KafkaSettings {
        brokers: args.brokers.clone(),
        overrides: args.property.clone(),
    };
    let mut monitor = LagMonitor::new(args.window);
    let (shutdown, _signals) = super::shutdown_flag()?;
    let mut taken = 0;
    loop {
        let offsets = sample(&kafka, &args.application_id, &args.topics)?;
        let now = now_ms();
        feed(&mut monitor, &offsets, now);
        let partitions = monitor.snapshot(now);
        taken += 1;
        print(&args, &partitions, taken);
        let Some(every) = args.watch else { break };
        if args.count.is_some_and(|n| taken >= n) {
            break;
        }
        let until = std::time::Instant::now() + every;
        while std::time::Instant::now() < until {
            if shutdown.load(std::sync::atomic::Ordering::Acquire) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// One sample into the monitor: each partition's committed offset as a
/// commit, with how far behind in time it is.
fn feed(monitor: &mut LagMonitor, offsets: &[GroupOffset], now: i64) {
    for o in offsets {
        monitor.commit(&o.topic, o.partition, o.committed, o.end, now);
        let seconds = o.oldest_unconsumed_ms.map(|ts| ((now - ts) as f64 / 1000.0).max(0.0));
        monitor.observe(&o.topic, o.partition, Some(o.end), seconds);
    }
}

fn print(args: &LagArgs, partitions: &[PartitionLag], samples: usize) {
    let status = lag::group_status(partitions);
    match args.format {
        Format::Json => {
            let json = serde_json::json!({
                "consumergroup": args.application_id,
                "status": status,
                "samples": samples,
                "partitions": partitions,
            });
            println!("{json}");
        }
        Format::Table => {
            println!(
                "{:<24} {:<24} {:>9} {:>15} {:>15} {:>10} {:>12}  STATUS",
                "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "LAG-SECONDS"
            );
            for p in partitions {
                let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
                println!(
                    "{:<24} {:<24} {:>9} {:>15} {:>15} {:>10} {:>12}  {}",
                    args.application_id,
                    p.topic,
                    p.partition,
                    show(p.committed_offset),
                    show(p.end_offset),
                    show(p.lag),
                    p.lag_seconds.map_or("-".to_string(), |s| format!("{s:.1}")),
                    p.status
                );
            }
            let judged = if partitions.iter().all(|p| p.complete) {
                format!("judged on the last {} sample(s)", samples.min(args.window))
            } else {
                "one sample: only 'caught up' can be told; use --watch 5s to judge".to_string()
            };
            println!("group {}: {status} ({judged})", args.application_id);
        }
    }
}
