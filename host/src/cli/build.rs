//! `rill build`: builds a processor project (Rust, Python or JavaScript) into
//! the component its manifest names (see `crate::build`).

use crate::build::{Toolbox, build};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `rill build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project folder (holds plugin.toml).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The rill checkout whose SDKs, WIT and tools (installed by its
    /// scripts/setup.sh) build the project (default: the one rill was built from).
    #[arg(long, env = "RILL_HOME")]
    rill_home: Option<PathBuf>,
    /// Cargo's target folder for Rust projects, shared between projects
    /// (default: $CARGO_TARGET_DIR/rill-build, else ~/.cache/rill/build-target).
    #[arg(long, env = "RILL_BUILD_TARGET")]
    target_dir: Option<PathBuf>,
}

/// Runs `rill build`.
pub fn run(args: BuildArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let tools = Toolbox::locate(args.rill_home, args.target_dir);
    let built = build(&args.path, &tools)?;
    println!(
        "built {} ({}, {:.1} MB) in {:.1} s",
        built.component.display(),
        built.language.title(),
        built.bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
