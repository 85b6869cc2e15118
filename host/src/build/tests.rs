//! Language detection, tool location and the errors `rill build` gives
//! before it runs anything (the builds themselves run end to end in
//! tests/tests/scaffold.rs).

use super::rust::component_of;
use super::*;
use std::path::Path;

const MANIFEST_TEXT: &str = r#"
manifest-version = 1
name = "demo"
version = "0.1.0"
component = "demo.wasm"
dead-letter = "demo.dlq"
[[inputs]]
topic = "demo.in"
[outputs]
long = "demo.out"
"#;

fn project(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let text = if *file == MANIFEST { MANIFEST_TEXT } else { "" };
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    dir
}

/// A fake rill checkout (scripts/setup.sh, the SDK folders and the WIT)
/// with an empty tools folder: nothing setup.sh installs is there.
fn bare_toolbox() -> (tempfile::TempDir, Toolbox) {
    let home = tempfile::tempdir().unwrap();
    for dir in ["scripts", "guest-sdk/python", "guest-sdk/js", "wit", "tools/js"] {
        std::fs::create_dir_all(home.path().join(dir)).unwrap();
    }
    std::fs::write(home.path().join("scripts/setup.sh"), "").unwrap();
    std::fs::write(home.path().join("tools/js/build-plugin.sh"), "").unwrap();
    let toolbox = Toolbox::new(
        home.path().to_path_buf(),
        home.path().join("no-tools"),
        home.path().join("target"),
    );
    (home, toolbox)
}

#[test]
fn each_language_is_detected_by_its_file() {
    for (file, language) in [
        ("Cargo.toml", Language::Rust),
        ("app.py", Language::Python),
        ("app.js", Language::Js),
        ("app.c", Language::C),
    ] {
        let dir = project(&[MANIFEST, file]);
        assert_eq!(Language::detect(dir.path()).unwrap(), language, "{file}");
    }
}

#[test]
fn a_folder_without_a_language_file_names_the_files_looked_for() {
    let dir = project(&[MANIFEST, "main.go"]);
    let message = Language::detect(dir.path()).unwrap_err().to_string();
    assert!(message.contains("cannot tell the project's language"), "{message}");
    assert!(
        message.contains("Cargo.toml (Rust), app.py (Python), app.js (JavaScript), app.c (C)"),
        "{message}"
    );
    assert!(message.contains("fix:"), "{message}");
}

#[test]
fn two_languages_in_one_folder_are_refused_naming_both() {
    let dir = project(&[MANIFEST, "app.py", "app.js"]);
    let message = Language::detect(dir.path()).unwrap_err().to_string();
    assert!(message.contains("Python (app.py) and JavaScript (app.js)"), "{message}");
}

#[test]
fn a_folder_without_a_manifest_says_so() {
    let dir = project(&["app.py"]);
    let (_home, tools) = bare_toolbox();
    let error = build(dir.path(), &tools).unwrap_err();
    assert!(matches!(error, BuildError::NoManifest(_)), "{error}");
    assert!(error.to_string().contains("no plugin.toml here"), "{error}");
}

#[test]
fn a_missing_folder_is_named() {
    let (_home, tools) = bare_toolbox();
    let error = build(Path::new("/no/such/project"), &tools).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/no/such/project: no such project folder"),
        "{error}"
    );
}

#[test]
fn an_invalid_manifest_is_reported_before_any_tool_runs() {
    let dir = project(&["app.py"]);
    std::fs::write(dir.path().join(MANIFEST), "name = 3\n").unwrap();
    let (_home, tools) = bare_toolbox();
    let error = build(dir.path(), &tools).unwrap_err();
    assert!(matches!(error, BuildError::Manifest(_)), "{error}");
    assert!(error.to_string().contains("plugin.toml"), "{error}");
}

#[test]
fn a_missing_python_tool_is_named_with_setup_sh_as_the_fix() {
    let dir = project(&[MANIFEST, "app.py"]);
    let (home, tools) = bare_toolbox();
    let message = build(dir.path(), &tools).unwrap_err().to_string();
    assert!(message.starts_with("componentize-py is missing: "), "{message}");
    assert!(message.contains("no-tools/venv/bin/componentize-py"), "{message}");
    let setup = home.path().join("scripts/setup.sh");
    assert!(
        message.contains(&format!("fix: run {} (it installs componentize-py", setup.display())),
        "{message}"
    );
    assert!(!dir.path().join("demo.wasm").exists());
}

#[test]
fn missing_javascript_tools_are_named_with_setup_sh_as_the_fix() {
    let dir = project(&[MANIFEST, "app.js"]);
    let (_home, tools) = bare_toolbox();
    let message = build(dir.path(), &tools).unwrap_err().to_string();
    assert!(message.starts_with("esbuild is missing: "), "{message}");
    assert!(message.contains("tools/js/node_modules/.bin/esbuild"), "{message}");
    assert!(message.contains("scripts/setup.sh (it installs esbuild"), "{message}");
}

