//! `rill dev-broker`: librdkafka's mock cluster as a standalone broker for
//! development and tests. Prints `bootstrap.servers=...` as its first line
//! on stdout and serves until SIGINT/SIGTERM. See docs/dev-broker.md for
//! what it does not do (CreateTopics, compaction, long retention).

use crate::kafka::embedded::EmbeddedBroker;
use clap::Args;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Arguments of `rill dev-broker`.
#[derive(Debug, Args)]
pub struct DevBrokerArgs {
    /// Number of brokers in the cluster.
    #[arg(long, default_value_t = 3)]
    brokers: i32,
    /// Topic to create, as NAME:PARTITIONS (repeatable). The broker cannot
    /// create topics on request; unknown topics are auto-created with 4
    /// partitions when a client asks for their metadata.
    #[arg(long = "topic", value_parser = super::parse_topic)]
    topics: Vec<(String, i32)>,
}

/// Runs `rill dev-broker`.
pub fn run(args: DevBrokerArgs) -> anyhow::Result<()> {
    let broker = EmbeddedBroker::start(args.brokers)?;
    for (topic, partitions) in &args.topics {
        broker.create_topic(topic, *partitions)?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "bootstrap.servers={}", broker.bootstrap_servers())?;
    stdout.flush()?;
    drop(stdout);
    tracing::info!("dev broker serving {} broker(s); stop with Ctrl-C", args.brokers);
    let (shutdown, _signals) = super::shutdown_flag()?;
    while !shutdown.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
