//! JSON text exactly as Gson's `JsonElement.toString()` writes it, so alerts
//! are byte-identical to the Kafka Streams original: compact, keys in source
//! order, numbers in their source text (serde_json's `preserve_order` and
//! `arbitrary_precision`), and Gson's escaping, which is serde_json's plus
//! `\u2028` and `\u2029`.
//!
//! One known difference: serde_json writes an exponent as `e` with a sign
//! (`1E3` becomes `1e+3`). Go's encoder, which metricbeat uses, always writes
//! that form, so metricbeat input is reproduced exactly.

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};
use std::io;

struct GsonFormatter;

impl Formatter for GsonFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(['\u{2028}', '\u{2029}']) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let separator = rest[at..].chars().next().unwrap_or_default();
            write!(writer, "\\u{:04x}", separator as u32)?;
            rest = &rest[at + separator.len_utf8()..];
        }
        CompactFormatter.write_string_fragment(writer, rest)
    }
}

/// Serializes `value` the way Gson does.
pub fn to_vec(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, GsonFormatter);
    // Writing a Value into a Vec cannot fail.
    value.serialize(&mut serializer).expect("serializing JSON into memory");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_separators_are_escaped_like_gson() {
        let v: serde_json::Value = serde_json::from_str("{\"a\":\"x\u{2028}y\u{2029}\\n\"}").unwrap();
        assert_eq!(super::to_vec(&v), b"{\"a\":\"x\\u2028y\\u2029\\n\"}");
    }
}
