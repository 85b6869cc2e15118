//! Reading declared fields out of a JSON value natively, the way the host
//! does (same paths, same kinds, same raw text), for the test driver.

use super::{Field, FieldPath, RawJson};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// `value`'s fields for `declared` (path, `as = "raw"`), or the host's
/// message when the value is not JSON.
pub(crate) fn extract(value: &[u8], declared: &[(FieldPath, bool)]) -> Result<Vec<Field>, String> {
    let root: &RawValue = serde_json::from_slice(value).map_err(|e| format!("the value is not JSON: {e}"))?;
    Ok(declared.iter().map(|(path, raw)| field(root, path, *raw)).collect())
}

fn field(root: &RawValue, path: &FieldPath, raw: bool) -> Field {
    let mut at = root;
    for segment in path.segments() {
        let text = at.get();
        let next = match text.as_bytes().first() {
            // The last of a repeated key wins, as in the host's parse.
            Some(b'{') => serde_json::from_str::<BTreeMap<String, &RawValue>>(text)
                .ok()
                .and_then(|map| map.get(&segment.0).copied()),
            Some(b'[') => segment.index().and_then(|i| {
                serde_json::from_str::<Vec<&RawValue>>(text)
                    .ok()
                    .and_then(|items| items.get(i).copied())
            }),
            _ => None,
        };
        match next {
            Some(next) => at = next,
            None => return Field::Missing,
        }
    }
    let text = at.get();
    if raw {
        return Field::Raw(RawJson::new(text));
    }
    match text.as_bytes().first() {
        Some(b'n') => Field::Null,
        Some(b't') => Field::Boolean(true),
        Some(b'f') => Field::Boolean(false),
        Some(b'"') => Field::Text(serde_json::from_str(text).unwrap_or_default()),
        Some(b'{' | b'[') => Field::Raw(RawJson::new(text)),
        _ => Field::Number(text.parse().unwrap_or(f64::NAN)),
    }
}
