//! `rill run` refuses a version that breaks the state of the version last
//! started from the same state directory, with `rill upgrade-check`'s
//! words, and starts it only with `--accept-breaking-upgrade`; a safe
//! change (a renamed processor keeping its store) starts as usual.

use rill_tests::{DevBroker, install_plugin, produce, rill, run_until_idle, run_until_idle_with};
use std::process::Stdio;

#[test]
fn a_version_that_drops_a_store_is_refused_until_accepted() {
    let broker = DevBroker::start(&[
        ("order", 1),
        ("order_count", 1),
        ("order_count_audit", 1),
        ("order.count.dlq", 1),
        ("up-counts-changelog", 1),
        ("up-totals-changelog", 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let v1 = install_plugin(dir.path(), "order-count");
    produce(&broker.bootstrap, "order", &[(Some(b"k".to_vec()), b"o".to_vec())]);
    run_until_idle(&broker.bootstrap, &[&v1], "up", &state);

    // The same processor renamed, keeping its store: safe.
    let renamed = v1.with_file_name("renamed.toml");
    std::fs::copy(
        rill_tests::workspace().join("host/tests/upgrade/count-renamed.toml"),
        &renamed,
    )
    .unwrap();
    let log = run_until_idle(&broker.bootstrap, &[&renamed], "up", &state);
    assert!(
        log.contains("upgrade from the version last started here is safe"),
        "{log}"
    );
    // And back.
    run_until_idle(&broker.bootstrap, &[&v1], "up", &state);

    // Its store renamed: refused, naming what breaks and the way out.
    let v2 = v1.with_file_name("totals.toml");
    std::fs::copy(
        rill_tests::workspace().join("host/tests/upgrade/count-totals.toml"),
        &v2,
    )
    .unwrap();
    let refused = rill()
        .arg("run")
        .arg(&v2)
        .args([
            "--brokers",
            &broker.bootstrap,
            "--application-id",
            "up",
            "--stop-when-idle",
            "2s",
        ])
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{text}");
    assert!(
        text.contains("breaks state    store counts of order-count: removed"),
        "{text}"
    );
    assert!(text.contains("up-counts-changelog"), "{text}");
    assert!(text.contains("--accept-breaking-upgrade"), "{text}");

    let log = run_until_idle_with(&broker.bootstrap, &[&v2], "up", &state, &["--accept-breaking-upgrade"]);
    assert!(log.contains("starting a version that breaks state"), "{log}");
    // Accepted once, it is the version last started: no refusal after.
    run_until_idle(&broker.bootstrap, &[&v2], "up", &state);
}
