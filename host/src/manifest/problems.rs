//! What every check of a manifest shares: the problems found so far (each
//! naming the file, the field and the fix) and the byte sizes manifests
//! write (`64MiB`), durations and store names. A file of its own so the checks of each part
//! (`validate.rs`, `grants.rs`, `interceptor.rs`, `joins.rs`) import it one way.

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

/// A duration in milliseconds.
pub(super) fn millis(text: &str) -> Result<i64, Refusal> {
    humantime::parse_duration(text)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|e| {
            (
                format!("\"{text}\" is not a duration ({e})"),
                "write a duration such as \"10m\", \"30s\" or \"250ms\"".into(),
            )
        })
}

/// Store, window and join names become part of changelog topic names:
/// lowercase letters, digits and '-'.
pub(super) fn is_store_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether `output` is a declared output with a fixed topic.
pub(super) fn fixed_output(
    output: &str,
    outputs: &std::collections::BTreeMap<String, super::TopicSpec>,
    routed: &std::collections::BTreeMap<String, super::RoutedSpec>,
) -> Result<(), Refusal> {
    if routed.contains_key(output) {
        Err((
            format!("\"{output}\" chooses its topic per record"),
            "name an [outputs] entry with a fixed topic".into(),
        ))
    } else if !outputs.contains_key(output) {
        Err((
            format!("\"{output}\" is not a declared output"),
            "name the [outputs] entry join results go to".into(),
        ))
    } else {
        Ok(())
    }
}
