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

/// One record to emit, addressed to a named output of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Name of an output declared in the manifest's `[outputs]` table.
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
