//! `rill validate`: load manifests and components exactly as `rill run`
//! would (including calling `init` with the config), without Kafka.

use crate::manifest::Manifest;
use crate::plugin::{Plugin, new_engine};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `rill validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Plugin manifests to check.
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
}

/// Runs `rill validate`.
pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let engine = new_engine()?;
    for path in &args.manifests {
        let manifest = Arc::new(Manifest::load(path)?);
        let plugin = Plugin::load(&engine, manifest.clone(), None)?;
        println!("{}: ok ({} {})", path.display(), manifest.name, plugin.version);
    }
    Ok(())
}
