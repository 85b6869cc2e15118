//! `rill validate`: load manifests (or an application file and its
//! manifests) and components exactly as `rill run` would (including calling
//! `init` with the config), without Kafka. Every file is checked and every
//! error reported in one run; the exit status fails if any was refused.

use crate::app::App;
use crate::plugin::{Plugin, new_engine};
use crate::runtime::check_pipeline;
use crate::topology::Topology;
use anyhow::bail;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `rill validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Plugin manifests to check, or one application file.
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
}

/// Runs `rill validate`.
pub fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let engine = new_engine()?;
    let app = App::load_args(&args.manifests)?;
    // Manifests were all checked by App::load_args (all errors at once);
    // components are too: one refused plugin does not hide the next.
    let mut refused = 0;
    for manifest in &app.processors {
        match Plugin::load(&engine, Arc::clone(manifest), None) {
            Ok(plugin) => {
                println!("{}: ok ({} {})", manifest.path.display(), manifest.name, plugin.version);
                for (grant, used) in manifest.grants.iter().zip(plugin.grants().usage()) {
                    let line = crate::topology::render::grant_line(&grant.into());
                    match used {
                        Some(bytes) => println!("  grant: {line}: {bytes} bytes in use"),
                        None => println!("  grant: {line}"),
                    }
                }
            }
            Err(e) => {
                refused += 1;
                eprintln!("error: {}: {e}", manifest.path.display());
            }
        }
    }
    if refused > 0 {
        bail!("{refused} of {} plugins refused", app.processors.len());
    }
    if !app.connections.is_empty() {
        // What `rill run` checks before it touches Kafka.
        let topology = Topology::plan_app("rill", &app);
        check_pipeline(&app.processors, &topology)?;
        println!(
            "{}: ok ({} processors, {} connections, {} sub-topologies)",
            app.path.display(),
            app.processors.len(),
            app.connections.len(),
            topology.subtopologies.len()
        );
    }
    Ok(())
}
