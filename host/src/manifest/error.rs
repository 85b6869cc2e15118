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
