//! `rill consume TOPIC`: prints a topic's records, for looking at what a
//! processor wrote, against any broker, `rill dev-broker` included.
//!
//! It joins no consumer group and commits nothing (it assigns itself the
//! partitions), so it never disturbs an application. It reads from the
//! beginning (or `--from end`) and stops at the end offsets the partitions
//! had when it started, so it terminates on a topic nobody writes to;
//! `--follow` waits for more until Ctrl-C, `--count N` stops after N.
//!
//! Formats: `text` (the value, or key SEP value with `--print-key`), `json`
//! (one object per record; bytes as `cli::json_bytes` writes them, headers
//! as `[name, value]` pairs so order and repeated names survive) and
//! `--template`, kcat's `-f` format strings.

use super::json_bytes;
use crate::kafka::KafkaSettings;
use crate::kafka::console::{ConsoleReader, Polled, StartAt};
use crate::record::InputRecord;
use clap::Args;
use serde_json::Value;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use thiserror::Error;

/// Arguments of `rill consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// The topic to read.
    topic: String,
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = "RILL_BROKERS")]
    brokers: String,
    /// Where to start in each partition.
    #[arg(long, value_enum, default_value = "beginning")]
    from: FromArg,
    /// Wait for new records (until Ctrl-C or --count) instead of stopping
    /// at the end offsets the partitions had at the start.
    #[arg(long)]
    follow: bool,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Read only this partition.
    #[arg(long, value_name = "N")]
    partition: Option<i32>,
    /// How each record is printed.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
    /// Print each record with a kcat-like format string instead: %t topic,
    /// %p partition, %o offset, %k key, %s value, %K and %S their lengths
    /// (-1 for null), %T timestamp (ms), %h headers (name=value,...), %%;
    /// \n, \t, \r and \\. Nothing is added: end it with \n.
    #[arg(long, value_parser = Template::parse, conflicts_with_all = ["format", "print_key"])]
    template: Option<Template>,
    /// Text format: print the key before the value.
    #[arg(long)]
    print_key: bool,
    /// Text format with --print-key: what separates key and value.
    #[arg(long, value_name = "SEP", default_value = "\t", requires = "print_key")]
    key_separator: String,
    /// librdkafka property, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

/// `--from` of `rill consume`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FromArg {
    /// The oldest record each partition still has.
    Beginning,
    /// Only records written after the start (use with --follow).
    End,
}

/// `--format` of `rill consume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FormatArg {
    /// The value, one per line (key SEP value with --print-key).
    Text,
    /// One JSON object per line: topic, partition, offset, timestamp, key,
    /// value, headers.
    Json,
}

/// How a record is printed.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    /// The value and a newline, the key and a separator before it if set.
    Text {
        /// Print the key and this after it.
        key_separator: Option<String>,
    },
    /// One JSON object and a newline.
    Json,
    /// A kcat-like format string.
    Template(Template),
}

/// A parsed `--template`: literal bytes and record fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Topic,
    Partition,
    Offset,
    Key,
    KeyLength,
    Value,
    ValueLength,
    Timestamp,
    Headers,
}

/// Why a `--template` cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum TemplateError {
    /// `%` followed by a letter that names no field.
    #[error("unknown %{0}\n  fix: use %t %p %o %k %K %s %S %T %h, or %% for a percent sign")]
    UnknownField(char),
    /// `\` followed by something that is no escape.
    #[error("unknown escape \\{0}\n  fix: use \\n \\t \\r, or \\\\ for a backslash")]
    UnknownEscape(char),
    /// The template ends with a lone `%` or `\`.
    #[error("ends with a lone {0}\n  fix: write %% or \\\\ for the character itself")]
    Dangling(char),
}

