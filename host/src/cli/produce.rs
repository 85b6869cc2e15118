//! `rill produce TOPIC`: one record per input line (stdin, or `--file`),
//! for trying a processor by hand against any broker, `rill dev-broker`
//! included, with no other tool.
//!
//! Lines are text (`--key-separator` splits off a key) or JSON objects
//! (`--format json`, the shape `rill consume --format json` prints, so one
//! command's output replays into the other). A trailing `\n` or `\r\n` is
//! not part of the record. Every delivery is waited for; a malformed line
//! or a failed delivery stops the command with the input's name and the
//! line's number.

use super::json_bytes;
use crate::kafka::KafkaSettings;
use crate::kafka::console::{ConsoleProducer, ProduceRecord};
use crate::record::Header;
use anyhow::Context;
use clap::Args;
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use thiserror::Error;

/// Arguments of `rill produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic to write to.
    topic: String,
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = "RILL_BROKERS")]
    brokers: String,
    /// Read the lines from this file instead of stdin.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Split each line at the first SEP into key and value; a line without
    /// SEP gets a null key (text format only).
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// A header every record gets, as NAME=VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
    headers: Vec<Header>,
    /// Timestamp of every record, in milliseconds since the Unix epoch
    /// (default: the time it is sent).
    #[arg(long, value_name = "MS")]
    timestamp: Option<i64>,
    /// Write every record to this partition (default: by key, as rill's
    /// producer partitions; keyless records are spread).
    #[arg(long, value_name = "N")]
    partition: Option<i32>,
    /// How each line is read.
    #[arg(long, value_enum, default_value = "text")]
    format: LineFormatArg,
    /// librdkafka property, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

/// `--format` of `rill produce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LineFormatArg {
    /// The line is the value (or key SEP value with --key-separator).
    Text,
    /// The line is a JSON object: key, value, headers, timestamp, partition.
    Json,
}

/// How a line becomes a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineFormat {
    /// The whole line is the value, or with a separator: key SEP value.
    Text {
        /// Splits the line at its first occurrence; `None`: no key.
        key_separator: Option<String>,
    },
    /// A JSON object per line.
    Json,
}

/// Why a line is not a record.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Not JSON at all.
    #[error("not JSON ({0})\n  fix: write one object per line, e.g. {{\"key\": \"k\", \"value\": \"v\"}}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("expected a JSON object, found {0}\n  fix: write one object per line, e.g. {{\"key\": \"k\", \"value\": \"v\"}}")]
    NotObject(String),
    /// A field the format does not have (likely a typo).
    #[error("unknown field {0:?}\n  fix: the fields are key, value, headers, timestamp and partition (topic and offset are ignored)")]
    UnknownField(String),
    /// A known field holding the wrong kind of value.
    #[error("field {field:?}: expected {expected}, found {found}")]
    Field {
        /// The field (`headers.NAME` for a header).
        field: String,
        /// What it may hold.
        expected: &'static str,
        /// What it held.
        found: String,
    },
}

/// Parses `NAME=VALUE` (`--header`).
fn parse_header(spec: &str) -> Result<Header, String> {
    let (name, value) = spec
        .split_once('=')
        .ok_or_else(|| format!("\"{spec}\": write NAME=VALUE, e.g. --header trace-id=42"))?;
    Ok(Header {
        key: name.to_string(),
        value: Some(value.as_bytes().to_vec()),
    })
}

/// The record `line` (without its line end) describes. `base` holds what
/// the flags set for every record (headers, timestamp, partition); a JSON
/// line's own timestamp and partition win, its headers come after.
pub(crate) fn parse_line(line: &[u8], format: &LineFormat, base: &ProduceRecord) -> Result<ProduceRecord, LineError> {
    let mut record = base.clone();
    match format {
        LineFormat::Text { key_separator } => {
            let split = key_separator.as_deref().and_then(|sep| split_once(line, sep.as_bytes()));
            let (key, value) = match split {
                Some((key, value)) => (Some(key), value),
                None => (None, line),
            };
            record.key = key.map(<[u8]>::to_vec);
            record.value = Some(value.to_vec());
        }
        LineFormat::Json => {
            let json: Value = serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
            let Value::Object(fields) = json else {
                return Err(LineError::NotObject(json.to_string()));
            };
            for (name, value) in &fields {
                match name.as_str() {
                    "key" => record.key = bytes_field(name, value)?,
                    "value" => record.value = bytes_field(name, value)?,
                    "headers" => record.headers.extend(headers_field(value)?),
                    "timestamp" => record.timestamp = number_field(name, value)?,
                    "partition" => {
                        record.partition = number_field(name, value)?
                            .map(i32::try_from)
                            .transpose()
                            .map_err(|_| wrong(name, "a partition number", value))?;
                    }
                    "topic" | "offset" => {}
                    other => return Err(LineError::UnknownField(other.to_string())),
                }
            }
        }
    }
    Ok(record)
}

