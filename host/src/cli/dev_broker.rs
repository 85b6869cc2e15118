//! `rill dev-broker`: librdkafka's mock cluster as a standalone broker for
//! development and tests. Prints `bootstrap.servers=...` as its first line
//! on stdout and serves until SIGINT/SIGTERM. See docs/dev-broker.md for
//! what it does not do (CreateTopics, compaction, long retention).
//!
//! Faults on request, one command per line on stdin (each answered with a
//! line `ok <command>` on stdout once in effect):
//!
//! ```text
//! down                          every broker goes down (connections refused)
//! up                            every broker comes back
//! fail-produce <error> <count>  the next <count> Produce requests fail with
//!                               <error>: invalid-record, message-too-large or
//!                               topic-authorization-failed
//! ```

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
    let broker = std::sync::Arc::new(broker);
    {
        let broker = broker.clone();
        std::thread::Builder::new()
            .name("dev-broker-commands".into())
            .spawn(move || commands(&broker))?;
    }
    while !shutdown.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Reads fault commands from stdin until it closes.
fn commands(broker: &EmbeddedBroker) {
    for line in std::io::stdin().lines() {
        let Ok(line) = line else { return };
        let words: Vec<&str> = line.split_whitespace().collect();
        let outcome = match words.as_slice() {
            [] => continue,
            ["down"] => broker.set_available(false).map_err(|e| e.to_string()),
            ["up"] => broker.set_available(true).map_err(|e| e.to_string()),
            ["fail-produce", error, count] => fail_produce(broker, error, count),
            _ => Err("unknown command; use down, up or fail-produce <error> <count>".into()),
        };
        match outcome {
            Ok(()) => {
                tracing::warn!("dev broker: {line}");
                let mut stdout = std::io::stdout().lock();
                // The reader may be gone; the command took effect anyway.
                let _ = writeln!(stdout, "ok {line}").and_then(|()| stdout.flush());
            }
            Err(error) => tracing::error!("dev broker: {line:?}: {error}"),
        }
    }
}

fn fail_produce(broker: &EmbeddedBroker, error: &str, count: &str) -> Result<(), String> {
    use rdkafka_sys::rd_kafka_resp_err_t::*;
    let code = match error {
        "invalid-record" => RD_KAFKA_RESP_ERR_INVALID_RECORD,
        "message-too-large" => RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        "topic-authorization-failed" => RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        other => return Err(format!("unknown error {other:?}")),
    };
    let count: usize = count.parse().map_err(|_| format!("count {count:?} is not a number"))?;
    broker.fail_produce_requests(code, count).map_err(|e| e.to_string())
}
