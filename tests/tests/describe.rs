//! `rill describe` from the outside: the real binary on the sample
//! manifests, with partition counts from a broker, in text and JSON; and
//! the same refusal `rill run` gives for a topic read twice.

use rill_tests::{DevBroker, install_plugin, rill};

#[test]
fn describe_shows_the_pipeline_with_partitions_from_the_broker() {
    let broker = DevBroker::start(&[("metric.all", 3), ("metric.cpu", 6)]);
    let dir = tempfile::tempdir().unwrap();
    let manifests = [
        install_plugin(dir.path(), "metric-branch"),
        install_plugin(dir.path(), "cpu-alert"),
    ];
    let describe = |format: &str| {
        let output = rill()
            .arg("describe")
            .args(&manifests)
            .args([
                "--application-id",
                "metrics",
                "--brokers",
                &broker.bootstrap,
                "--format",
                format,
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let text = describe("text");
    assert!(text.contains("Source: metric.all (stream, 3 partitions)"), "{text}");
    assert!(text.contains("Source: metric.cpu (stream, 6 partitions)"), "{text}");
    // The installed components are there, so the build is named by hash.
    assert!(text.contains("Processor: cpu-alert (0.1.0+"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&describe("json")).unwrap();
    assert_eq!(json["subtopologies"].as_array().unwrap().len(), 2);
    assert_eq!(json["subtopologies"][1]["sinks"][0]["topic"], "metric.cpu.alert");
    assert!(describe("mermaid").starts_with("flowchart LR"));
    assert!(describe("dot").starts_with("digraph \"metrics\""));
}

#[test]
fn describe_refuses_what_run_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let output = rill()
        .arg("describe")
        .arg(install_plugin(dir.path(), "order-join"))
        .arg(install_plugin(dir.path(), "order-count"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("topic \"order\" is an input of both"), "{stderr}");
}

#[test]
fn validate_checks_an_application_file_and_its_plugins() {
    // The repository's apps/metrics.toml beside freshly built components.
    let dir = tempfile::tempdir().unwrap();
    let app = rill_tests::install_metrics_app(dir.path());
    let output = rill().arg("validate").arg(&app).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.contains("/metric-branch/plugin.toml: ok (metric-branch 0.1.0+"),
        "{stdout}"
    );
    assert!(
        stdout.contains("/cpu-alert/plugin.toml: ok (cpu-alert 0.1.0+"),
        "{stdout}"
    );
    assert!(!stdout.contains("/../"), "paths are clean: {stdout}");
    assert!(
        stdout.contains("metrics.toml: ok (2 processors, 1 connections, 1 sub-topologies)"),
        "{stdout}"
    );
}

#[test]
fn an_application_file_is_described_as_one_sub_topology() {
    let app = rill_tests::workspace().join("apps/metrics.toml");
    let output = rill().arg("describe").arg(&app).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.matches("Sub-topology:").count(), 1, "{text}");
    assert!(text.contains("--> cpu-alert, metric.cpu"), "{text}");
}

/// `rill upgrade-check` from the outside: the exit code says the worst
/// verdict (0 safe, 2 breaks state) and the report says why.
#[test]
fn upgrade_check_exits_by_its_verdict() {
    let root = rill_tests::workspace();
    let check = |new: &str| {
        rill()
            .arg("upgrade-check")
            .arg(root.join("plugins/order-count/plugin.toml"))
            .arg(root.join(new))
            .args(["--application-id", "shop"])
            .output()
            .unwrap()
    };
    let renamed = check("host/tests/upgrade/count-renamed.toml");
    let text = String::from_utf8_lossy(&renamed.stdout);
    assert_eq!(renamed.status.code(), Some(0), "{text}");
    assert!(
        text.contains("processor order-count renamed to order-counter"),
        "{text}"
    );
    let dropped = check("host/tests/upgrade/count-totals.toml");
    let text = String::from_utf8_lossy(&dropped.stdout);
    assert_eq!(dropped.status.code(), Some(2), "{text}");
    assert!(
        text.contains("breaks state    store counts of order-count: removed") && text.contains("shop-counts-changelog"),
        "{text}"
    );
}
