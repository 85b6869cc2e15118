//! Whether a JSON text is already what a compact writer writes for it
//! (serde_json's compact form, Gson's `JsonElement.toString()`), so an SDK
//! can copy it into an output instead of parsing and re-writing it. The
//! rules are those of `raw-json.canonical` in `wit/processor.wit`.

/// `true` when `text` (one valid JSON value) has no whitespace between
/// tokens, no key twice in one object, no number with an exponent, and
/// strings that escape only `"`, `\` and control characters (the short
/// forms `\b \f \n \r \t`, others as lower-case `\u00xx`), with U+2028 and
/// U+2029 escaped.
pub fn is_canonical(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Keys of each open object (only objects push a frame; arrays push
    // `None`), to find a key written twice.
    let mut frames: Vec<Option<Vec<&str>>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => return false,
            b'{' => frames.push(Some(Vec::new())),
            b'[' => frames.push(None),
            b'}' | b']' => {
                frames.pop();
            }
            b'e' | b'E' if i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') => return false,
            b'"' => {
                let start = i + 1;
                let Some(end) = string_end(bytes, start) else {
                    return false;
                };
                let inner = &text[start..end];
                if !escapes_canonically(inner) {
                    return false;
                }
                // A string followed by `:` is a key of the innermost object.
                if bytes.get(end + 1) == Some(&b':')
                    && let Some(Some(keys)) = frames.last_mut()
                {
                    if keys.contains(&inner) {
                        return false;
                    }
                    keys.push(inner);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// The index of the quote that closes the string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A string's inside escapes exactly what a compact writer escapes.
fn escapes_canonically(inner: &str) -> bool {
    if inner.contains(['\u{2028}', '\u{2029}']) {
        return false;
    }
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            match bytes.get(i + 1) {
                Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let Some(hex) = inner.get(i + 2..i + 6) else {
                        return false;
                    };
                    let lower = hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                    let code = u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
                    let short = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
                    let needed = code < 0x20 || code == 0x2028 || code == 0x2029;
                    if !lower || short || !needed {
                        return false;
                    }
                    i += 6;
                }
                _ => return false,
            }
        } else {
            i += 1;
        }
    }
    true
}
