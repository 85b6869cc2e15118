//! What can go wrong in `rill build`, each worded with the fix a user can
//! act on (the missing tool and `scripts/setup.sh`, the file to add, ...).

use crate::manifest::ManifestErrors;
use std::path::PathBuf;
use thiserror::Error;

/// Why a project was not built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The path given is not a folder.
    #[error("{0}: no such project folder\n  fix: pass the folder `rill new` made (it holds plugin.toml)")]
    NoProject(PathBuf),
    /// The folder has no manifest to build for.
    #[error(
        "{0}: no plugin.toml here\n  fix: pass the folder `rill new` made (it holds plugin.toml), or write a manifest (docs/manifest.md)"
    )]
    NoManifest(PathBuf),
    /// The manifest is invalid: building for it would make no sense.
    #[error("{0}")]
    Manifest(#[from] ManifestErrors),
    /// None of the languages' marker files is in the folder.
    #[error(
        "{dir}: cannot tell the project's language: it has none of {markers}\n  fix: build a folder made by `rill new --lang ...`, or add the file for its language"
    )]
    UnknownLanguage {
        /// The project folder.
        dir: PathBuf,
        /// The marker files looked for, with their languages.
        markers: String,
    },
    /// More than one language's marker file is in the folder.
    #[error(
        "{dir}: the project looks like {found}, one at a time please\n  fix: keep only one language's file in the folder ({markers})"
    )]
    AmbiguousLanguage {
        /// The project folder.
        dir: PathBuf,
        /// The languages whose markers were found.
        found: String,
        /// The marker files, with their languages.
        markers: String,
    },
    /// The project is an interceptor in a language whose SDK has none.
    #[error(
        "{0} interceptors cannot be built yet: its SDK has no interceptor bindings\n  fix: write the interceptor in Rust or Python (docs/interceptors.md)"
    )]
    NoInterceptorBuild(&'static str),
    /// The rill checkout (SDKs, WIT, build tools) is not where it was looked for.
    #[error(
        "the rill checkout was not found at {0} (no scripts/setup.sh there)\n  fix: set RILL_HOME (or --rill-home) to the rill checkout that `rill` was built from"
    )]
    NoRillHome(PathBuf),
    /// A tool the build needs is not installed.
    #[error("{tool} is missing: {path} does not exist\n  fix: {fix}")]
    MissingTool {
        /// The tool's name.
        tool: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// How to install it (scripts/setup.sh, for everything it installs).
        fix: String,
    },
    /// A tool could not be started at all.
    #[error("cannot run {program}: {source}\n  fix: {fix}")]
    Spawn {
        /// The program.
        program: String,
        /// Why it did not start.
        source: std::io::Error,
        /// How to install it.
        fix: String,
    },
    /// A build step ran and failed; its output says why.
    #[error("{step} failed ({status}):\n{output}")]
    StepFailed {
        /// The command line, shortened to the tool and what it did.
        step: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed (stderr, or stdout when stderr is empty).
        output: String,
    },
    /// A build step succeeded but its component is not where it said.
    #[error("{step} succeeded but wrote no component ({detail})")]
    NoComponent {
        /// The step.
        step: String,
        /// What was looked for.
        detail: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl BuildError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { path, source }
    }
}
