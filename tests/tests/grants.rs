//! `[[grants]]` end to end: the real binary runs `plugins/fixture-files`
//! (each record's value is a file operation, each output what came of it)
//! under `rill test`, in a working directory with three grants: `logs`
//! (append, 32 bytes), `ref` (read) and `scratch` seen as `/tmp`
//! (read-write, 1 KiB). The spec checks what the plugin saw; the test then
//! checks what is on the host's disk. `rill validate` shows the grants and
//! refuses a missing or symlinked directory at load.

use rill_tests::{install_plugin, rill};
use std::path::Path;

const MANIFEST: &str = r#"manifest-version = 1
name = "files"
version = "0.1.0"
component = "fixture-files.wasm"
dead-letter = "dlq"

[[inputs]]
topic = "in"

[outputs]
out = "out"

[[grants]]
dir = "logs"
access = "append"
max-size = "32B"
create = true

[[grants]]
dir = "ref"
access = "read"

[[grants]]
dir = "scratch"
guest = "/tmp"
access = "read-write"
max-size = "1KiB"
create = true
"#;

/// (command, what the plugin must see), in order: one case, one task, so
/// each step sees the files the steps before it left.
const STEPS: &[(&str, &str)] = &[
    // append: new files and bytes at the end land; nothing else does.
    ("append /logs/app.log hello\n", "ok"),
    ("append /logs/app.log world\n", "ok"),
    ("read /logs/app.log", "ok: hello\nworld\n"),
    ("overwrite /logs/app.log HELLO", "err: PermissionDenied"),
    ("create /logs/app.log truncated", "err: PermissionDenied"),
    ("delete /logs/app.log", "err: PermissionDenied"),
    ("rename /logs/app.log /logs/moved.log", "err: PermissionDenied"),
    ("mkdir /logs/day", "ok"),
    // max-size: 12 bytes are there; 30 more do not fit, 20 do, then 1 does
    // not, whether written through a stream (std: EIO) or with one
    // `descriptor.write` (insufficient-space).
    ("fill /logs/big.log 30", "err: Uncategorized"),
    ("fill /logs/big.log 20", "ok"),
    ("append /logs/app.log !", "err: Uncategorized"),
    ("pwrite app.log !", "err: insufficient-space"),
    // read: reading only.
    ("read /ref/data.txt", "ok: reference"),
    ("list /ref", "ok: data.txt,inner-link,secret-link"),
    ("append /ref/data.txt more", "err: PermissionDenied"),
    ("create /ref/new.txt x", "err: PermissionDenied"),
    ("delete /ref/data.txt", "err: PermissionDenied"),
    // links placed on the host are never followed, wherever they point.
    ("read /ref/secret-link", "err: PermissionDenied"),
    ("read /ref/inner-link", "err: PermissionDenied"),
    // and the plugin cannot make any.
    ("symlink made-link app.log", "err: not-permitted"),
    ("hardlink made-hardlink app.log", "err: not-permitted"),
    // escapes and ungranted paths.
    ("read /logs/../secret.txt", "err: PermissionDenied"),
    ("read /tmp/../ref/data.txt", "err: PermissionDenied"),
    ("read /secret.txt", "err: NotFound"),
    ("read /etc/passwd", "err: NotFound"),
    ("list /", "err: NotFound"),
    // read-write: everything, within 1 KiB.
    ("create /tmp/a.txt abc", "ok"),
    ("overwrite /tmp/a.txt X", "ok"),
    ("read /tmp/a.txt", "ok: Xbc"),
    ("rename /tmp/a.txt /tmp/b.txt", "ok"),
    ("fill /tmp/c 1022", "err: Uncategorized"),
    ("delete /tmp/b.txt", "ok"),
    ("fill /tmp/c 1022", "ok"),
];

fn toml_string(text: &str) -> String {
    format!("{text:?}")
}