/// `line` without a trailing `\n` or `\r\n`.
pub(crate) fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn split_once<'a>(line: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    if separator.is_empty() {
        return None;
    }
    let at = line.windows(separator.len()).position(|w| w == separator)?;
    Some((&line[..at], &line[at + separator.len()..]))
}

fn wrong(field: &str, expected: &'static str, found: &Value) -> LineError {
    LineError::Field {
        field: field.to_string(),
        expected,
        found: found.to_string(),
    }
}

fn bytes_field(field: &str, value: &Value) -> Result<Option<Vec<u8>>, LineError> {
    json_bytes::from_json(value).map_err(|found| LineError::Field {
        field: field.to_string(),
        expected: json_bytes::EXPECTED,
        found,
    })
}

fn number_field(field: &str, value: &Value) -> Result<Option<i64>, LineError> {
    match value {
        Value::Null => Ok(None),
        _ => value.as_i64().map(Some).ok_or_else(|| wrong(field, "an integer or null", value)),
    }
}

/// `{"NAME": VALUE, ...}`, or `[["NAME", VALUE], ...]` (the shape
/// `rill consume --format json` prints, which keeps order and repeats).
fn headers_field(value: &Value) -> Result<Vec<Header>, LineError> {
    const EXPECTED: &str = "an object of NAME: VALUE or an array of [NAME, VALUE] pairs";
    let header = |name: &str, value: &Value| {
        Ok(Header {
            key: name.to_string(),
            value: bytes_field(&format!("headers.{name}"), value)?,
        })
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(fields) => fields.iter().map(|(name, value)| header(name, value)).collect(),
        Value::Array(pairs) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(name), value]) => header(name, value),
                _ => Err(wrong("headers", EXPECTED, pair)),
            })
            .collect(),
        other => Err(wrong("headers", EXPECTED, other)),
    }
}

/// Runs `rill produce`.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let produced = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            produce_from(std::io::BufReader::new(file), &path.display().to_string(), &args)?
        }
        None => produce_from(std::io::stdin().lock(), "stdin", &args)?,
    };
    eprintln!("produced {produced} record(s) to {}", args.topic);
    Ok(())
}

