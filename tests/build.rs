//! Builds the sample plugins for wasm32-wasip2 so tests never run a stale or
//! checked-in component. The nested cargo uses its own target directory
//! (`<target>/wasm`, shared with scripts/build-plugins.sh) to avoid waiting
//! on the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGINS: [&str; 6] = ["metric-branch", "cpu-alert", "order-join", "order-count", "fixture-misbehave", "fixture-wrong-world"];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    for dir in ["plugins", "guest-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let target = out.ancestors().nth(4).expect("target directory").to_path_buf();
    let wasm_target = target.join("wasm");

    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.env_clear();
    for keep in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Ok(value) = std::env::var(keep) {
            cargo.env(keep, value);
        }
    }
    cargo
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &wasm_target)
        .args(["build", "--quiet", "--profile", "plugin", "--target", "wasm32-wasip2"]);
    for plugin in PLUGINS {
        cargo.args(["-p", plugin]);
    }
    let status = cargo.status().expect("running cargo for the plugins");
    assert!(
        status.success(),
        "building the plugins for wasm32-wasip2 failed (is the target installed? scripts/setup.sh adds it)"
    );
    for plugin in PLUGINS {
        let file = wasm_target.join("wasm32-wasip2/plugin").join(format!("{}.wasm", plugin.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        let var = format!("RILL_PLUGIN_{}", plugin.replace('-', "_").to_uppercase());
        println!("cargo:rustc-env={var}={}", file.display());
    }
    println!("cargo:rustc-env=RILL_WORKSPACE={}", root.display());
}
