//! The `rill` command line: one file per subcommand.

mod build;
mod consume;
pub(crate) mod demo;
mod describe;
mod dev_broker;
mod json_bytes;
mod lag;
mod new;
#[cfg(test)]
mod new_tests;
mod produce;
mod redrive;
#[cfg(test)]
mod produce_consume_tests;
mod query;
mod run;
mod test;
mod upgrade_check;
mod validate;

use clap::{Parser, Subcommand};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// rill: Kafka stream processing with WebAssembly processors.
#[derive(Debug, Parser)]
#[command(name = "rill", version, about)]
pub struct Cli {
    /// Log level (error, warn, info, debug, trace) or a tracing filter.
    #[arg(long, global = true, default_value = "info", env = "RILL_LOG")]
    log_level: String,
    /// Log line format: `text` (colours only on a terminal) or `json` (one
    /// object per line, for log shippers).
    #[arg(long, global = true, default_value = "text", env = "RILL_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines; ANSI colours only when stderr is a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run processors from their plugin manifests.
    Run(run::RunArgs),
    /// Serve an in-process Kafka-protocol broker for development.
    DevBroker(dev_broker::DevBrokerArgs),
    /// Run the metrics demo on an embedded broker.
    Demo(demo::DemoArgs),
    /// Check manifests and their components without connecting to Kafka.
    Validate(validate::ValidateArgs),
    /// Show what `rill run` would run: sub-topologies, sources, processors,
    /// sinks, dead-letter topics, stores and changelogs.
    Describe(describe::DescribeArgs),
    /// Scaffold a new processor project (Rust, Python or JavaScript).
    New(new::NewArgs),
    /// Build a processor project into the component its manifest names.
    Build(build::BuildArgs),
    /// Show a consumer group's lag and its Burrow status, from outside.
    Lag(lag::LagArgs),
    /// Write records to a topic, one per line of stdin or a file (text or
    /// JSON; keys, headers, timestamps), and wait for every delivery.
    Produce(produce::ProduceArgs),
    /// Print a topic's records (text, JSON lines or a kcat-like template),
    /// without joining a group; stops at the end unless --follow.
    Consume(consume::ConsumeArgs),
    /// Run spec files against the real host, without a broker.
    Test(test::TestArgs),
    /// Compare two versions of an application (manifests or app files):
    /// every difference that matters while it runs, and whether it is
    /// safe, needs a state migration, or breaks state.
    UpgradeCheck(upgrade_check::UpgradeCheckArgs),
    /// Run dead-lettered records through the current version of their
    /// processor and write the results where the originals would have gone.
    Redrive(redrive::RedriveArgs),
    /// Read a running application's stores over its --http: a key, a
    /// range, a prefix or a key's windows, as JSON.
    Query(query::QueryArgs),
}

/// Parses the command line and runs the subcommand; the binary's `main`.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {:?}: {e}", cli.log_level))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::DevBroker(args) => dev_broker::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Describe(args) => describe::run(args),
        Command::UpgradeCheck(args) => upgrade_check::run(args),
        Command::Redrive(args) => redrive::run(args),
        Command::New(args) => new::run(args),
        Command::Build(args) => build::run(args),
        Command::Lag(args) => lag::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Test(args) => test::run(args),
        Command::Query(args) => query::run(args),
    }
}

/// A flag set by the first SIGINT or SIGTERM, so loops can stop cleanly.
/// The signal listener runs on a small tokio runtime of its own.
pub(crate) fn shutdown_flag() -> anyhow::Result<(Arc<AtomicBool>, tokio::runtime::Runtime)> {
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let set = flag.clone();
    runtime.spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(error) => {
                tracing::error!("cannot listen for SIGTERM: {error}");
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received; shutting down");
        set.store(true, Ordering::Release);
    });
    Ok((flag, runtime))
}

/// Parses `NAME:PARTITIONS`.
pub(crate) fn parse_topic(spec: &str) -> Result<(String, i32), String> {
    let (name, partitions) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("\"{spec}\": write NAME:PARTITIONS, e.g. metric.all:3"))?;
    let partitions: i32 = partitions
        .parse()
        .map_err(|_| format!("\"{spec}\": partitions must be a number"))?;
    if name.is_empty() || partitions < 1 {
        return Err(format!("\"{spec}\": write NAME:PARTITIONS with at least 1 partition"));
    }
    Ok((name.to_string(), partitions))
}

/// Parses `key=value` (librdkafka properties).
pub(crate) fn parse_property(spec: &str) -> Result<(String, String), String> {
    spec.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| format!("\"{spec}\": write key=value, e.g. -X security.protocol=SSL"))
}
