//! Fields the host reads out of input values for processors (WIT 0.3.0,
//! `docs/design/008-parse-once.md`).
//!
//! A manifest's `[fields]` names paths into a record's value. Instead of
//! every processor copying the whole value into its instance and parsing
//! it in Wasm, the task parses each value once, natively, with the union
//! of the paths its processors declare ([`Plan`]), and keeps where each
//! path's value lies in the bytes ([`Parsed`]). Every processor of the
//! chain that sees the same bytes (a record forwarded unchanged) reuses
//! that parse. The codec is a trait ([`FieldCodec`]); JSON is the one there
//! is ([`json::Json`]).
//!
//! This module knows bytes and paths only: what a component sees (the WIT
//! shapes) is `plugin/`'s business.

pub mod json;
mod plan;

/// Paths and the canonical-text rule are the SDK's (its test driver reads
/// fields the same way); the host validates and parses with them.
pub use rill_sdk::fields::{FieldPath, PathError, Segment, canonical};
pub use plan::{Node, Plan};

use std::ops::Range;

/// Where one declared path's value lies in a record's value bytes: the
/// exact text of the value, `None` when the path does not exist.
pub type Span = Option<Range<u32>>;

/// The outcome of parsing one value with a [`Plan`]: one [`Span`] per slot
/// of the plan, or why the value could not be parsed (not JSON, null).
pub type Parsed = Result<Vec<Span>, String>;

/// A value format the host can read fields out of.
pub trait FieldCodec: Send + Sync {
    /// Finds every slot of `plan` in `value`, validating the whole value.
    fn parse(&self, plan: &Plan, value: &[u8]) -> Parsed;
}

/// What a field's text is, read from its first byte (the text is a whole
/// JSON value, as a [`Span`] gives it).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean(bool),
    /// A number.
    Number(f64),
    /// A string, unescaped (borrowed when it has no escapes).
    Text(std::borrow::Cow<'a, str>),
    /// An object or an array: handed over as its text.
    Composite,
}

/// Classifies a JSON value's text (as [`json::Json`] spans give it).
pub fn scalar(text: &str) -> Scalar<'_> {
    match text.as_bytes().first() {
        Some(b'n') => Scalar::Null,
        Some(b't') => Scalar::Boolean(true),
        Some(b'f') => Scalar::Boolean(false),
        Some(b'"') => {
            let inner = &text[1..text.len() - 1];
            if inner.contains('\\') {
                // Valid JSON (the parse checked it), so this cannot fail.
                Scalar::Text(serde_json::from_str::<String>(text).unwrap_or_default().into())
            } else {
                Scalar::Text(inner.into())
            }
        }
        Some(b'{' | b'[') => Scalar::Composite,
        _ => Scalar::Number(text.parse().unwrap_or(f64::NAN)),
    }
}

#[cfg(test)]
mod tests;
