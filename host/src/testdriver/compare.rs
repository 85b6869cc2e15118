//! Comparing what a case's tasks wrote with what its spec expects, and
//! the diff lines that name the case, topic, record and field; and the
//! other way round, writing observed records as expectations (`--update`).

use super::spec::{Expected, StoreEntry, to_json};
use crate::kafka::memory_sink::SentRecord;
use crate::task::dead_letter::headers;
use base64::Engine as _;

/// Bytes shown as text when they are UTF-8, else as base64.
fn show(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_string(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => format!("{text:?}"),
            Err(_) => format!("base64:{}", base64::engine::general_purpose::STANDARD.encode(b)),
        },
    }
}

fn header<'a>(record: &'a SentRecord, name: &str) -> Option<&'a [u8]> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
}

/// How `record` differs from `expected`: one `(field, expected, got)` per
/// field that differs.
pub fn differences(expected: &Expected, record: &SentRecord) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    match expected.key_bytes() {
        Ok(key) if key == record.key => {}
        Ok(key) => out.push(("key".into(), show(key.as_deref()), show(record.key.as_deref()))),
        Err(message) => out.push(("key".into(), message, show(record.key.as_deref()))),
    }
    let got_value = show(record.value.as_deref());
    if let Some(json) = &expected.json {
        let want = to_json(json);
        let got: Option<serde_json::Value> = record.value.as_deref().and_then(|v| serde_json::from_slice(v).ok());
        if got.as_ref() != Some(&want) {
            out.push(("value (json)".into(), want.to_string(), got.map_or(got_value, |g| g.to_string())));
        }
    } else {
        let want = match (&expected.value, &expected.base64) {
            (Some(text), _) => Ok(Some(text.as_bytes().to_vec())),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map(Some)
                .map_err(|e| format!("base64 is not valid: {e}")),
            (None, None) => Ok(None),
        };
        match want {
            Ok(want) if want == record.value => {}
            Ok(want) => out.push(("value".into(), show(want.as_deref()), got_value)),
            Err(message) => out.push(("value".into(), message, got_value)),
        }
    }
    if let Some(ts) = expected.timestamp
        && ts != record.timestamp
    {
        out.push(("timestamp".into(), ts.to_string(), record.timestamp.to_string()));
    }
    for (name, value) in expected.headers.iter().flatten() {
        let got = header(record, name);
        if got != Some(value.as_bytes()) {
            out.push((format!("header {name}"), format!("{value:?}"), show(got)));
        }
    }
    if let Some(error) = &expected.error {
        let got = header(record, headers::ERROR).map(String::from_utf8_lossy);
        if !got.as_deref().is_some_and(|g| g.contains(error.as_str())) {
            out.push(("error".into(), format!("containing {error:?}"), show(header(record, headers::ERROR))));
        }
    }
    if let Some(kind) = &expected.error_kind
        && header(record, headers::ERROR_KIND) != Some(kind.as_bytes())
    {
        out.push(("error-kind".into(), format!("{kind:?}"), show(header(record, headers::ERROR_KIND))));
    }
    out
}

/// One line describing `record` (its error header too, so a trap shows).
pub fn describe(record: &SentRecord) -> String {
    let mut text = format!(
        "key {}, value {}, timestamp {}",
        show(record.key.as_deref()),
        show(record.value.as_deref()),
        record.timestamp
    );
    if let Some(error) = header(record, headers::ERROR) {
        text.push_str(&format!(", error {}", show(Some(error))));
    }
    text
}

/// One line describing an expected record: the fields it gives.
pub fn describe_expected(want: &Expected) -> String {
    let key = match (&want.key, &want.key_base64) {
        (Some(k), _) => format!("{k:?}"),
        (None, Some(b)) => format!("base64:{b}"),
        (None, None) => "null".to_string(),
    };
    let mut text = format!("key {key}, value {}", expected_value(want));
    if let Some(ts) = want.timestamp {
        text.push_str(&format!(", timestamp {ts}"));
    }
    for (name, value) in want.headers.iter().flatten() {
        text.push_str(&format!(", header {name} {value:?}"));
    }
    if let Some(kind) = &want.error_kind {
        text.push_str(&format!(", error-kind {kind:?}"));
    }
    if let Some(error) = &want.error {
        text.push_str(&format!(", error containing {error:?}"));
    }
    text
}

/// Compares one topic: the diff lines, empty when it matches. In order
/// unless `any_order`.
pub fn compare_topic(topic: &str, expected: &[Expected], observed: &[SentRecord], any_order: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if any_order {
        let mut unmatched: Vec<&SentRecord> = observed.iter().collect();
        for (i, want) in expected.iter().enumerate() {
            match unmatched.iter().position(|r| differences(want, r).is_empty()) {
                Some(at) => {
                    unmatched.remove(at);
                }
                None => lines.push(format!(
                    "topic {topic}, expected record {}: not produced: {}",
                    i + 1,
                    describe_expected(want)
                )),
            }
        }
        for record in unmatched {
            lines.push(format!("topic {topic}: unexpected record: {}", describe(record)));
        }
        return lines;
    }
    for i in 0..expected.len().max(observed.len()) {
        match (expected.get(i), observed.get(i)) {
            (Some(want), Some(got)) => {
                for (field, want, got) in differences(want, got) {
                    lines.push(format!("topic {topic}, record {}, field {field}: expected {want}, got {got}", i + 1));
                }
            }
            (Some(want), None) => lines.push(format!(
                "topic {topic}, record {}: expected but not produced: {}",
                i + 1,
                describe_expected(want)
            )),
            (None, Some(got)) => lines.push(format!("topic {topic}, record {}: unexpected: {}", i + 1, describe(got))),
            (None, None) => {}
        }
    }
    lines
}

