//! `rill describe`: what these manifests (or one application file) run, as
//! Kafka Streams' `Topology.describe()` shows it, in text, JSON, DOT or
//! Mermaid. Reads only the files (and components, for their hashes); with
//! `--brokers` it adds each topic's partition count.

use crate::app::{self, App};
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
    let first = std::fs::read_to_string(&args.manifests[0]).unwrap_or_default();
    let mut topology = if args.manifests.len() == 1 && app::is_app(&first) {
        let app = App::load(&args.manifests[0])?;
        Topology::plan_app(&args.application_id, &app)
    } else {
        let manifests = args
            .manifests
            .iter()
            .map(|path| Manifest::load(path).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        check_pipeline(&manifests)?;
        Topology::plan(&args.application_id, &manifests)
    };
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