impl Template {
    /// Parses a kcat-like format string (see `--template`).
    pub(crate) fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    let field = match chars.next().ok_or(TemplateError::Dangling('%'))? {
                        '%' => {
                            literal.push('%');
                            continue;
                        }
                        't' => Piece::Topic,
                        'p' => Piece::Partition,
                        'o' => Piece::Offset,
                        'k' => Piece::Key,
                        'K' => Piece::KeyLength,
                        's' => Piece::Value,
                        'S' => Piece::ValueLength,
                        'T' => Piece::Timestamp,
                        'h' => Piece::Headers,
                        other => return Err(TemplateError::UnknownField(other)),
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(field);
                }
                '\\' => literal.push(match chars.next().ok_or(TemplateError::Dangling('\\'))? {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    other => return Err(TemplateError::UnknownEscape(other)),
                }),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template(pieces))
    }
}

/// A record as `--format json` prints it, fields in this order.
#[derive(serde::Serialize)]
struct JsonRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Value,
    value: Value,
    headers: Vec<(&'a str, Value)>,
}

/// Appends `record` to `out` as `output` prints it. Text and templates
/// write the bytes as they are (a null key or value prints as nothing);
/// JSON says null and base64-encodes what is not UTF-8.
pub(crate) fn render(record: &InputRecord, output: &Output, out: &mut Vec<u8>) {
    let bytes = |b: &Option<bytes::Bytes>| b.as_deref().unwrap_or_default().to_vec();
    match output {
        Output::Text { key_separator } => {
            if let Some(separator) = key_separator {
                out.extend(bytes(&record.key));
                out.extend(separator.as_bytes());
            }
            out.extend(bytes(&record.value));
            out.push(b'\n');
        }
        Output::Json => {
            let headers: Vec<(&str, Value)> = record
                .headers
                .iter()
                .map(|h| (h.key.as_str(), json_bytes::to_json(h.value.as_deref())))
                .collect();
            let json = JsonRecord {
                topic: &record.topic,
                partition: record.partition,
                offset: record.offset,
                timestamp: record.timestamp,
                key: json_bytes::to_json(record.key.as_deref()),
                value: json_bytes::to_json(record.value.as_deref()),
                headers,
            };
            // Writing into a Vec fails only for a map with non-string keys.
            serde_json::to_writer(&mut *out, &json).expect("a record serializes");
            out.push(b'\n');
        }
        Output::Template(Template(pieces)) => {
            let length = |b: &Option<bytes::Bytes>| b.as_ref().map_or(-1, |b| b.len() as i64).to_string();
            for piece in pieces {
                let text = match piece {
                    Piece::Literal(text) => text.clone(),
                    Piece::Topic => record.topic.to_string(),
                    Piece::Partition => record.partition.to_string(),
                    Piece::Offset => record.offset.to_string(),
                    Piece::Timestamp => record.timestamp.to_string(),
                    Piece::KeyLength => length(&record.key),
                    Piece::ValueLength => length(&record.value),
                    Piece::Key => {
                        out.extend(bytes(&record.key));
                        continue;
                    }
                    Piece::Value => {
                        out.extend(bytes(&record.value));
                        continue;
                    }
                    Piece::Headers => {
                        for (i, h) in record.headers.iter().enumerate() {
                            if i > 0 {
                                out.push(b',');
                            }
                            out.extend(h.key.as_bytes());
                            if let Some(value) = &h.value {
                                out.push(b'=');
                                out.extend(value);
                            }
                        }
                        continue;
                    }
                };
                out.extend(text.as_bytes());
            }
        }
    }
}

