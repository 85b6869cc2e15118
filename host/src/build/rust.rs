//! Rust projects: `cargo build --release --target wasm32-wasip2` (a cdylib
//! for that target is already a component), in a target folder shared by
//! every project so rill-sdk and its dependencies compile once.

use super::error::BuildError;
use super::toolbox::Toolbox;
use super::toolchain::{Toolchain, run_step};
use super::world::World;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust toolchain.
pub(crate) struct Rust;

/// The component target.
const TARGET: &str = "wasm32-wasip2";

impl Toolchain for Rust {
    fn build(&self, project: &Path, _: World, tools: &Toolbox, _scratch: &Path, out: &Path) -> Result<(), BuildError> {
        let rust_fix = || "install Rust with rustup (https://rustup.rs), then run scripts/setup.sh".to_string();
        check_target(project, tools, rust_fix)?;
        let manifest = project.join("Cargo.toml");
        let step = format!("cargo build --release --target {TARGET} ({})", manifest.display());
        let output = run_step(
            &step,
            Command::new("cargo")
                .current_dir(project)
                .env("CARGO_TARGET_DIR", tools.rust_target())
                .args([
                    "build",
                    "--release",
                    "--target",
                    TARGET,
                    "--message-format=json-render-diagnostics",
                ])
                .arg("--manifest-path")
                .arg(&manifest),
            rust_fix,
        )?;
        let built = component_of(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| BuildError::NoComponent {
            step: step.clone(),
            detail: "no cdylib .wasm among cargo's artifacts; the crate needs `crate-type = [\"cdylib\"]` under [lib]"
                .into(),
        })?;
        std::fs::copy(&built, out).map_err(BuildError::io(&built))?;
        Ok(())
    }
}

/// Fails with the fix when the component target is not installed for the
/// toolchain cargo will use in `dir` (a rust-toolchain file may pick one).
fn check_target(dir: &Path, tools: &Toolbox, rust_fix: impl FnOnce() -> String) -> Result<(), BuildError> {
    let output = run_step(
        "rustc --print sysroot",
        Command::new("rustc").current_dir(dir).args(["--print", "sysroot"]),
        rust_fix,
    )?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let target = sysroot.join("lib/rustlib").join(TARGET);
    if target.is_dir() {
        return Ok(());
    }
    Err(BuildError::MissingTool {
        tool: "the wasm32-wasip2 Rust target",
        path: target,
        fix: tools.setup_fix("the wasm32-wasip2 target"),
    })
}

/// The `.wasm` file of the cdylib among cargo's JSON messages (the last
/// one: dependencies are rlibs).
pub(crate) fn component_of(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
        })
        .filter_map(|message| {
            message["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
        })
        .next_back()
}
