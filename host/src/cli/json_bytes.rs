//! Record bytes in JSON, one convention for `rill consume --format json`
//! and `rill produce --format json`, so one's output is the other's input:
//! Kafka's null is `null`, bytes that are UTF-8 are a string, any other
//! bytes are `{"base64": "..."}` (standard alphabet, padded).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// `bytes` as JSON: `null`, a string, or `{"base64": "..."}`.
pub(crate) fn to_json(bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => serde_json::json!({ "base64": STANDARD.encode(bytes) }),
        },
    }
}

/// What [`from_json`] accepts, for error messages.
pub(crate) const EXPECTED: &str = "a string, null or {\"base64\": \"...\"}";

/// The bytes [`to_json`] wrote; `Err` holds what was found instead.
pub(crate) fn from_json(value: &Value) -> Result<Option<Vec<u8>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.as_bytes().to_vec())),
        Value::Object(fields) if fields.len() == 1 => match fields.get("base64") {
            Some(Value::String(encoded)) => STANDARD
                .decode(encoded)
                .map(Some)
                .map_err(|e| format!("{value} (not base64: {e})")),
            _ => Err(value.to_string()),
        },
        other => Err(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stays_text_and_other_bytes_are_base64() {
        assert_eq!(to_json(None), Value::Null);
        assert_eq!(to_json(Some("héllo".as_bytes())), Value::String("héllo".into()));
        let binary = [0xff, 0x00, 0x80];
        assert_eq!(to_json(Some(&binary)), serde_json::json!({"base64": "/wCA"}));
    }

    #[test]
    fn what_is_written_reads_back() {
        for bytes in [None, Some(&b""[..]), Some(b"text"), Some(&[0xc3, 0x28, 0x00][..])] {
            assert_eq!(from_json(&to_json(bytes)).unwrap().as_deref(), bytes);
        }
    }

    #[test]
    fn anything_else_is_refused_with_what_was_found() {
        assert_eq!(from_json(&serde_json::json!(12)), Err("12".into()));
        assert_eq!(
            from_json(&serde_json::json!({"hex": "ff"})),
            Err("{\"hex\":\"ff\"}".into())
        );
        assert!(from_json(&serde_json::json!({"base64": "%%"})).unwrap_err().contains("not base64"));
    }
}
