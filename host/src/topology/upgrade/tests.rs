//! Golden reports of `rill upgrade-check` between the samples and the
//! fixtures in `host/tests/upgrade/` (`RILL_BLESS=1` rewrites them).

use super::*;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn load(path: &str) -> App {
    App::load_args(&[root().join(path)]).unwrap()
}

/// The report for `old -> new`, checked against `host/tests/upgrade/<golden>`.
fn golden(old: &str, new: &str, golden: &str) -> Vec<Change> {
    let changes = compare("shop", &load(old), &load(new));
    let text = report(old, new, "shop", &changes);
    let file = root().join("host/tests/upgrade").join(golden);
    if std::env::var_os("RILL_BLESS").is_some() {
        std::fs::write(&file, &text).unwrap();
    }
    let expected =
        std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("{} is missing: RILL_BLESS=1", file.display()));
    assert_eq!(text, expected, "{golden}");
    changes
}

#[test]
fn the_same_application_has_no_differences() {
    let changes = golden(
        "plugins/order-count/plugin.toml",
        "plugins/order-count/plugin.toml",
        "same.txt",
    );
    assert!(changes.is_empty());
}

#[test]
fn a_renamed_store_breaks_state_and_a_new_output_is_safe() {
    let changes = golden(
        "plugins/order-count/plugin.toml",
        "host/tests/upgrade/count-totals.toml",
        "count-totals.txt",
    );
    assert_eq!(changes[0].verdict, Verdict::Breaks);
    assert!(changes[0].what.contains("store counts"), "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c.verdict == Verdict::Safe && c.what.contains("store totals"))
    );
    assert!(
        changes
            .iter()
            .any(|c| c.verdict == Verdict::Safe && c.what.contains("output audit"))
    );
}

#[test]
fn a_renamed_processor_keeps_its_state_through_the_changelog() {
    let changes = golden(
        "plugins/order-count/plugin.toml",
        "host/tests/upgrade/count-renamed.toml",
        "count-renamed.txt",
    );
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].verdict, Verdict::Safe);
    assert!(changes[0].why.contains("shop-counts-changelog"));
}

#[test]
fn a_new_window_size_breaks_state_and_a_new_aggregate_needs_a_migration() {
    let changes = golden(
        "plugins/order-window-count/plugin.toml",
        "host/tests/upgrade/window-hourly.toml",
        "window-hourly.txt",
    );
    let verdicts: Vec<Verdict> = changes.iter().map(|c| c.verdict).collect();
    assert_eq!(verdicts[0], Verdict::Breaks);
    assert!(verdicts.contains(&Verdict::NeedsMigration));
}

#[test]
fn removing_a_stateful_processor_of_an_application_breaks_state() {
    let changes = compare(
        "shop",
        &load("apps/metrics.toml"),
        &load("plugins/order-count/plugin.toml"),
    );
    assert!(
        changes
            .iter()
            .any(|c| c.what.starts_with("processor order-count added"))
    );
    assert!(changes.iter().all(|c| !c.what.contains("renamed")));
}

#[test]
fn a_swap_that_drops_a_store_hears_why_in_upgrade_checks_words() {
    let old = Manifest::load(&root().join("plugins/order-count/plugin.toml")).unwrap();
    let new = Manifest::load(&root().join("host/tests/upgrade/count-totals.toml")).unwrap();
    let breaking = super::breaking("shop", &old, &new);
    assert_eq!(breaking.len(), 1, "{breaking:?}");
    assert_eq!(breaking[0].what, "store counts of order-count: removed");
    assert!(super::breaking("shop", &old, &old).is_empty());
}

#[test]
fn a_renamed_processor_whose_store_changes_kind_still_breaks_state() {
    let changes = compare(
        "shop",
        &load("plugins/order-count/plugin.toml"),
        &load("plugins/order-window-count/plugin.toml"),
    );
    assert!(
        changes.iter().any(|c| c.what.contains("renamed to order-window-count")),
        "{changes:?}"
    );
    assert_eq!(changes[0].verdict, Verdict::Breaks, "{changes:?}");
    assert!(changes[0].what.contains("store counts"), "{changes:?}");
}
