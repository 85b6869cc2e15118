//! Stream-stream joins as a plugin sees them: the host buffers both sides
//! of a manifest's `[joins.<name>]`, matches records by key within the
//! join window, times the window out and decides which unmatched records
//! an outer side reports; the plugin only turns each result into output
//! records ([`crate::Processor::join`], Kafka Streams' `ValueJoiner`).
//!
//! ```
//! use rill_sdk::{Error, JoinResult, Output, Processor, Record};
//!
//! struct OrderPayment;
//! impl Processor for OrderPayment {
//!     type Config = rill_sdk::NoConfig;
//!     fn init(_: Self::Config) -> Result<Self, Error> { Ok(OrderPayment) }
//!     // The join's inputs go to the join, never to `process`.
//!     fn process(&mut self, _: Record) -> Result<Vec<Output>, Error> { Ok(vec![]) }
//!     fn join(&mut self, r: JoinResult) -> Result<Vec<Output>, Error> {
//!         let value = format!("{}|{}", r.left_str()?.unwrap_or("null"), r.right_str()?.unwrap_or("null"));
//!         Ok(vec![Output::joined(&r, "joined", value.into_bytes())])
//!     }
//! }
//! ```

use crate::Error;

/// One result of a stream-stream join: a matched pair of records, or one
/// unmatched record of an outer side once its window closed. What
/// [`crate::Processor::join`] turns into outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    /// The `[joins.<name>]` it belongs to, for a processor with several.
    pub join: String,
    /// The records' key; `None` only for a keyless record (the manifest's
    /// `keyless = "emit"`).
    pub key: Option<Vec<u8>>,
    /// The left record's value; `None` for an unmatched right record
    /// (outer join).
    pub left: Option<Vec<u8>>,
    /// The right record's value; `None` for an unmatched left record (left
    /// or outer join).
    pub right: Option<Vec<u8>>,
    /// The result's time (epoch ms): the later of the two records', or the
    /// unmatched record's. [`crate::Output::joined`] gives it to the output.
    pub timestamp: i64,
}

impl JoinResult {
    /// The left value as UTF-8 text (`None`: no left record), or an
    /// [`Error`] naming the join when it is not UTF-8.
    pub fn left_str(&self) -> Result<Option<&str>, Error> {
        self.text("left", self.left.as_deref())
    }

    /// The right value as UTF-8 text (`None`: no right record), or an
    /// [`Error`] naming the join when it is not UTF-8.
    pub fn right_str(&self) -> Result<Option<&str>, Error> {
        self.text("right", self.right.as_deref())
    }

    fn text<'a>(&self, side: &str, value: Option<&'a [u8]>) -> Result<Option<&'a str>, Error> {
        value
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .map_err(|e| Error::new(format!("join '{}': the {side} value is not UTF-8: {e}", self.join)))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Output;

    fn result(left: Option<&[u8]>, right: Option<&[u8]>) -> JoinResult {
        JoinResult {
            join: "order-payment".into(),
            key: Some(b"o-1".to_vec()),
            left: left.map(<[u8]>::to_vec),
            right: right.map(<[u8]>::to_vec),
            timestamp: 1_000,
        }
    }

    #[test]
    fn sides_read_as_text_and_a_missing_side_is_none() {
        let r = result(Some(b"Bike"), None);
        assert_eq!(r.left_str().unwrap(), Some("Bike"));
        assert_eq!(r.right_str().unwrap(), None);
        let bad = result(None, Some(&[0xff]));
        let error = bad.right_str().unwrap_err();
        assert!(
            error
                .message()
                .starts_with("join 'order-payment': the right value is not UTF-8"),
            "{error}"
        );
    }

    #[test]
    fn joined_output_takes_the_key_and_time_of_the_result() {
        let r = result(Some(b"Bike"), Some(b"paid"));
        let out = Output::joined(&r, "joined", b"Bike|paid".to_vec());
        assert_eq!(out.output, "joined");
        assert_eq!(out.key.as_deref(), Some(&b"o-1"[..]));
        assert_eq!(out.value.as_deref(), Some(&b"Bike|paid"[..]));
        assert_eq!(out.timestamp, Some(1_000));
        assert!(out.headers.is_empty());
    }
}