#[test]
fn a_plugin_reaches_its_granted_directories_with_their_access_and_nothing_else() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let manifest = install_plugin(root, "fixture-files");
    std::fs::write(&manifest, MANIFEST).unwrap();
    std::fs::create_dir(root.join("ref")).unwrap();
    std::fs::write(root.join("ref/data.txt"), "reference").unwrap();
    std::fs::write(root.join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("ref/secret-link")).unwrap();
    std::os::unix::fs::symlink("data.txt", root.join("ref/inner-link")).unwrap();

    let mut spec = String::from("manifest = \"plugin.toml\"\n[[case]]\nname = \"grants\"\ninput = [\n");
    for (command, _) in STEPS {
        spec.push_str(&format!("  {{ value = {} }},\n", toml_string(command)));
    }
    spec.push_str("]\nexpect.out = [\n");
    for (_, seen) in STEPS {
        spec.push_str(&format!("  {{ value = {} }},\n", toml_string(seen)));
    }
    spec.push_str("]\nexpect.dlq = []\n");
    let spec_file = manifest.parent().unwrap().join("grants.toml");
    std::fs::write(&spec_file, spec).unwrap();

    let output = rill()
        .current_dir(root)
        .args(["test"])
        .arg(&spec_file)
        .env("RILL_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // What landed on the host.
    assert_eq!(
        std::fs::read_to_string(root.join("logs/app.log")).unwrap(),
        "hello\nworld\n"
    );
    assert_eq!(std::fs::read(root.join("logs/big.log")).unwrap(), vec![b'x'; 20]);
    assert!(root.join("logs/day").is_dir());
    assert_eq!(
        names(&root.join("logs")),
        ["app.log", "big.log", "day"],
        "no links, no moves"
    );
    assert_eq!(names(&root.join("ref")), ["data.txt", "inner-link", "secret-link"]);
    assert_eq!(std::fs::read_to_string(root.join("ref/data.txt")).unwrap(), "reference");
    assert_eq!(std::fs::read_to_string(root.join("secret.txt")).unwrap(), "secret");
    assert_eq!(names(&root.join("scratch")), ["c"]);
    assert_eq!(std::fs::read(root.join("scratch/c")).unwrap(), vec![b'x'; 1022]);

    // `rill validate` lists the grants with what they hold now.
    let output = validate(root, &manifest);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("  grant: /logs -> logs (append, max-size 32B, created if missing): 32 bytes in use\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  grant: /ref -> ref (read)\n"), "{stdout}");
    assert!(
        stdout
            .contains("  grant: /tmp -> scratch (read-write, max-size 1KiB, created if missing): 1022 bytes in use\n"),
        "{stdout}"
    );
}

#[test]
fn a_missing_or_symlinked_directory_refuses_the_plugin_at_load() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    let manifest = install_plugin(root, "fixture-files");
    let validate = |text: &str| {
        std::fs::write(&manifest, text).unwrap();
        let output = validate(root, &manifest);
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let missing = MANIFEST.replace("create = true\n", "");
    let stderr = validate(&missing);
    assert!(
        stderr.contains(&format!(
            "{}: `grants[0].dir`: \"logs\" does not exist (relative paths start at the directory rill runs in)\n  fix: create the directory, or add `create = true` to this grant",
            manifest.display()
        )),
        "{stderr}"
    );
    assert!(!root.join("logs").exists());

    std::fs::create_dir(root.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("elsewhere", root.join("logs")).unwrap();
    std::fs::create_dir(root.join("ref")).unwrap();
    let stderr = validate(MANIFEST);
    assert!(
        stderr.contains("`grants[0].dir`: \"logs\" is a symbolic link (to \"elsewhere\"); grants never follow links"),
        "{stderr}"
    );
}

/// `rill validate MANIFEST` run in `dir` (grants are relative to it).
fn validate(dir: &Path, manifest: &Path) -> std::process::Output {
    rill()
        .current_dir(dir)
        .arg("validate")
        .arg(manifest)
        .env("RILL_LOG", "warn")
        .output()
        .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
