//! `rill describe`: what `rill run` would run for these manifests, as Kafka
//! Streams' `Topology.describe()` shows it, in text, JSON, DOT or Mermaid.
//! Reads only the manifests (and component files, for their hashes); with
//! `--brokers` it adds each topic's partition count.

use crate::kafka::{KafkaSettings, admin};
use crate::manifest::Manifest;
use crate::runtime::check_pipeline;
use crate::topology::Topology;
use crate::topology::render::{Format, render};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `rill describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Plugin manifests (plugin.toml), one per processor.
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
    let manifests = args
        .manifests
        .iter()
        .map(|path| Manifest::load(path).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    check_pipeline(&manifests)?;
    let mut topology = Topology::plan(&args.application_id, &manifests);
    if let Some(brokers) = args.brokers {
        let kafka = KafkaSettings {
            brokers,
            overrides: args.property,
        };
        topology = topology.with_partitions(&admin::partition_counts(&kafka)?);
    }
    print!("{}", render(&topology, args.format));
    Ok(())
}
