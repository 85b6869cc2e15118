//! Where the things a build needs are: the rill checkout (SDKs, WIT, the
//! JavaScript build script) and what scripts/setup.sh installed
//! (componentize-py and pytest in the tools venv, componentize-js and esbuild
//! in tools/js/node_modules, clang and the tools/c-component tool for C).
//! `rill build` installs nothing itself: a missing piece is an error naming
//! it and `scripts/setup.sh`.

use super::error::BuildError;
use std::path::{Path, PathBuf};

/// The located rill checkout, tools folder and Rust build cache.
#[derive(Debug, Clone)]
pub struct Toolbox {
    /// The rill checkout: guest-sdk/, wit/, tools/js/, scripts/setup.sh.
    home: PathBuf,
    /// scripts/setup.sh's tools folder (`RILL_TOOLS_DIR`, by default
    /// ~/.cache/rill/tools): the Python venv.
    tools: PathBuf,
    /// Cargo's target folder for Rust projects, shared by every project so
    /// rill-sdk and its dependencies compile once.
    rust_target: PathBuf,
    /// Cargo's target folder of the checkout's own tools
    /// (`$CARGO_TARGET_DIR`, else `<checkout>/target`): scripts/setup.sh
    /// builds tools/c-component into its `c-component` folder, and
    /// tools/c/build-plugin.sh looks for it there.
    tools_target: PathBuf,
    /// The C compiler named explicitly (`RILL_CLANG`, as
    /// tools/c/build-plugin.sh honours it), instead of Debian's clang-14.
    clang: Option<PathBuf>,
    /// componentize-py named explicitly (`RILL_COMPONENTIZE_PY`, as
    /// scripts/build-plugins.sh honours it), instead of the venv's.
    componentize_py: Option<PathBuf>,
}

impl Toolbox {
    /// Locates everything from the flags given and the environment: the
    /// checkout is `home`, else `RILL_HOME`, else the one this binary was
    /// built from; the Rust target folder is `rust_target`, else
    /// `RILL_BUILD_TARGET`, else `$CARGO_TARGET_DIR/rill-build`, else
    /// ~/.cache/rill/build-target.
    pub fn locate(home: Option<PathBuf>, rust_target: Option<PathBuf>) -> Toolbox {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let cache = env("HOME")
            .unwrap_or_else(std::env::temp_dir)
            .join(".cache")
            .join("rill");
        let home = home
            .or_else(|| env("RILL_HOME"))
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        let rust_target = rust_target
            .or_else(|| env("RILL_BUILD_TARGET"))
            .or_else(|| env("CARGO_TARGET_DIR").map(|dir| dir.join("rill-build")))
            .unwrap_or_else(|| cache.join("build-target"));
        let home = home.canonicalize().unwrap_or(home);
        Toolbox {
            tools: env("RILL_TOOLS_DIR").unwrap_or_else(|| cache.join("tools")),
            rust_target,
            tools_target: env("CARGO_TARGET_DIR").unwrap_or_else(|| home.join("target")),
            clang: env("RILL_CLANG"),
            componentize_py: env("RILL_COMPONENTIZE_PY"),
            home,
        }
    }

    /// A toolbox with every location given, for tests (the checkout's
    /// tools are built into `<home>/target`, clang is found on PATH).
    pub fn new(home: PathBuf, tools: PathBuf, rust_target: PathBuf) -> Toolbox {
        Toolbox {
            tools_target: home.join("target"),
            home,
            tools,
            rust_target,
            clang: None,
            componentize_py: None,
        }
    }

    /// The rill checkout, checked to be one (it holds scripts/setup.sh).
    pub fn home(&self) -> Result<&Path, BuildError> {
        if self.home.join("scripts/setup.sh").is_file() {
            Ok(&self.home)
        } else {
            Err(BuildError::NoRillHome(self.home.clone()))
        }
    }

    /// A file or folder of the checkout (an SDK, the WIT, a script).
    pub fn in_home(&self, relative: &str) -> Result<PathBuf, BuildError> {
        let path = self.home()?.join(relative);
        if path.exists() {
            Ok(path)
        } else {
            Err(BuildError::NoRillHome(self.home.clone()))
        }
    }

    /// The WIT folder a project is built against: its own `wit/` when it
    /// has one (a plugin pinned to an older world), else the checkout's.
    pub fn wit_for(&self, project: &Path) -> Result<PathBuf, BuildError> {
        let own = project.join("wit");
        if own.exists() { Ok(own) } else { self.in_home("wit") }
    }

    /// Cargo's target folder for Rust projects.
    pub fn rust_target(&self) -> &Path {
        &self.rust_target
    }

    /// componentize-py, from scripts/setup.sh's venv.
    pub fn componentize_py(&self) -> Result<PathBuf, BuildError> {
        match &self.componentize_py {
            Some(path) => self.installed("componentize-py", path.clone()),
            None => self.installed("componentize-py", self.tools.join("venv/bin/componentize-py")),
        }
    }

    /// pytest, from scripts/setup.sh's venv (the Python projects' native tests).
    pub fn pytest(&self) -> Result<PathBuf, BuildError> {
        self.installed("pytest", self.tools.join("venv/bin/pytest"))
    }

    /// A JavaScript build tool (`componentize-js`, `esbuild`) from the
    /// checkout's tools/js/node_modules.
    pub fn js_tool(&self, tool: &'static str) -> Result<PathBuf, BuildError> {
        let path = self.home()?.join("tools/js/node_modules/.bin").join(tool);
        self.installed(tool, path)
    }

    /// Cargo's target folder of the checkout's tools (see `tools_target`).
    pub fn tools_target(&self) -> &Path {
        &self.tools_target
    }

    /// tools/c-component (C bindings of the WIT, and the core module wrapped
    /// into a component), where scripts/setup.sh and
    /// tools/c/build-plugin.sh build it.
    pub fn c_component(&self) -> Result<PathBuf, BuildError> {
        let path = self.tools_target.join("c-component/release/c-component");
        self.installed("c-component", path)
    }

    /// The C compiler for wasm32-wasi: `RILL_CLANG` when set, else Debian's
    /// clang-14 found on PATH (scripts/setup.sh installs it).
    pub fn clang(&self) -> Result<PathBuf, BuildError> {
        if let Some(clang) = &self.clang {
            return Ok(clang.clone());
        }
        const CLANG: &str = "clang-14";
        let on_path = std::env::var_os("PATH").map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(CLANG))
                .find(|p| p.is_file())
        });
        // Not on PATH: name where Debian's package puts it.
        let path = on_path.flatten().unwrap_or_else(|| Path::new("/usr/bin").join(CLANG));
        self.installed(CLANG, path)
    }

    /// `path` when it exists; else the error naming `tool` and setup.sh.
    fn installed(&self, tool: &'static str, path: PathBuf) -> Result<PathBuf, BuildError> {
        if path.exists() {
            return Ok(path);
        }
        Err(BuildError::MissingTool {
            tool,
            path,
            fix: self.setup_fix(tool),
        })
    }

    /// "run <checkout>/scripts/setup.sh (it installs TOOL)".
    pub fn setup_fix(&self, tool: &str) -> String {
        format!(
            "run {} (it installs {tool}, and does nothing when it is already there)",
            self.home.join("scripts/setup.sh").display()
        )
    }
}