/// Checks one expected store entry against `held` (partition, key, value
/// of every entry of that store): the diff lines, empty when it matches.
pub fn compare_store_entry(store: &str, entry: &StoreEntry, held: &[(i32, Vec<u8>, Vec<u8>)]) -> Vec<String> {
    let want = Expected {
        key: entry.key.clone(),
        key_base64: entry.key_base64.clone(),
        value: entry.value.clone(),
        json: entry.json.clone(),
        base64: entry.base64.clone(),
        ..Expected::default()
    };
    let key = match want.key_bytes() {
        Ok(Some(key)) => key,
        Ok(None) => return vec![format!("store {store}: an entry needs a key (key or key-base64)")],
        Err(message) => return vec![format!("store {store}: {message}")],
    };
    let shown = show(Some(&key));
    let found: Vec<SentRecord> = held
        .iter()
        .filter(|(p, k, _)| *k == key && entry.partition.is_none_or(|want| want == *p))
        .map(|(p, k, v)| SentRecord {
            topic: store.to_string(),
            partition: Some(*p),
            key: Some(k.clone()),
            value: Some(v.clone()),
            headers: Vec::new(),
            timestamp: 0,
        })
        .collect();
    let at = |r: &SentRecord| format!("partition {}", r.partition.unwrap_or(0));
    if entry.absent == Some(true) {
        return found
            .iter()
            .map(|r| format!("store {store}, key {shown}: expected absent, got {} ({})", show(r.value.as_deref()), at(r)))
            .collect();
    }
    let has_value = entry.value.is_some() || entry.json.is_some() || entry.base64.is_some();
    if !has_value {
        return vec![format!("store {store}, key {shown}: give its value (value, json or base64) or absent = true")];
    }
    if found.is_empty() {
        return vec![format!("store {store}, key {shown}: expected {}, but the key is absent", expected_value(&want))];
    }
    if found.iter().any(|r| differences(&want, r).is_empty()) {
        return Vec::new();
    }
    found
        .iter()
        .flat_map(|r| {
            let shown = &shown;
            differences(&want, r).into_iter().map(move |(field, want, got)| {
                format!("store {store}, key {shown}, field {field}: expected {want}, got {got} ({})", at(r))
            })
        })
        .collect()
}

/// An expected value as the diff shows it.
fn expected_value(want: &Expected) -> String {
    match (&want.json, &want.value, &want.base64) {
        (Some(json), _, _) => to_json(json).to_string(),
        (None, Some(text), _) => format!("{text:?}"),
        (None, None, Some(b64)) => format!("base64:{b64}"),
        (None, None, None) => "null".to_string(),
    }
}

/// `record` as an expectation (`--update`): text when UTF-8, JSON for JSON
/// objects and arrays, the error headers of dead letters.
pub fn expectation(record: &SentRecord, dead_letter: bool) -> toml_edit::InlineTable {
    let mut table = toml_edit::InlineTable::new();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    if let Some(key) = &record.key {
        match std::str::from_utf8(key) {
            Ok(text) => table.insert("key", text.into()),
            Err(_) => table.insert("key-base64", b64(key).into()),
        };
    }
    if let Some(value) = &record.value {
        let json = serde_json::from_slice::<serde_json::Value>(value)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .and_then(|v| to_toml(&v));
        match (json, std::str::from_utf8(value)) {
            (Some(json), _) => table.insert("json", json),
            (None, Ok(text)) => table.insert("value", text.into()),
            (None, Err(_)) => table.insert("base64", b64(value).into()),
        };
    }
    table.insert("timestamp", record.timestamp.into());
    if dead_letter {
        if let Some(error) = header(record, headers::ERROR) {
            table.insert("error", String::from_utf8_lossy(error).into_owned().into());
        }
        if let Some(kind) = header(record, headers::ERROR_KIND) {
            table.insert("error-kind", String::from_utf8_lossy(kind).into_owned().into());
        }
    }
    table
}

/// JSON as a TOML value; `None` when it holds a null (TOML has none).
fn to_toml(value: &serde_json::Value) -> Option<toml_edit::Value> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        serde_json::Value::String(s) => s.as_str().into(),
        serde_json::Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(to_toml(item)?);
            }
            toml_edit::Value::Array(array)
        }
        serde_json::Value::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (k, v) in map {
                table.insert(k, to_toml(v)?);
            }
            toml_edit::Value::InlineTable(table)
        }
    })
}
