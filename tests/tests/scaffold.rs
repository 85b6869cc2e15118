//! `rill new` for each language: the scaffold's own test passes natively,
//! it builds into a component, and rill loads it (world check + init).

use rill_tests::{componentize_js, componentize_py, rill, rill_bin};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scaffold(dir: &Path, lang: &str) -> PathBuf {
    let project = dir.join("demo-proc");
    let output = rill()
        .args(["new", "demo-proc", "--lang", lang, "--dir"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    project
}

/// Runs a step of the scaffold's README in `project`; the project is
/// standalone, so the test's own cargo target directory is not inherited.
fn step(project: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) {
    let output = Command::new(program.as_ref())
        .args(args)
        .current_dir(project)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap_or_else(|e| panic!("running {:?}: {e}", program.as_ref()));
    assert!(
        output.status.success(),
        "{:?} {args:?} failed:\n{}\n{}",
        program.as_ref(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn validates(project: &Path) {
    step(project, rill_bin(), &["validate", "plugin.toml"]);
}

#[test]
fn the_rust_scaffold_tests_builds_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let project = scaffold(dir.path(), "rust");
    step(&project, "cargo", &["test", "--quiet"]);
    step(
        &project,
        "cargo",
        &["build", "--quiet", "--target", "wasm32-wasip2", "--release"],
    );
    validates(&project);
}

#[test]
fn the_python_scaffold_tests_builds_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let project = scaffold(dir.path(), "python");
    step(
        &project,
        componentize_py(),
        &["-d", "wit", "-w", "processor", "bindings", "."],
    );
    step(&project, "python3", &["-m", "unittest", "-q", "test_app"]);
    step(
        &project,
        componentize_py(),
        &[
            "-d",
            "wit",
            "-w",
            "processor",
            "componentize",
            "app",
            "-o",
            "demo-proc.wasm",
        ],
    );
    validates(&project);
}

#[test]
fn the_javascript_scaffold_tests_builds_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let project = scaffold(dir.path(), "js");
    step(&project, "node", &["--test"]);
    step(
        &project,
        componentize_js(),
        &[
            "app.js",
            "--wit",
            "wit",
            "-n",
            "processor",
            "--disable",
            "http",
            "fetch-event",
            "-o",
            "demo-proc.wasm",
        ],
    );
    validates(&project);
}

#[test]
fn a_bad_name_is_refused_with_the_fix() {
    let output = rill().args(["new", "Demo_Proc"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("fix:"), "{stderr}");
}
