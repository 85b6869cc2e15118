//! One workflow for every language: `rill new` makes a project on the SDK,
//! `rill build` builds its component next to its manifest, `rill test` runs
//! its specs on the real host, and the project's own native unit test
//! passes (cargo test, pytest, node --test, tools/c/test.sh). The specs must also be able to
//! fail: with a stricter `min-length` the same component fails them.

use rill_tests::{rill, venv_tool, workspace};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `rill new NAME --lang LANG` in a fresh folder; returns the project.
fn scaffold(dir: &Path, name: &str, lang: &str) -> PathBuf {
    let project = dir.join(name);
    let output = rill()
        .args(["new", name, "--lang", lang, "--dir"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    project
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `command`, failing the test with its output unless it succeeds.
fn succeeds(what: &str, command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(output.status.success(), "{what} failed:\n{}", text(&output));
    text(&output)
}

/// Runs the project's native unit tests the way its README says.
fn native_test(project: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    let mut command = Command::new(program.as_ref());
    command
        .args(args)
        .current_dir(project)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    // cargo test shares `rill build`'s cache of compiled dependencies.
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        command.env("CARGO_TARGET_DIR", PathBuf::from(target).join("rill-build"));
    }
    succeeds(&format!("{:?} {args:?}", program.as_ref()), &mut command)
}

/// new -> build -> test for `lang`, then the native test, then the specs
/// failing against a stricter configuration.
fn the_workflow(lang: &str, native: impl FnOnce(&Path) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("demo-{lang}");
    let project = scaffold(dir.path(), &name, lang);
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    for step in ["rill build ", "rill test ", "rill run "] {
        assert!(readme.contains(step), "the README has no `{step}` step:\n{readme}");
    }
    for install in ["pip install", "npm install", "npx "] {
        assert!(!readme.contains(install), "the README asks for `{install}`:\n{readme}");
    }

    let built = succeeds("rill build", rill().arg("build").arg(&project));
    let component = project.join(format!("{name}.wasm"));
    assert!(built.contains(&format!("built {}", component.display())), "{built}");
    let bytes = std::fs::read(&component).unwrap();
    assert_eq!(&bytes[..4], b"\0asm", "{} is no WebAssembly file", component.display());
    assert!(!project.join(format!("{name}.wasm.tmp")).exists());

    let tested = succeeds("rill test", rill().arg("test").arg(&project));
    assert!(tested.contains("2 passed, 0 failed"), "{tested}");

    let natively = native(&project);
    assert!(!natively.contains("no tests ran"), "{natively}");

    // The same component, told to keep only values longer than 100
    // characters, must fail the spec that expects "streams" to pass.
    let manifest = project.join("plugin.toml");
    let stricter = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("min-length = 5", "min-length = 100");
    std::fs::write(&manifest, stricter).unwrap();
    let output = rill().arg("test").arg(&project).output().unwrap();
    assert!(!output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("1 passed, 1 failed"), "{}", text(&output));
}

#[test]
fn rust_new_build_test_and_cargo_test() {
    the_workflow("rust", |project| native_test(project, "cargo", &["test", "--quiet"]));
}

#[test]
fn python_new_build_test_and_pytest() {
    the_workflow("python", |project| native_test(project, venv_tool("pytest"), &["-q"]));
}

#[test]
fn javascript_new_build_test_and_node_test() {
    the_workflow("js", |project| native_test(project, "node", &["--test"]));
}

#[test]
fn c_new_build_test_and_c_test() {
    let runner = workspace().join("tools/c/test.sh");
    the_workflow("c", |project| {
        let natively = native_test(project, &runner, &["app_test.c"]);
        assert!(natively.contains("4 passed, 0 failed"), "{natively}");
        natively
    });
}

#[test]
fn a_bad_name_is_refused_with_the_fix() {
    let output = rill().args(["new", "Demo_Proc"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("fix:"), "{stderr}");
}

#[test]
fn building_a_folder_of_no_known_language_names_the_files_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let project = scaffold(dir.path(), "demo-unknown", "python");
    std::fs::remove_file(project.join("app.py")).unwrap();
    let output = rill().arg("build").arg(&project).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot tell the project's language"), "{stderr}");
    assert!(stderr.contains("app.py (Python)"), "{stderr}");
}

#[test]
fn a_missing_tool_is_named_with_setup_sh_as_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let project = scaffold(dir.path(), "demo-notools", "python");
    let output = rill()
        .arg("build")
        .arg(&project)
        .env("RILL_TOOLS_DIR", dir.path().join("no-tools"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("componentize-py is missing"), "{stderr}");
    assert!(stderr.contains("scripts/setup.sh"), "{stderr}");
}
