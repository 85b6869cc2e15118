//! `rill new`: scaffolds a processor project (Rust, Python or JavaScript)
//! with its manifest, a native unit test, and a README saying how to build,
//! test and run it.

use crate::manifest::check_processor_name;
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// Arguments of `rill new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Processor name: lowercase letters, digits and '-'.
    name: String,
    /// Language of the processor.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Directory to create (default: ./<name>).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Path to the rill-sdk crate, for Rust (default: the one rill was built from).
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// Languages `rill new` scaffolds.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

const WIT: &str = include_str!("../../../wit/processor.wit");
const MANIFEST: &str = include_str!("templates/manifest.toml");

/// Runs `rill new`.
pub fn run(args: NewArgs) -> anyhow::Result<()> {
    if let Err((problem, fix)) = check_processor_name(&args.name) {
        bail!("name {problem}\n  fix: {fix}");
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!(
            "{} already exists and is not empty\n  fix: pick another name or --dir",
            dir.display()
        );
    }
    let name = args.name.as_str();
    let snake = name.replace('-', "_");
    let (component, limits) = match args.lang {
        Lang::Rust => (format!("target/wasm32-wasip2/release/{snake}.wasm"), String::new()),
        // The interpreter lives in the instance's memory.
        Lang::Python | Lang::Js => (format!("{name}.wasm"), "\n[limits]\nmemory = \"256MiB\"\n".to_string()),
    };
    let fill = |text: &str, sdk: &str| {
        text.replace("{{name}}", name)
            .replace("{{component}}", &component)
            .replace("{{limits}}", &limits)
            .replace("{{sdk}}", sdk)
    };
    let mut files: Vec<(&str, String)> = vec![("plugin.toml", fill(MANIFEST, ""))];
    match args.lang {
        Lang::Rust => {
            let sdk = match &args.sdk {
                Some(sdk) => sdk.clone(),
                None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk"),
            };
            let sdk = sdk
                .canonicalize()
                .with_context(|| format!("rill-sdk not found at {}; pass --sdk", sdk.display()))?;
            let sdk = sdk.display().to_string();
            files.push(("Cargo.toml", fill(include_str!("templates/rust/Cargo.toml"), &sdk)));
            files.push(("src/lib.rs", fill(include_str!("templates/rust/lib.rs"), &sdk)));
            files.push(("README.md", readme(name, RUST_STEPS)));
        }
        Lang::Python => {
            files.push(("app.py", fill(include_str!("templates/python/app.py"), "")));
            files.push(("test_app.py", include_str!("templates/python/test_app.py").to_string()));
            files.push(("wit/processor.wit", WIT.to_string()));
            files.push(("README.md", readme(name, PYTHON_STEPS)));
        }
        Lang::Js => {
            files.push(("app.js", fill(include_str!("templates/js/app.js"), "")));
            files.push(("app.test.mjs", include_str!("templates/js/app.test.mjs").to_string()));
            files.push(("package.json", include_str!("templates/js/package.json").to_string()));
            files.push(("wit/processor.wit", WIT.to_string()));
            files.push(("README.md", readme(name, JS_STEPS)));
        }
    }
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "created {} ({:?}); next steps are in {}",
        dir.display(),
        args.lang,
        dir.join("README.md").display()
    );
    Ok(())
}

const RUST_STEPS: &str = "cargo test                                       # the processor, natively
cargo build --target wasm32-wasip2 --release     # the component plugin.toml names
rill validate plugin.toml                        # loads it and calls init";

const PYTHON_STEPS: &str = "pip install componentize-py==0.25.1
componentize-py -d wit -w processor bindings .   # the wit_world module, for tests and editors
python -m unittest test_app                      # the processor, natively
componentize-py -d wit -w processor componentize app -o {{name}}.wasm
rill validate plugin.toml                        # loads it and calls init";

const JS_STEPS: &str = "node --test                                      # the processor, natively
npm install @bytecodealliance/componentize-js@0.23.0
npx componentize-js app.js --wit wit -n processor --disable http fetch-event -o {{name}}.wasm
rill validate plugin.toml                        # loads it and calls init";

fn readme(name: &str, steps: &str) -> String {
    format!(
        "# {name}\n\nA rill processor. It reads `{name}.in` and writes records whose value is longer than\n`min-length` bytes to `{name}.out` (see `plugin.toml`). Change the logic, keep the test passing.\n\n```sh\n{}\nrill run plugin.toml --brokers localhost:9092 --application-id {name}\n```\n\nWhile `rill run` is running, rebuild and replace the component (write, then rename) to swap it in place.\n",
        steps.replace("{{name}}", name)
    )
}
