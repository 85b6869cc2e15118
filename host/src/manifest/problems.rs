//! What every check of a manifest shares: the problems found so far (each
//! naming the file, the field and the fix) and the byte sizes manifests
//! write (`64MiB`). A file of its own so the checks of each part
//! (`validate.rs`, `grants.rs`, `interceptor.rs`) import it one way.

use super::ManifestError;
use std::path::Path;

/// Why a value was refused: what is wrong with it, and what to write instead.
pub(super) type Refusal = (String, String);

/// The problems found so far in one manifest.
pub(super) struct Problems<'a> {
    /// The manifest, named by every message.
    pub(super) file: &'a Path,
    /// What was refused, in the order the checks ran.
    pub(super) found: Vec<ManifestError>,
}

impl Problems<'_> {
    pub(super) fn add(&mut self, field: &str, (problem, fix): Refusal) {
        self.found.push(ManifestError::Invalid {
            file: self.file.to_path_buf(),
            field: field.to_string(),
            problem,
            fix,
        });
    }

    /// The value if `result` holds one; otherwise records why not.
    pub(super) fn take<T>(&mut self, field: &str, result: Result<T, Refusal>) -> Option<T> {
        result.map_err(|refusal| self.add(field, refusal)).ok()
    }
}

/// `64MiB`, `512 KiB`, `1GiB`, `1000000` (bytes).
pub(super) fn parse_bytes(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}
