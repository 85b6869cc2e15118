//! The languages a processor project can be written in, and how to tell a
//! project's language from the files in its folder. `rill new --lang` and
//! `rill build` share this list: a language is one more variant here, one
//! more [`Toolchain`] file and one more template folder for `rill new`.

use super::error::BuildError;
use super::toolchain::Toolchain;
use super::{c::C, js::Js, python::Python, rust::Rust};
use std::path::Path;

/// A processor language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust on `rill-sdk` (guest-sdk/), built by cargo for wasm32-wasip2.
    Rust,
    /// Python on the `rill` package (guest-sdk/python), built by componentize-py.
    Python,
    /// JavaScript on `rill-sdk` (guest-sdk/js), bundled by esbuild and built by componentize-js.
    Js,
    /// C on the C SDK (guest-sdk/c), compiled by clang for wasm32-wasi and
    /// wrapped into a component by tools/c-component.
    C,
}

impl Language {
    /// Every language, in the order detection reports them.
    pub const ALL: [Language; 4] = [Language::Rust, Language::Python, Language::Js, Language::C];

    /// The file whose presence in a project folder says the language.
    pub fn marker(self) -> &'static str {
        match self {
            Language::Rust => "Cargo.toml",
            Language::Python => "app.py",
            Language::Js => "app.js",
            Language::C => "app.c",
        }
    }

    /// The language's name in messages.
    pub fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
            Language::C => "C",
        }
    }

    /// The steps that build a component in this language.
    pub(crate) fn toolchain(self) -> &'static dyn Toolchain {
        match self {
            Language::Rust => &Rust,
            Language::Python => &Python,
            Language::Js => &Js,
            Language::C => &C,
        }
    }

    /// The language of the project in `dir`: exactly one language's marker
    /// file must be there.
    pub fn detect(dir: &Path) -> Result<Language, BuildError> {
        let found: Vec<Language> = Language::ALL
            .into_iter()
            .filter(|language| dir.join(language.marker()).is_file())
            .collect();
        match found.as_slice() {
            [language] => Ok(*language),
            [] => Err(BuildError::UnknownLanguage {
                dir: dir.to_path_buf(),
                markers: markers(),
            }),
            several => Err(BuildError::AmbiguousLanguage {
                dir: dir.to_path_buf(),
                found: several
                    .iter()
                    .map(|l| format!("{} ({})", l.title(), l.marker()))
                    .collect::<Vec<_>>()
                    .join(" and "),
                markers: markers(),
            }),
        }
    }
}

/// "Cargo.toml (Rust), app.py (Python), app.js (JavaScript), app.c (C)".
fn markers() -> String {
    Language::ALL
        .iter()
        .map(|l| format!("{} ({})", l.marker(), l.title()))
        .collect::<Vec<_>>()
        .join(", ")
}