/// Produces one record per line of `input` (called `source` in errors)
/// and waits for every delivery; how many were produced.
pub(crate) fn produce_from(mut input: impl BufRead, source: &str, args: &ProduceArgs) -> anyhow::Result<usize> {
    let format = match (args.format, &args.key_separator) {
        (LineFormatArg::Json, Some(_)) => {
            anyhow::bail!("--key-separator splits text lines; a JSON line names its key (drop one of them)")
        }
        (LineFormatArg::Json, None) => LineFormat::Json,
        (LineFormatArg::Text, key_separator) => LineFormat::Text {
            key_separator: key_separator.clone(),
        },
    };
    let base = ProduceRecord {
        headers: args.headers.clone(),
        timestamp: args.timestamp,
        partition: args.partition,
        ..ProduceRecord::default()
    };
    let settings = KafkaSettings {
        brokers: args.brokers.clone(),
        overrides: args.property.clone(),
    };
    let mut producer = ConsoleProducer::new(&settings, &args.topic)?;
    let mut buffer = Vec::new();
    let mut number = 0;
    loop {
        buffer.clear();
        if input
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("reading {source}"))?
            == 0
        {
            break;
        }
        number += 1;
        let line = strip_line_end(&buffer);
        if format == LineFormat::Json && line.trim_ascii().is_empty() {
            continue;
        }
        let record = match parse_line(line, &format, &base) {
            Ok(record) => record,
            Err(error) => {
                // What was sent before the bad line is delivered, so the
                // topic holds exactly the lines before it.
                let produced = producer.finish().with_context(|| source.to_string())?;
                anyhow::bail!("{source} line {number}: {error}\n  ({produced} record(s) before it were produced)");
            }
        };
        producer.send(&record, number).with_context(|| source.to_string())?;
    }
    Ok(producer.finish().with_context(|| source.to_string())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(separator: Option<&str>) -> LineFormat {
        LineFormat::Text {
            key_separator: separator.map(str::to_string),
        }
    }

    fn record(key: Option<&str>, value: Option<&str>) -> ProduceRecord {
        ProduceRecord {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            ..ProduceRecord::default()
        }
    }

    fn header(name: &str, value: Option<&str>) -> Header {
        Header {
            key: name.into(),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_text_line_is_the_value() {
        let parsed = parse_line(b"a:b", &text(None), &ProduceRecord::default()).unwrap();
        assert_eq!(parsed, record(None, Some("a:b")));
        assert_eq!(
            parse_line(b"", &text(None), &ProduceRecord::default()).unwrap(),
            record(None, Some(""))
        );
    }

    #[test]
    fn the_key_separator_splits_at_its_first_occurrence() {
        let base = ProduceRecord::default();
        assert_eq!(
            parse_line(b"k::v::w", &text(Some("::")), &base).unwrap(),
            record(Some("k"), Some("v::w"))
        );
        assert_eq!(parse_line(b":v", &text(Some(":")), &base).unwrap(), record(Some(""), Some("v")));
        // No separator in the line: a null key, the whole line the value.
        assert_eq!(parse_line(b"v", &text(Some(":")), &base).unwrap(), record(None, Some("v")));
        // Bytes that are not UTF-8 pass through.
        assert_eq!(
            parse_line(b"\xff\t\xfe", &text(Some("\t")), &base).unwrap().value,
            Some(vec![0xfe])
        );
    }

    #[test]
    fn flags_set_every_record_and_json_fields_win() {
        let base = ProduceRecord {
            headers: vec![header("source", Some("cli"))],
            timestamp: Some(1000),
            partition: Some(1),
            ..ProduceRecord::default()
        };
        let parsed = parse_line(b"v", &text(None), &base).unwrap();
        assert_eq!((parsed.timestamp, parsed.partition), (Some(1000), Some(1)));
        assert_eq!(parsed.headers, base.headers);
        let parsed = parse_line(
            br#"{"value":"v","timestamp":2000,"partition":0,"headers":{"trace":"7"}}"#,
            &LineFormat::Json,
            &base,
        )
        .unwrap();
        assert_eq!((parsed.timestamp, parsed.partition), (Some(2000), Some(0)));
        assert_eq!(parsed.headers, vec![header("source", Some("cli")), header("trace", Some("7"))]);
    }

    #[test]
    fn a_json_line_has_null_and_base64_and_header_pairs() {
        let parsed = parse_line(
            br#"{"key":null,"value":{"base64":"/wA="},"headers":[["h",null],["h","2"]],"topic":"t","offset":4}"#,
            &LineFormat::Json,
            &ProduceRecord::default(),
        )
        .unwrap();
        assert_eq!(parsed.key, None);
        assert_eq!(parsed.value, Some(vec![0xff, 0x00]));
        assert_eq!(parsed.headers, vec![header("h", None), header("h", Some("2"))]);
        // Missing fields are null.
        assert_eq!(
            parse_line(b"{}", &LineFormat::Json, &ProduceRecord::default()).unwrap(),
            record(None, None)
        );
    }

    #[test]
    fn a_malformed_json_line_says_what_is_wrong() {
        let parse = |line: &str| parse_line(line.as_bytes(), &LineFormat::Json, &ProduceRecord::default()).unwrap_err();
        assert!(matches!(parse("key=v"), LineError::NotJson(_)));
        assert_eq!(parse("[1]"), LineError::NotObject("[1]".into()));
        assert_eq!(parse(r#"{"valeu":"v"}"#), LineError::UnknownField("valeu".into()));
        assert_eq!(
            parse(r#"{"value":12}"#),
            LineError::Field {
                field: "value".into(),
                expected: json_bytes::EXPECTED,
                found: "12".into()
            }
        );
        assert!(matches!(parse(r#"{"timestamp":"now"}"#), LineError::Field { field, .. } if field == "timestamp"));
        assert!(matches!(parse(r#"{"partition":4294967296}"#), LineError::Field { field, .. } if field == "partition"));
        assert!(matches!(parse(r#"{"headers":{"h":1}}"#), LineError::Field { field, .. } if field == "headers.h"));
        assert!(matches!(parse(r#"{"headers":["h"]}"#), LineError::Field { field, .. } if field == "headers"));
    }

    #[test]
    fn line_ends_are_not_part_of_the_record() {
        assert_eq!(strip_line_end(b"a\r\n"), b"a");
        assert_eq!(strip_line_end(b"a\n"), b"a");
        assert_eq!(strip_line_end(b"a"), b"a");
        assert_eq!(strip_line_end(b"a\r"), b"a");
    }

    #[test]
    fn a_header_flag_is_name_equals_value() {
        assert_eq!(parse_header("a=b=c").unwrap(), header("a", Some("b=c")));
        assert!(parse_header("a").unwrap_err().contains("NAME=VALUE"));
    }
}
