//! Builds the sample plugins for wasm32-wasip2 so tests never run a stale or
//! checked-in component. The nested cargo uses its own target directory
//! (`<target>/wasm`, shared with scripts/build-plugins.sh) to avoid waiting
//! on the outer build's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const PLUGINS: [&str; 18] = [
    "order-window-count",
    "order-sliding-count",
    "order-payment-join",
    "order-customer-join",
    "cpu-peak",
    "metric-branch",
    "metric-route",
    "cpu-alert",
    "order-join",
    "order-count",
    "fixture-misbehave",
    "fixture-window-gate",
    "fixture-wrong-world",
    "consumer-interceptor",
    "producer-interceptor",
    "fixture-bad-interceptor",
    "fixture-edit-interceptor",
    "fixture-files",
];

fn main() {
    // Read at run time: a build script compiled for another checkout (same
    // target directory) must still build this checkout's plugins.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest_dir).parent().expect("workspace root").to_path_buf();
    for dir in [
        "plugins",
        "guest-sdk",
        "wit",
        "tools/js/build-plugin.sh",
        "tools/js/package.json",
        "tools/c/build-plugin.sh",
        "tools/c-component",
    ] {
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
    cargo.current_dir(&root).env("CARGO_TARGET_DIR", &wasm_target).args([
        "build",
        "--quiet",
        "--profile",
        "plugin",
        "--target",
        "wasm32-wasip2",
    ]);
    for plugin in PLUGINS {
        cargo.args(["-p", plugin]);
    }
    let status = cargo.status().expect("running cargo for the plugins");
    assert!(
        status.success(),
        "building the plugins for wasm32-wasip2 failed (is the target installed? scripts/setup.sh adds it)"
    );
    for plugin in PLUGINS {
        let file = wasm_target
            .join("wasm32-wasip2/plugin")
            .join(format!("{}.wasm", plugin.replace('-', "_")));
        assert!(file.exists(), "{} was not built", file.display());
        let var = format!("RILL_PLUGIN_{}", plugin.replace('-', "_").to_uppercase());
        println!("cargo:rustc-env={var}={}", file.display());
    }
    build_python(&root, &wasm_target);
    build_javascript(&root, &target, &wasm_target);
    build_c(&root, &target, &wasm_target);
}

/// The WIT a Python or JavaScript plugin is built against: its own `wit`
/// (a link to `wit/0.1.0`, `wit/0.2.0` or `wit/0.3.0` for the samples kept on an older world, to prove
/// such components still run) or the current one.
fn wit_dir(root: &Path, plugin: &str) -> PathBuf {
    let own = root.join("plugins").join(plugin).join("wit");
    if own.exists() { own } else { root.join("wit") }
}

/// Whether the plugin in `dir` is an interceptor (`kind = "interceptor"`
/// before the manifest's first table; read as text, as this build script
/// has no TOML parser), built for the `rill:interceptor` world.
fn is_interceptor(dir: &Path) -> bool {
    let text = std::fs::read_to_string(dir.join("plugin.toml")).unwrap_or_default();
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .take_while(|line| !line.starts_with('['))
        .any(|line| line.replace(' ', "") == "kind=\"interceptor\"")
}

/// Python processors and interceptors (every plugin directory with an `app.py`) are built
/// with componentize-py, which scripts/setup.sh installs, bundling the rill
/// Python SDK (`guest-sdk/python`) into each component.
fn build_python(root: &Path, out_dir: &Path) {
    let tool = std::env::var("RILL_COMPONENTIZE_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let home = std::env::var("HOME").expect("HOME");
            let tools = std::env::var("RILL_TOOLS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| Path::new(&home).join(".cache/rill/tools"));
            tools.join("venv/bin/componentize-py")
        });
    println!("cargo:rerun-if-env-changed=RILL_COMPONENTIZE_PY");
    let sdk = root.join("guest-sdk/python");
    let mut plugins: Vec<String> = std::fs::read_dir(root.join("plugins"))
        .expect("reading plugins/")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("app.py").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    plugins.sort();
    for plugin in &plugins {
        let plugin = plugin.as_str();
        let dir = root.join("plugins").join(plugin);
        let output = out_dir.join(format!("{plugin}.wasm"));
        let (wit, world) = if is_interceptor(&dir) {
            (root.join("wit/interceptor"), "interceptor")
        } else {
            (wit_dir(root, plugin), "processor")
        };
        let status = Command::new(&tool)
            .args(["-d"])
            .arg(wit)
            .args(["-w", world, "componentize", "-p"])
            .arg(&dir)
            .arg("-p")
            .arg(&sdk)
            .args(["app", "-o"])
            .arg(&output)
            // The build imports app.py; keep its bytecode out of the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "running {} failed ({e}); run scripts/setup.sh to install componentize-py",
                    tool.display()
                )
            });
        assert!(status.success(), "componentize-py could not build {plugin}");
        println!(
            "cargo:rustc-env=RILL_PLUGIN_{}={}",
            plugin.replace('-', "_").to_uppercase(),
            output.display()
        );
    }
}

/// JavaScript processors (every plugin directory with an `app.js`) are
/// built by tools/js/build-plugin.sh: esbuild bundles the app with rill-sdk
/// (guest-sdk/js) into one module, then componentize-js builds it (both
/// pinned in tools/js/package.json, installed by scripts/setup.sh).
fn build_javascript(root: &Path, target: &Path, out_dir: &Path) {
    build_by_script(
        root,
        target,
        out_dir,
        "app.js",
        "tools/js/build-plugin.sh",
        "run scripts/setup.sh to install esbuild and componentize-js",
    );
}

/// C processors (every plugin directory with an `app.c`) are built by
/// tools/c/build-plugin.sh: clang (wasm32-wasi) compiles the app with the C
/// SDK (guest-sdk/c), then tools/c-component (built once into
/// `<target>/c-component`) makes the component.
fn build_c(root: &Path, target: &Path, out_dir: &Path) {
    build_by_script(
        root,
        target,
        out_dir,
        "app.c",
        "tools/c/build-plugin.sh",
        "run scripts/setup.sh to install clang, wasi-libc and tools/c-component",
    );
}

/// Builds every plugin directory holding `marker` with `script PLUGIN_DIR
/// WIT_DIR OUT.wasm` and exports its component's path as
/// `RILL_PLUGIN_<NAME>`.
fn build_by_script(root: &Path, target: &Path, out_dir: &Path, marker: &str, script: &str, hint: &str) {
    let mut plugins: Vec<String> = std::fs::read_dir(root.join("plugins"))
        .expect("reading plugins/")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join(marker).exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    plugins.sort();
    for plugin in plugins {
        let output = out_dir.join(format!("{plugin}.wasm"));
        let status = Command::new("bash")
            .current_dir(root)
            // Where tools/c/build-plugin.sh keeps tools/c-component's build.
            .env("CARGO_TARGET_DIR", target)
            // The outer cargo's settings would leak into a nested build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .arg(script)
            .arg(root.join("plugins").join(&plugin))
            .arg(wit_dir(root, &plugin))
            .arg(&output)
            .status()
            .unwrap_or_else(|e| panic!("running {script} failed ({e})"));
        assert!(status.success(), "{script} could not build {plugin} ({hint})");
        println!(
            "cargo:rustc-env=RILL_PLUGIN_{}={}",
            plugin.replace('-', "_").to_uppercase(),
            output.display()
        );
    }
}
