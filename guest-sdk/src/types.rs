//! The plain types a processor works with. They mirror `rill:processor/types`
//! field for field, so converting to and from the component ABI is a move.

use std::fmt;

/// A Kafka record header. Kafka allows a header with no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
}

/// One record read from an input topic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Topic the record was read from.
    pub topic: String,
    /// Partition the record was read from.
    pub partition: i32,
    /// Offset of the record in its partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// `None` is Kafka's null key.
    pub key: Option<Vec<u8>>,
    /// `None` is Kafka's null value (a tombstone in a table topic).
    pub value: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<Header>,
    /// The manifest's `[fields]`, read out of the value by the host (empty
    /// without `[fields]`); see [`Record::field`].
    pub fields: crate::fields::Fields,
}

impl Record {
    /// The value as bytes, or an [`Error`] naming the record when it is null
    /// (or, with `[fields]`, was not passed to the plugin).
    /// Most processors need a value; this makes "no value" a record error.
    pub fn value_bytes(&self) -> Result<&[u8], Error> {
        if self.fields.value_omitted {
            return Err(Error::new(
                "the value was not passed to the plugin: with [fields] only the fields are; \
                 set input-value = \"bytes\" in the manifest to get the value too",
            ));
        }
        self.value
            .as_deref()
            .ok_or_else(|| Error::new("record has a null value"))
    }
}

/// Separates an output's name from the topic chosen for one record in
/// [`Output::output`] (`"by-host:alerts.web-1"`): an output declared with
/// `topic-pattern` in the manifest takes its topic per record (Kafka
/// Streams' `TopicNameExtractor`). Neither an output name (letters, digits,
/// `-`, `_`) nor a Kafka topic name (letters, digits, `.`, `_`, `-`) can
/// hold it, so the host splits the text at its first occurrence without
/// ambiguity.
pub const TOPIC_SEPARATOR: char = ':';

/// One record to emit, addressed to a named output of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Name of an output declared in the manifest's `[outputs]` table; for
    /// an output declared with `topic-pattern`, the name, [`TOPIC_SEPARATOR`]
    /// and the record's topic (written by [`Output::to_topic`]).
    pub output: String,
    /// Record key; `None` is Kafka's null key.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Record headers, in order.
    pub headers: Vec<Header>,
    /// `None` keeps the input record's timestamp.
    pub timestamp: Option<i64>,
    /// The value is the input record's, unchanged: the host sends the bytes
    /// it holds instead of copying them back out of the plugin.
    pub(crate) forwarded: bool,
}

impl Output {
    /// A record for `output` with the given key and value, no headers, and
    /// the input record's timestamp.
    pub fn new(output: impl Into<String>, key: Option<Vec<u8>>, value: Option<Vec<u8>>) -> Self {
        Output {
            output: output.into(),
            key,
            value,
            headers: Vec::new(),
            timestamp: None,
            forwarded: false,
        }
    }

    /// Sends `record` on to `output` unchanged: same key, value (byte for
    /// byte), headers and timestamp. This is Kafka Streams' `branch`/`to`.
    /// With `[fields]`, the host sends the value it holds: the plugin never
    /// had it (`value` is `None` here); use [`Output::map_value`] to send
    /// another value.
    pub fn forward(record: Record, output: impl Into<String>) -> Self {
        Output {
            output: output.into(),
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp: Some(record.timestamp),
            forwarded: record.fields.value_omitted,
        }
    }

    /// The same record with a different value; key, headers and timestamp
    /// stay. This is Kafka Streams' `mapValues`.
    pub fn map_value(record: Record, output: impl Into<String>, value: Vec<u8>) -> Self {
        Output {
            value: Some(value),
            forwarded: false,
            ..Output::forward(record, output)
        }
    }

    /// A stream-stream join's output: `result`'s key and timestamp with
    /// `value`, no headers (the inputs' are not carried over). For
    /// [`crate::Processor::join`]:
    /// `Output::joined(&result, "joined", value)`.
    pub fn joined(result: &crate::JoinResult, output: impl Into<String>, value: Vec<u8>) -> Self {
        Output {
            timestamp: Some(result.timestamp),
            ..Output::new(output, result.key.clone(), Some(value))
        }
    }

    /// The same record sent to `topic`, chosen for this record: the output
    /// must be declared with a `topic-pattern` the topic fully matches (else
    /// the input record is dead-lettered). Kafka Streams'
    /// `to(TopicNameExtractor)`:
    /// `Output::forward(record, "by-host").to_topic(format!("alerts.{host}"))`.
    pub fn to_topic(mut self, topic: impl AsRef<str>) -> Self {
        let name_len = self.output.find(TOPIC_SEPARATOR).unwrap_or(self.output.len());
        self.output.truncate(name_len);
        self.output.push(TOPIC_SEPARATOR);
        self.output.push_str(topic.as_ref());
        self
    }

    /// The declared output's name, without a per-record topic.
    pub fn output_name(&self) -> &str {
        self.output
            .split_once(TOPIC_SEPARATOR)
            .map_or(&self.output, |(name, _)| name)
    }

    /// The topic chosen for this record by [`Output::to_topic`], if any.
    pub fn topic(&self) -> Option<&str> {
        self.output.split_once(TOPIC_SEPARATOR).map(|(_, topic)| topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_topic_names_the_output_and_the_topic_once() {
        let out = Output::new("by-host", None, Some(b"v".to_vec())).to_topic("alerts.web-1");
        assert_eq!(out.output, "by-host:alerts.web-1");
        assert_eq!((out.output_name(), out.topic()), ("by-host", Some("alerts.web-1")));
        let again = out.to_topic("alerts.db-2");
        assert_eq!(again.output, "by-host:alerts.db-2", "a second topic replaces the first");
        let plain = Output::new("alert", None, None);
        assert_eq!((plain.output_name(), plain.topic()), ("alert", None));
    }
}

/// Why a record could not be processed. The record goes to the dead-letter
/// topic with this message in its `rill.error` header.
///
/// Any `std::error::Error` converts into it, so `?` works on parse errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The message, as it will appear in the dead-letter headers.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        Error::new(error.to_string())
    }
}
