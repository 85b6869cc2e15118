//! The `rill:processor` world versions side by side, without a broker:
//! a component of each SDK built against the current world (0.4.0) loads
//! and answers the `join` export (a processor without joins fails each
//! result with its SDK's message), and components kept on older worlds
//! (0.3.0, 0.2.0, 0.1.0) keep loading, with a typed `MissingExport` from
//! `join`, the call their world lacks.

use rill_host::manifest::Manifest;
use rill_host::plugin::{JoinResult, MissingExport, Plugin, RecordProcessor, WorldVersion, new_engine};
use std::sync::Arc;

/// `plugin` (a directory in plugins/) loaded with its real manifest and
/// the component tests/build.rs built for it.
fn load(plugin: &str) -> Plugin {
    let path = rill_tests::workspace().join("plugins").join(plugin).join("plugin.toml");
    let mut manifest = Manifest::load(&path).unwrap_or_else(|e| panic!("{plugin}: {e}"));
    manifest.component = rill_tests::component(plugin);
    Plugin::load(&new_engine().unwrap(), Arc::new(manifest), None).unwrap_or_else(|e| panic!("{plugin}: {e}"))
}

/// One matched pair of `[joins.order-payment]`.
fn results() -> Vec<JoinResult> {
    vec![JoinResult {
        join: "order-payment".into(),
        key: Some(b"o-1".to_vec()),
        left: Some(b"Bike".to_vec()),
        right: Some(b"paid".to_vec()),
        timestamp: 550_000,
    }]
}

#[test]
fn every_sdk_exports_join_from_the_current_world() {
    for plugin in ["cpu-alert", "cpu-alert-python", "cpu-alert-js", "cpu-peak-c"] {
        let loaded = load(plugin);
        assert_eq!(loaded.world, WorldVersion::V0_4, "{plugin}");
        let mut instance = loaded.start(&format!("{plugin}/test"), None).unwrap();
        let outputs = instance.join(&results()).unwrap_or_else(|e| panic!("{plugin}: {e:#}"));
        assert_eq!(
            outputs,
            vec![Err(
                "join is not implemented, but join 'order-payment' has a result".to_string()
            )],
            "{plugin}"
        );
    }
}

#[test]
fn components_of_older_worlds_load_and_lack_join_by_type() {
    for (plugin, world) in [
        ("cpu-alert-c", WorldVersion::V0_3),
        ("stream-log-copy-js", WorldVersion::V0_2),
        ("stream-log-copy-python", WorldVersion::V0_1),
    ] {
        let loaded = load(plugin);
        assert_eq!(loaded.world, world, "{plugin}");
        let mut instance = loaded.start(&format!("{plugin}/test"), None).unwrap();
        let error = instance.join(&results()).expect_err(plugin);
        let missing = error
            .downcast_ref::<MissingExport>()
            .unwrap_or_else(|| panic!("{plugin}: {error:#}"));
        assert_eq!(
            missing,
            &MissingExport {
                export: "join",
                needs: WorldVersion::V0_4,
                built: world,
            }
        );
    }
}