/// Runs `rill consume`: records to stdout until the end offsets, `--count`
/// or Ctrl-C. A closed stdout (`| head`) ends it quietly.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let (shutdown, _signals) = super::shutdown_flag()?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match consume_to(&mut stdout, &args, &shutdown) {
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// Writes the records `args` asks for to `out` until done or `stop` is
/// set; how many were written.
pub(crate) fn consume_to(out: &mut impl Write, args: &ConsumeArgs, stop: &AtomicBool) -> anyhow::Result<usize> {
    let output = match (&args.template, args.format) {
        (Some(template), _) => Output::Template(template.clone()),
        (None, FormatArg::Json) if args.print_key => {
            anyhow::bail!("--print-key is for --format text; JSON always has the key")
        }
        (None, FormatArg::Json) => Output::Json,
        (None, FormatArg::Text) => Output::Text {
            key_separator: args.print_key.then(|| args.key_separator.clone()),
        },
    };
    let settings = KafkaSettings {
        brokers: args.brokers.clone(),
        overrides: args.property.clone(),
    };
    let start = match args.from {
        FromArg::Beginning => StartAt::Beginning,
        FromArg::End => StartAt::End,
    };
    let mut reader = ConsoleReader::open(&settings, &args.topic, args.partition, start, args.follow)?;
    let mut line = Vec::new();
    let mut written = 0;
    while !stop.load(Ordering::Acquire) && args.count.is_none_or(|n| written < n) {
        match reader.poll(Duration::from_millis(100)) {
            Polled::Record(record) => {
                line.clear();
                render(&record, &output, &mut line);
                out.write_all(&line)?;
                written += 1;
            }
            Polled::Idle => out.flush()?,
            Polled::Done => break,
        }
    }
    out.flush()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;

    fn record() -> InputRecord {
        InputRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 41,
            timestamp: 1_700_000_000_000,
            key: Some(b"k1".to_vec().into()),
            value: Some(b"v1".to_vec().into()),
            headers: vec![
                Header {
                    key: "trace".into(),
                    value: Some(b"7".to_vec()),
                },
                Header {
                    key: "empty".into(),
                    value: None,
                },
            ],
        }
    }

    fn shown(record: &InputRecord, output: &Output) -> String {
        let mut out = Vec::new();
        render(record, output, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn template(text: &str) -> Output {
        Output::Template(Template::parse(text).unwrap())
    }

    #[test]
    fn text_is_the_value_with_the_key_on_request() {
        assert_eq!(shown(&record(), &Output::Text { key_separator: None }), "v1\n");
        let keyed = Output::Text {
            key_separator: Some("\t".into()),
        };
        assert_eq!(shown(&record(), &keyed), "k1\tv1\n");
        let nulls = InputRecord {
            key: None,
            value: None,
            ..record()
        };
        assert_eq!(shown(&nulls, &keyed), "\t\n");
    }

    #[test]
    fn json_has_every_field_and_base64_for_other_bytes() {
        let line = shown(&record(), &Output::Json);
        assert!(
            line.starts_with(r#"{"topic":"orders","partition":2,"offset":41,"#),
            "{line}"
        );
        assert!(line.ends_with('\n'));
        let json: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "topic": "orders", "partition": 2, "offset": 41, "timestamp": 1_700_000_000_000i64,
                "key": "k1", "value": "v1", "headers": [["trace", "7"], ["empty", null]],
            })
        );
        let binary = InputRecord {
            key: None,
            value: Some(vec![0xff, 0xfe].into()),
            ..record()
        };
        let json: Value = serde_json::from_str(&shown(&binary, &Output::Json)).unwrap();
        assert_eq!(
            (&json["key"], &json["value"]),
            (&Value::Null, &serde_json::json!({"base64": "//4="}))
        );
    }

    #[test]
    fn a_template_fills_in_fields_like_kcat() {
        assert_eq!(
            shown(&record(), &template("%t/%p@%o %T %k=%s (%K,%S) [%h] 100%%\\n")),
            "orders/2@41 1700000000000 k1=v1 (2,2) [trace=7,empty] 100%\n"
        );
        let nulls = InputRecord {
            key: None,
            value: None,
            headers: vec![],
            ..record()
        };
        assert_eq!(shown(&nulls, &template("%k|%s|%K|%S|%h\\t\\\\")), "||-1|-1|\t\\");
    }

    #[test]
    fn a_bad_template_is_refused_with_the_fix() {
        assert_eq!(Template::parse("%x"), Err(TemplateError::UnknownField('x')));
        assert_eq!(Template::parse("\\q"), Err(TemplateError::UnknownEscape('q')));
        assert_eq!(Template::parse("%s%"), Err(TemplateError::Dangling('%')));
        assert_eq!(Template::parse("%s\\"), Err(TemplateError::Dangling('\\')));
        assert!(TemplateError::UnknownField('x').to_string().contains("%t %p %o"));
    }
}
