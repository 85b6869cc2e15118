//! `rill build`: one way to build a processor project into its component,
//! whatever its language. The project folder holds `plugin.toml` and one
//! language's marker file (`Cargo.toml`, `app.py`, `app.js`, `app.c`); the component
//! is written where the manifest's `component` says (next to it, for
//! projects made by `rill new`), by writing a temporary file and renaming
//! it, so a `rill run` watching the file never loads half of one.
//!
//! Only what scripts/setup.sh installed is used ([`Toolbox`]); each
//! language's steps are a [`toolchain::Toolchain`] in a file of its own.

mod c;
mod error;
mod js;
mod language;
mod python;
mod rust;
#[cfg(test)]
mod tests;
mod toolbox;
mod toolchain;

pub use error::BuildError;
pub use language::Language;
pub use toolbox::Toolbox;

use crate::manifest::Manifest;
use std::path::{Path, PathBuf};

/// The manifest file of a project folder.
pub const MANIFEST: &str = "plugin.toml";

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    /// The project's language.
    pub language: Language,
    /// Where the component now is (the manifest's `component`).
    pub component: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Builds the project in `dir` and places its component where its manifest
/// says.
pub fn build(dir: &Path, tools: &Toolbox) -> Result<Built, BuildError> {
    if !dir.is_dir() {
        return Err(BuildError::NoProject(dir.to_path_buf()));
    }
    let dir = dir.canonicalize().map_err(BuildError::io(dir))?;
    let manifest_path = dir.join(MANIFEST);
    if !manifest_path.is_file() {
        return Err(BuildError::NoManifest(dir));
    }
    let language = Language::detect(&dir)?;
    let manifest = Manifest::load(&manifest_path)?;
    let scratch = tempfile::Builder::new()
        .prefix("rill-build-")
        .tempdir()
        .map_err(BuildError::io(std::env::temp_dir()))?;
    let out = scratch.path().join("component.wasm");
    language.toolchain().build(&dir, tools, scratch.path(), &out)?;
    if !out.is_file() {
        return Err(BuildError::NoComponent {
            step: format!("the {} build", language.title()),
            detail: format!("{} is missing", out.display()),
        });
    }
    let bytes = place(&out, &manifest.component)?;
    Ok(Built {
        language,
        component: manifest.component,
        bytes,
    })
}

/// Copies `built` to `<component>.tmp` beside `component`, then renames it
/// over `component` (atomic on one file system). Returns the size.
fn place(built: &Path, component: &Path) -> Result<u64, BuildError> {
    if let Some(parent) = component.parent() {
        std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
    }
    let mut temporary = component.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let bytes = std::fs::copy(built, &temporary).map_err(BuildError::io(&temporary))?;
    std::fs::rename(&temporary, component).map_err(BuildError::io(component))?;
    Ok(bytes)
}
