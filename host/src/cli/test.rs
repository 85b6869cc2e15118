//! `rill test`: runs spec files against the real host without a broker
//! (see `crate::testdriver` and docs/testing.md), printing one line per
//! case, the diffs of failed ones, and `N passed, N failed`.

use crate::testdriver::{Suite, spec_files};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `rill test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Spec files, or project folders (every `tests/*.toml` and `tests/*.json` in them).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the observed records as each case's expectations (golden mode).
    #[arg(long)]
    update: bool,
    /// Where compiled plugins are cached.
    #[arg(long, env = "RILL_TEST_CACHE")]
    cache: Option<PathBuf>,
}

/// Runs `rill test`; fails when any case (or spec file) failed.
pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let files = spec_files(&args.paths)?;
    let cache = args
        .cache
        .unwrap_or_else(|| std::env::temp_dir().join("rill-test").join("compiled"));
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let suite = match Suite::load(&file, &cache).and_then(|suite| suite.check().map(|()| suite)) {
            Ok(suite) => suite,
            Err(error) => {
                println!("error {error}");
                failed += 1;
                continue;
            }
        };
        let results = suite.run();
        for result in &results {
            if result.diff.is_empty() {
                passed += 1;
                println!("ok    {}: {}", suite.path().display(), result.name);
            } else {
                failed += 1;
                println!("FAIL  {}: {}", suite.path().display(), result.name);
                for line in &result.diff {
                    println!("      case \"{}\": {line}", result.name);
                }
            }
        }
        if args.update {
            suite.update(&results)?;
            println!("updated {}", suite.path().display());
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 && !args.update {
        anyhow::bail!("{failed} failed");
    }
    Ok(())
}