#[test]
fn c_and_its_native_test_file_are_one_language() {
    // app_test.c is no marker: a C project holds both files.
    let dir = project(&[MANIFEST, "app.c", "app_test.c"]);
    assert_eq!(Language::detect(dir.path()).unwrap(), Language::C);
    let dir = project(&[MANIFEST, "app.c", "app.js"]);
    let message = Language::detect(dir.path()).unwrap_err().to_string();
    assert!(message.contains("JavaScript (app.js) and C (app.c)"), "{message}");
}

#[test]
fn a_missing_c_component_tool_is_named_with_setup_sh_as_the_fix() {
    let dir = project(&[MANIFEST, "app.c"]);
    let (home, tools) = bare_toolbox();
    let message = build(dir.path(), &tools).unwrap_err().to_string();
    assert!(message.starts_with("c-component is missing: "), "{message}");
    // Where scripts/setup.sh and tools/c/build-plugin.sh build it.
    let tool = home.path().join("target/c-component/release/c-component");
    assert!(
        message.contains(&format!("{} does not exist", tool.display())),
        "{message}"
    );
    let setup = home.path().join("scripts/setup.sh");
    assert!(
        message.contains(&format!("fix: run {} (it installs c-component", setup.display())),
        "{message}"
    );
    assert!(!dir.path().join("demo.wasm").exists());
}

#[test]
fn a_folder_that_is_no_rill_checkout_is_refused_with_rill_home_as_the_fix() {
    let dir = project(&[MANIFEST, "app.js"]);
    let nowhere = tempfile::tempdir().unwrap();
    let tools = Toolbox::new(nowhere.path().into(), nowhere.path().into(), nowhere.path().into());
    let message = build(dir.path(), &tools).unwrap_err().to_string();
    assert!(message.contains("the rill checkout was not found at"), "{message}");
    assert!(message.contains("fix: set RILL_HOME"), "{message}");
}

#[test]
fn the_checkout_this_binary_was_built_from_has_the_sdks_and_the_wit() {
    let tools = Toolbox::locate(Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")), None);
    for part in [
        "guest-sdk",
        "guest-sdk/python",
        "guest-sdk/js",
        "guest-sdk/c",
        "wit",
        "tools/js/build-plugin.sh",
        "tools/c/build-plugin.sh",
        "tools/c/test.sh",
    ] {
        tools.in_home(part).unwrap();
    }
}

#[test]
fn the_component_is_the_cdylib_wasm_among_cargos_messages() {
    let messages = [
        r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"filenames":["/t/libserde.rlib"]}"#,
        r#"{"reason":"compiler-message","message":{}}"#,
        r#"{"reason":"compiler-artifact","target":{"kind":["cdylib","rlib"]},"filenames":["/t/wasm32-wasip2/release/demo.wasm","/t/libdemo.rlib"]}"#,
        r#"{"reason":"build-finished","success":true}"#,
    ]
    .join("\n");
    assert_eq!(
        component_of(&messages),
        Some(PathBuf::from("/t/wasm32-wasip2/release/demo.wasm"))
    );
    assert_eq!(component_of(r#"{"reason":"build-finished","success":true}"#), None);
}

#[test]
fn placing_a_component_replaces_the_old_one_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let built = dir.path().join("built.wasm");
    std::fs::write(&built, b"new component").unwrap();
    let component = dir.path().join("nested/demo.wasm");
    std::fs::create_dir_all(component.parent().unwrap()).unwrap();
    std::fs::write(&component, b"old").unwrap();
    assert_eq!(place(&built, &component).unwrap(), 13);
    assert_eq!(std::fs::read(&component).unwrap(), b"new component");
    assert!(!dir.path().join("nested/demo.wasm.tmp").exists());
}

const INTERCEPTOR_TEXT: &str = r#"
manifest-version = 1
kind = "interceptor"
name = "audit"
version = "0.1.0"
component = "audit.wasm"
events = ["consume"]
"#;

#[test]
fn an_interceptor_project_is_validated_as_one_and_refused_where_its_sdk_has_none() {
    let (_home, tools) = bare_toolbox();
    let js = project(&["app.js"]);
    std::fs::write(js.path().join(MANIFEST), INTERCEPTOR_TEXT).unwrap();
    let error = build(js.path(), &tools).unwrap_err();
    assert!(matches!(error, BuildError::NoInterceptorBuild("JavaScript")), "{error}");
    assert!(
        error
            .to_string()
            .contains("fix: write the interceptor in Rust or Python"),
        "{error}"
    );
    // Python gets past the manifest (a processor's checks would refuse it) to its tool.
    let python = project(&["app.py"]);
    std::fs::write(python.path().join(MANIFEST), INTERCEPTOR_TEXT).unwrap();
    let message = build(python.path(), &tools).unwrap_err().to_string();
    assert!(message.starts_with("componentize-py is missing: "), "{message}");
    // An invalid interceptor manifest is reported as such.
    std::fs::write(
        python.path().join(MANIFEST),
        INTERCEPTOR_TEXT.replace("events = [\"consume\"]", ""),
    )
    .unwrap();
    let error = build(python.path(), &tools).unwrap_err();
    assert!(matches!(error, BuildError::Manifest(_)), "{error}");
    assert!(error.to_string().contains("events"), "{error}");
}
