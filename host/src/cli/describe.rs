//! `rill describe`: what these manifests (or one application file) run, as
//! Kafka Streams' `Topology.describe()` shows it, in text, JSON, DOT or
//! Mermaid. Reads only the files (and components, for their hashes); with
//! `--brokers` it adds each topic's partition count.

use crate::app::App;
use crate::kafka::{KafkaSettings, admin};
use crate::runtime::check_pipeline;
use crate::topology::Topology;
use crate::topology::render::{Format, render};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `rill describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Plugin manifests (plugin.toml), one per processor, or one
    /// application file (apps/metrics.toml).
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// The application id (names changelog topics).
    #[arg(long, default_value = "rill")]
    application_id: String,
    /// Kafka bootstrap servers, to show partition counts (optional).
    #[arg(long, env = "RILL_BROKERS")]
    brokers: Option<String>,
    /// librdkafka property for the metadata client, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

/// Runs `rill describe`.
pub fn run(args: DescribeArgs) -> anyhow::Result<()> {
    let app = App::load_args(&args.manifests)?;
    let mut topology = Topology::plan_app(&args.application_id, &app);
    check_pipeline(&app.processors, &topology)?;
    if let Some(brokers) = args.brokers {
        let kafka = KafkaSettings {
            brokers,
            overrides: args.property,
        };
        topology = topology.with_partitions(&admin::partition_counts(&kafka)?);
    }
    print!("{}", render(&topology.with_hashes(), args.format));
    Ok(())
}
