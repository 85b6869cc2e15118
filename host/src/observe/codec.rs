//! How a store's values read in query answers: a manifest declares a codec
//! per store (`[store-codecs] counts = "u64-be"`), and `/stores/...`
//! answers then carry the decoded value (`"value": 42`) with an
//! `"encoding"` saying which codec read it. Bytes the declared codec cannot
//! read (a u64 of 7 bytes, text that is not UTF-8) fall back to base64, and
//! the encoding says so, so a client never mistakes a fallback for a decode.
//!
//! A leaf of `observe`: it knows bytes and JSON, nothing of stores.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// A way to read a store's value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Bytes as base64 text: what every store reads as unless it declares
    /// otherwise.
    #[default]
    Base64,
    /// A big-endian unsigned 64-bit integer (Kafka's `LongSerializer`
    /// writes signed; counts are often kept unsigned).
    U64Be,
    /// A big-endian signed 64-bit integer (Kafka's `LongSerializer`).
    I64Be,
    /// UTF-8 text, answered as a JSON string.
    Utf8,
    /// JSON text, answered as the JSON value itself.
    Json,
}

/// The codecs' names as manifests write them, in the order messages list
/// them.
pub const NAMES: [&str; 5] = ["base64", "u64-be", "i64-be", "utf-8", "json"];

/// What a value became in an answer: the JSON to show and the encoding
/// that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The value as the answer carries it.
    pub value: Value,
    /// The codec's name, or `base64 (not <codec>: <why>)` on a fallback.
    pub encoding: String,
}

impl Codec {
    /// The codec a manifest names, if rill knows it.
    pub fn from_name(name: &str) -> Option<Codec> {
        Some(match name {
            "base64" => Codec::Base64,
            "u64-be" => Codec::U64Be,
            "i64-be" => Codec::I64Be,
            "utf-8" => Codec::Utf8,
            "json" => Codec::Json,
            _ => return None,
        })
    }

    /// The name manifests and answers use.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Base64 => "base64",
            Codec::U64Be => "u64-be",
            Codec::I64Be => "i64-be",
            Codec::Utf8 => "utf-8",
            Codec::Json => "json",
        }
    }

    /// `bytes` as this codec reads them, or as base64 with the reason
    /// when they do not fit it.
    pub fn decode(self, bytes: &[u8]) -> Decoded {
        match self.read(bytes) {
            Ok(value) => Decoded {
                value,
                encoding: self.name().to_string(),
            },
            Err(why) => Decoded {
                value: Value::String(STANDARD.encode(bytes)),
                encoding: format!("base64 (not {}: {why})", self.name()),
            },
        }
    }

    fn read(self, bytes: &[u8]) -> Result<Value, String> {
        let eight =
            || -> Result<[u8; 8], String> { bytes.try_into().map_err(|_| format!("{} bytes, not 8", bytes.len())) };
        let text = || std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 ({e})"));
        Ok(match self {
            Codec::Base64 => Value::String(STANDARD.encode(bytes)),
            Codec::U64Be => Value::from(u64::from_be_bytes(eight()?)),
            Codec::I64Be => Value::from(i64::from_be_bytes(eight()?)),
            Codec::Utf8 => Value::String(text()?.to_string()),
            Codec::Json => serde_json::from_str(text()?).map_err(|e| format!("not JSON ({e})"))?,
        })
    }
}

/// A key as an answer shows it: UTF-8 text when it is, else base64, with
/// the encoding used (`"utf-8"` or `"base64"`).
pub fn key_text(key: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(key) {
        Ok(text) => (text.to_string(), "utf-8"),
        Err(_) => (STANDARD.encode(key), "base64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_codec_reads_its_own_bytes() {
        let read = |codec: Codec, bytes: &[u8]| {
            let d = codec.decode(bytes);
            (d.value, d.encoding)
        };
        assert_eq!(read(Codec::U64Be, &42u64.to_be_bytes()), (json!(42), "u64-be".into()));
        assert_eq!(
            read(Codec::U64Be, &u64::MAX.to_be_bytes()),
            (json!(u64::MAX), "u64-be".into())
        );
        assert_eq!(read(Codec::I64Be, &(-3i64).to_be_bytes()), (json!(-3), "i64-be".into()));
        assert_eq!(read(Codec::Utf8, "héllo".as_bytes()), (json!("héllo"), "utf-8".into()));
        assert_eq!(
            read(Codec::Json, br#"{"n":[1,2]}"#),
            (json!({"n": [1, 2]}), "json".into())
        );
        assert_eq!(read(Codec::Base64, b"\x00\x01"), (json!("AAE="), "base64".into()));
    }

    #[test]
    fn bytes_a_codec_cannot_read_fall_back_to_base64_and_say_so() {
        let short = Codec::U64Be.decode(&[1, 2, 3]);
        assert_eq!(short.value, json!("AQID"));
        assert_eq!(short.encoding, "base64 (not u64-be: 3 bytes, not 8)");
        let binary = Codec::Utf8.decode(&[0xff, 0xfe]);
        assert_eq!(binary.value, json!("//4="));
        assert!(
            binary.encoding.starts_with("base64 (not utf-8: not UTF-8"),
            "{}",
            binary.encoding
        );
        let text = Codec::Json.decode(b"not json");
        assert_eq!(text.value, json!("bm90IGpzb24="));
        assert!(
            text.encoding.starts_with("base64 (not json: not JSON"),
            "{}",
            text.encoding
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for name in NAMES {
            assert_eq!(Codec::from_name(name).map(Codec::name), Some(name));
        }
        assert_eq!(Codec::from_name("u64"), None);
        assert_eq!(Codec::default(), Codec::Base64);
    }

    #[test]
    fn keys_show_as_text_when_they_are_utf8() {
        assert_eq!(key_text(b"q1"), ("q1".into(), "utf-8"));
        assert_eq!(key_text(&[0xff]), ("/w==".into(), "base64"));
    }
}
