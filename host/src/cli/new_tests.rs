//! `rill new` for every language, parsed by the real command line: every
//! template placeholder is filled, the manifest is valid and names
//! `<name>.wasm` next to it, the spec file points at it, and the project
//! points at the checkout's SDK (the builds run end to end in
//! tests/tests/scaffold.rs).

use super::{Cli, Command};
use crate::build::Language;
use crate::manifest::Manifest;
use clap::{Parser, ValueEnum};
use std::path::Path;

fn scaffold(dir: &Path, lang: &str) {
    let cli = Cli::parse_from([
        "rill",
        "new",
        "my-filter",
        "--lang",
        lang,
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let Command::New(args) = cli.command else {
        panic!("not rill new")
    };
    super::new::run(args).unwrap();
}

/// Every file of the project, recursively, but not through links.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            found.extend(files(&entry.path()));
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
    found
}

#[test]
fn every_language_scaffolds_a_complete_project_on_its_sdk() {
    for language in Language::ALL {
        let lang = language.to_possible_value().unwrap().get_name().to_string();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("my-filter");
        scaffold(&dir, &lang);
        for file in files(&dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                !text.contains("{{"),
                "{lang}: {} keeps a placeholder:\n{text}",
                file.display()
            );
        }
        assert!(
            dir.join(language.marker()).is_file(),
            "{lang}: no {}",
            language.marker()
        );
        let manifest = Manifest::load(&dir.join("plugin.toml")).unwrap();
        assert_eq!(manifest.component, dir.join("my-filter.wasm"), "{lang}");
        assert_eq!(manifest.config["min-length"], 5, "{lang}");
        let spec = std::fs::read_to_string(dir.join("tests/filter.toml")).unwrap();
        assert!(spec.contains("manifest = \"../plugin.toml\""), "{lang}");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("rill build {}", dir.display())),
            "{lang}: {readme}"
        );
        assert_eq!(crate::build::Language::detect(&dir).unwrap(), language);
    }
}

#[test]
fn each_project_points_at_the_checkouts_sdk() {
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let root = tempfile::tempdir().unwrap();
    scaffold(&root.path().join("r"), "rust");
    let cargo = std::fs::read_to_string(root.path().join("r/Cargo.toml")).unwrap();
    assert!(
        cargo.contains(&format!(
            "rill-sdk = {{ path = \"{}\" }}",
            home.join("guest-sdk").display()
        )),
        "{cargo}"
    );
    assert!(root.path().join("r/Cargo.lock").is_file(), "rill's lock file is copied");
    scaffold(&root.path().join("p"), "python");
    let ini = std::fs::read_to_string(root.path().join("p/pytest.ini")).unwrap();
    assert!(
        ini.contains(&format!("pythonpath = {}", home.join("guest-sdk/python").display())),
        "{ini}"
    );
    scaffold(&root.path().join("j"), "js");
    let link = std::fs::read_link(root.path().join("j/node_modules/rill-sdk")).unwrap();
    assert_eq!(link, home.join("guest-sdk/js"));
    scaffold(&root.path().join("c"), "c");
    let flags = std::fs::read_to_string(root.path().join("c/compile_flags.txt")).unwrap();
    assert!(
        flags.contains(&format!("-I{}", home.join("guest-sdk/c").display())),
        "{flags}"
    );
    let readme = std::fs::read_to_string(root.path().join("c/README.md")).unwrap();
    assert!(
        readme.contains(&format!("{} app_test.c", home.join("tools/c/test.sh").display())),
        "{readme}"
    );
}

#[test]
fn a_non_empty_folder_is_left_alone() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("keep.txt"), "mine").unwrap();
    let cli = Cli::parse_from(["rill", "new", "my-filter", "--dir", root.path().to_str().unwrap()]);
    let Command::New(args) = cli.command else {
        panic!("not rill new")
    };
    let error = super::new::run(args).unwrap_err().to_string();
    assert!(error.contains("already exists and is not empty"), "{error}");
    assert!(!root.path().join("plugin.toml").exists());
}
