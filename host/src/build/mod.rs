//! `rill build`: one way to build a processor project into its component,
//! whatever its language. The project folder holds `plugin.toml` and one
//! language's marker file (`Cargo.toml`, `app.py`, `app.js`, `app.c`); the component
//! is written where the manifest's `component` says (next to it, for
//! projects made by `rill new`), by writing a temporary file and renaming
//! it, so a `rill run` watching the file never loads half of one.
//!
//! An interceptor's project (`kind = "interceptor"` in plugin.toml) is built
//! for the `rill:interceptor` world ([`World`]); Rust and Python can build
//! one, JavaScript and C not yet.
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
mod world;

pub use error::BuildError;
pub use language::Language;
pub use toolbox::Toolbox;
pub use world::World;

use crate::manifest::{InterceptorManifest, Manifest};
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
    let (component, world) = target(&manifest_path)?;
    if world == World::Interceptor && !matches!(language, Language::Rust | Language::Python) {
        return Err(BuildError::NoInterceptorBuild(language.title()));
    }
    let scratch = tempfile::Builder::new()
        .prefix("rill-build-")
        .tempdir()
        .map_err(BuildError::io(std::env::temp_dir()))?;
    let out = scratch.path().join("component.wasm");
    language.toolchain().build(&dir, world, tools, scratch.path(), &out)?;
    if !out.is_file() {
        return Err(BuildError::NoComponent {
            step: format!("the {} build", language.title()),
            detail: format!("{} is missing", out.display()),
        });
    }
    let bytes = place(&out, &component)?;
    Ok(Built {
        language,
        component,
        bytes,
    })
}

/// The component a project's manifest names and the world it needs, the
/// manifest validated as the kind it declares.
fn target(manifest_path: &Path) -> Result<(PathBuf, World), BuildError> {
    let text = std::fs::read_to_string(manifest_path).map_err(BuildError::io(manifest_path))?;
    // A file that does not parse is reported by the processor manifest's checks.
    let kind = text.parse::<toml::Table>().ok().and_then(|t| t.get("kind").cloned());
    if kind.as_ref().and_then(toml::Value::as_str) == Some("interceptor") {
        let manifest = InterceptorManifest::parse(manifest_path, &text)?;
        return Ok((manifest.component, World::Interceptor));
    }
    Ok((Manifest::parse(manifest_path, &text)?.component, World::Processor))
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
