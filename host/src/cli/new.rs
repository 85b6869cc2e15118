//! `rill new`: scaffolds a processor project on the rill SDK of its language
//! (Rust, Python, JavaScript or C): the manifest (component `<name>.wasm` next
//! to it), the processor, its native unit test, a `tests/` folder of
//! `rill test` specs and a README whose steps are `rill build`, `rill test`
//! and `rill run`. The project points at the SDKs of the rill checkout
//! (`--rill-home`), so nothing is installed at run time.
//!
//! A language is one entry of [`Scaffold::of`] plus its template folder
//! (`templates/<language>/`); the manifest, spec, README and .gitignore are
//! shared.

use crate::build::{Language, Toolbox};
use crate::manifest::check_processor_name;
use anyhow::{Context as _, bail};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `rill new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Processor name: lowercase letters, digits and '-'.
    name: String,
    /// Language of the processor.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Language,
    /// Directory to create (default: ./<name>).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Path to the language's SDK (default: the rill checkout's guest-sdk,
    /// guest-sdk/python, guest-sdk/js or guest-sdk/c).
    #[arg(long)]
    sdk: Option<PathBuf>,
    /// The rill checkout whose SDKs the project uses (default: the one rill
    /// was built from).
    #[arg(long, env = "RILL_HOME")]
    rill_home: Option<PathBuf>,
}

const MANIFEST: &str = include_str!("templates/manifest.toml");
const SPEC: &str = include_str!("templates/spec.toml");
const README: &str = include_str!("templates/README.md");
const GITIGNORE: &str = include_str!("templates/gitignore");

/// What one language adds to the shared files.
struct Scaffold {
    /// The language's files: (path in the project, template).
    files: &'static [(&'static str, &'static str)],
    /// The manifest's `[limits]` (interpreters live in the instance's memory).
    limits: &'static str,
    /// How the README says to run the native unit tests.
    native_test: String,
    /// The SDK location the templates name (`{{sdk}}`).
    sdk: PathBuf,
    /// A link the project needs into the SDK: (path in the project, target).
    link: Option<(&'static str, PathBuf)>,
    /// A file copied from the checkout: (path in the project, source).
    copy: Option<(&'static str, PathBuf)>,
}

/// `[limits]` of a language whose interpreter lives in the instance.
const INTERPRETER_LIMITS: &str =
    "\n[limits]\n# The interpreter itself lives in the instance's memory.\nmemory = \"256MiB\"\n";

impl Scaffold {
    /// The scaffold of `language`, its SDK found through `tools` (or `sdk`).
    fn of(language: Language, tools: &Toolbox, sdk: Option<&Path>) -> anyhow::Result<Scaffold> {
        let home_sdk = |relative: &str| -> anyhow::Result<PathBuf> {
            let path = match sdk {
                Some(sdk) => sdk.to_path_buf(),
                None => tools.in_home(relative)?,
            };
            path.canonicalize()
                .with_context(|| format!("the SDK is not at {}; pass --sdk or --rill-home", path.display()))
        };
        Ok(match language {
            Language::Rust => Scaffold {
                files: &[
                    ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
                    ("src/lib.rs", include_str!("templates/rust/lib.rs")),
                ],
                limits: "",
                native_test: "cargo test".into(),
                sdk: home_sdk("guest-sdk")?,
                link: None,
                // rill's own lock file: cargo resolves rill-sdk's dependencies
                // to the versions rill's build already downloaded and the
                // shared target folder already compiled (cargo drops the rest).
                copy: tools.in_home("Cargo.lock").ok().map(|lock| ("Cargo.lock", lock)),
            },
            Language::Python => Scaffold {
                files: &[
                    ("app.py", include_str!("templates/python/app.py")),
                    ("test_app.py", include_str!("templates/python/test_app.py")),
                    ("pytest.ini", include_str!("templates/python/pytest.ini")),
                ],
                limits: INTERPRETER_LIMITS,
                // The pytest scripts/setup.sh installed.
                native_test: tools.pytest()?.display().to_string(),
                sdk: home_sdk("guest-sdk/python")?,
                link: None,
                copy: None,
            },
            Language::Js => {
                let sdk = home_sdk("guest-sdk/js")?;
                Scaffold {
                    files: &[
                        ("app.js", include_str!("templates/js/app.js")),
                        ("app.test.js", include_str!("templates/js/app.test.js")),
                        ("package.json", include_str!("templates/js/package.json")),
                    ],
                    limits: INTERPRETER_LIMITS,
                    native_test: "node --test".into(),
                    // node resolves `rill-sdk` through node_modules; no npm install.
                    link: Some(("node_modules/rill-sdk", sdk.clone())),
                    copy: None,
                    sdk,
                }
            }
            Language::C => Scaffold {
                files: &[
                    ("app.c", include_str!("templates/c/app.c")),
                    ("app_test.c", include_str!("templates/c/app_test.c")),
                    // Where editors (clangd) find rill.h.
                    ("compile_flags.txt", include_str!("templates/c/compile_flags.txt")),
                ],
                limits: "",
                // The checkout's runner: gcc with the SDK and its test driver.
                native_test: format!("{} app_test.c", tools.in_home("tools/c/test.sh")?.display()),
                sdk: home_sdk("guest-sdk/c")?,
                link: None,
                copy: None,
            },
        })
    }
}

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
    let tools = Toolbox::locate(args.rill_home.clone(), None);
    let scaffold = Scaffold::of(args.lang, &tools, args.sdk.as_deref())?;
    let name = args.name.as_str();
    let shown = dir.display().to_string();
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{language}}", args.lang.title())
            .replace("{{limits}}", scaffold.limits)
            .replace("{{native_test}}", &scaffold.native_test)
            .replace("{{dir}}", &shown)
            .replace("{{sdk}}", &scaffold.sdk.display().to_string())
    };
    let shared = [
        ("plugin.toml", MANIFEST),
        ("tests/filter.toml", SPEC),
        ("README.md", README),
        (".gitignore", GITIGNORE),
    ];
    for (file, template) in shared.iter().chain(scaffold.files) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::fs::write(&path, fill(template)).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some((link, target)) = &scaffold.link {
        let path = dir.join(link);
        std::fs::create_dir_all(path.parent().unwrap_or(&dir))?;
        std::os::unix::fs::symlink(target, &path).with_context(|| format!("linking {}", path.display()))?;
    }
    if let Some((file, source)) = &scaffold.copy {
        let path = dir.join(file);
        std::fs::copy(source, &path).with_context(|| format!("copying {} to {}", source.display(), path.display()))?;
    }
    println!(
        "created {shown} ({}); next: rill build {shown} && rill test {shown} (see {})",
        args.lang.title(),
        dir.join("README.md").display()
    );
    Ok(())
}
