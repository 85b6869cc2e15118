//! The one error type of manifest loading, rendered for people.

use std::path::PathBuf;
use thiserror::Error;

/// Why a manifest was refused. The `Display` form is the whole message a
/// user sees: file, place, problem and fix.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file could not be read at all.
    #[error("{}: cannot read the manifest: {source}\n  fix: check the path; rill takes paths to plugin.toml files", file.display())]
    Read {
        /// The manifest path.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema (unknown or missing
    /// key, wrong type).
    #[error("{}:{line}:{column}: {message}\n  fix: {fix}", file.display())]
    Syntax {
        /// The manifest path.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the TOML parser said.
        message: String,
        /// What to write instead.
        fix: String,
    },
    /// A value is well-formed TOML but not acceptable.
    #[error("{}: `{field}`: {problem}\n  fix: {fix}", file.display())]
    Invalid {
        /// The manifest path.
        file: PathBuf,
        /// Dotted path of the field, e.g. `outputs.cpu`.
        field: String,
        /// What is wrong with its value.
        problem: String,
        /// What to write instead.
        fix: String,
    },
}

/// Every problem found in one or more manifests, in the order found, so
/// one run of `rill validate` or `rill run` shows them all instead of one
/// per attempt. Never empty; rendered one message after another.
#[derive(Debug, Error)]
#[error("{}", render(.0))]
pub struct ManifestErrors(Vec<ManifestError>);

impl ManifestErrors {
    /// Gathers `errors`; `None` when there are none (the manifests passed).
    pub fn gather(errors: Vec<ManifestError>) -> Option<ManifestErrors> {
        (!errors.is_empty()).then_some(ManifestErrors(errors))
    }

    /// The problems, for callers that report or count them one by one.
    pub fn errors(&self) -> &[ManifestError] {
        &self.0
    }

    /// The problems, for callers that gather them with others.
    pub fn into_errors(self) -> Vec<ManifestError> {
        self.0
    }
}

impl From<ManifestError> for ManifestErrors {
    fn from(error: ManifestError) -> Self {
        ManifestErrors(vec![error])
    }
}

/// Messages one after another, each on its own lines.
pub(crate) fn render<E: std::fmt::Display>(errors: &[E]) -> String {
    errors.iter().map(E::to_string).collect::<Vec<_>>().join("\n")
}
