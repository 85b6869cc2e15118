//! `rill upgrade-check OLD NEW`: what an upgrade from one version of an
//! application to another does to it while it runs ([`crate::topology::upgrade`]),
//! before anything runs. Reads only the files.

use crate::app::App;
use crate::topology::upgrade::{Verdict, compare, report};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `rill upgrade-check`.
#[derive(Debug, Args)]
pub struct UpgradeCheckArgs {
    /// The running version: a plugin manifest or an application file.
    old: PathBuf,
    /// The version to upgrade to: a plugin manifest or an application file.
    new: PathBuf,
    /// The application id (names changelog and internal topics).
    #[arg(long, default_value = "rill")]
    application_id: String,
}

/// Runs `rill upgrade-check`: prints every difference that matters and
/// exits 0 when the upgrade is safe, 1 when it needs a state migration, 2
/// when it breaks state.
pub fn run(args: UpgradeCheckArgs) -> anyhow::Result<()> {
    let old = App::load_args(std::slice::from_ref(&args.old))?;
    let new = App::load_args(std::slice::from_ref(&args.new))?;
    let changes = compare(&args.application_id, &old, &new);
    print!(
        "{}",
        report(
            &args.old.display().to_string(),
            &args.new.display().to_string(),
            &args.application_id,
            &changes
        )
    );
    match changes.iter().map(|c| c.verdict).max() {
        Some(Verdict::Breaks) => std::process::exit(2),
        Some(Verdict::NeedsMigration) => std::process::exit(1),
        _ => Ok(()),
    }
}
