//! Fields the host read out of a record's value (manifest `[fields]`,
//! WIT 0.3.0): read them by the names the manifest gives them instead of
//! parsing the value yourself.
//!
//! ```toml
//! [fields]
//! pct = "system.cpu.total.norm.pct"
//! host = { path = "host", as = "raw" }
//! ```
//!
//! ```
//! # use rill_sdk::{Error, Record};
//! fn busy(record: &Record) -> Result<bool, Error> {
//!     Ok(record.number("pct")? > 0.5)
//! }
//! ```
//!
//! The host parses each value once for the whole chain of processors, and
//! (unless the manifest sets `input-value = "bytes"`) does not copy the
//! value into the plugin at all: [`crate::Output::forward`] still sends it
//! on unchanged. [`RawJson`] is a sub-document's exact text, which
//! [`RawJson::with_member`] can extend into an output without parsing.
//!
//! `path` and `canonical` are shared with the host, which uses the same
//! rules when it validates manifests and parses values.

pub mod canonical;
mod extract;
pub mod path;

pub use path::{FieldPath, PathError, Segment};

use crate::Error;
use std::rc::Rc;

/// A sub-document's JSON text exactly as it stands in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson {
    /// The JSON text.
    pub text: String,
    /// The text is already what a compact JSON writer (serde_json, Gson)
    /// writes for it, so it can be copied into an output as it is
    /// ([`canonical::is_canonical`] has the rules).
    pub canonical: bool,
}

impl RawJson {
    /// A raw value from its text, `canonical` computed.
    pub fn new(text: impl Into<String>) -> RawJson {
        let text = text.into();
        RawJson {
            canonical: canonical::is_canonical(&text),
            text,
        }
    }

    /// This object with `"key": value` appended, without parsing either:
    /// `None` unless both are canonical, this is an object, and `"key"`
    /// appears nowhere in it (so it cannot already be a member). Callers
    /// fall back to parsing and writing the object themselves then.
    pub fn with_member(&self, key: &str, value: &RawJson) -> Option<Vec<u8>> {
        let quoted = serde_json::to_string(key).ok()?;
        let body = self.text.strip_prefix('{')?.strip_suffix('}')?;
        if !self.canonical || !value.canonical || self.text.contains(&quoted) {
            return None;
        }
        let mut out = Vec::with_capacity(self.text.len() + quoted.len() + value.text.len() + 2);
        out.push(b'{');
        out.extend_from_slice(body.as_bytes());
        if !body.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(quoted.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.text.as_bytes());
        out.push(b'}');
        Some(out)
    }
}

/// One declared field of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// The path does not exist in the value.
    Missing,
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Boolean(bool),
    /// A number.
    Number(f64),
    /// A string, unescaped.
    Text(String),
    /// An object or array, or any field declared `as = "raw"`.
    Raw(RawJson),
}

/// A record's declared fields, by the manifest's names.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    names: Rc<[String]>,
    values: Result<Vec<Field>, String>,
    /// The host kept the value's bytes (no `input-value = "bytes"`).
    pub(crate) value_omitted: bool,
}

impl Default for Fields {
    /// No fields (a record of a processor without `[fields]`).
    fn default() -> Fields {
        Fields::new(Rc::from([]), Ok(Vec::new()))
    }
}

impl Fields {
    /// Fields as the host hands them over: `names` in the order of
    /// `values`, or why the value has none (null, not JSON).
    pub fn new(names: Rc<[String]>, values: Result<Vec<Field>, String>) -> Fields {
        Fields {
            names,
            values,
            value_omitted: false,
        }
    }

    /// The field named `name` in `[fields]`. An error when the value could
    /// not be read (null, not JSON) or no field has that name.
    pub fn get(&self, name: &str) -> Result<&Field, Error> {
        let values = self.values.as_ref().map_err(|message| Error::new(message.clone()))?;
        let at = self.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::new(format!(
                "no field `{name}`: declare it in the manifest's [fields] (declared: {})",
                self.names.join(", ")
            ))
        })?;
        values.get(at).ok_or_else(|| Error::new(format!("the host sent no value for field `{name}`")))
    }
}

impl crate::Record {
    /// The declared field `name` (see [`Fields::get`]).
    pub fn field(&self, name: &str) -> Result<&Field, Error> {
        self.fields.get(name)
    }

    /// The declared field `name` as a number; an error when it is missing
    /// or another kind.
    pub fn number(&self, name: &str) -> Result<f64, Error> {
        match self.field(name)? {
            Field::Number(n) => Ok(*n),
            other => Err(kind_error(name, "a number", other)),
        }
    }

    /// The declared field `name` as text; an error when it is missing or
    /// another kind.
    pub fn text(&self, name: &str) -> Result<&str, Error> {
        match self.field(name)? {
            Field::Text(t) => Ok(t),
            other => Err(kind_error(name, "a string", other)),
        }
    }

    /// The declared field `name` as raw JSON; an error when it is missing.
    /// A field declared `as = "raw"` is always raw; otherwise objects and
    /// arrays are.
    pub fn raw(&self, name: &str) -> Result<&RawJson, Error> {
        match self.field(name)? {
            Field::Raw(r) => Ok(r),
            other => Err(kind_error(name, "raw JSON (declare it with as = \"raw\")", other)),
        }
    }
}

fn kind_error(name: &str, wanted: &str, got: &Field) -> Error {
    let got = match got {
        Field::Missing => return Error::new(format!("field `{name}` is missing from the value")),
        Field::Null => "null",
        Field::Boolean(_) => "a boolean",
        Field::Number(_) => "a number",
        Field::Text(_) => "a string",
        Field::Raw(_) => "an object or array",
    };
    Error::new(format!("field `{name}` is {got}, not {wanted}"))
}

pub(crate) use extract::extract;
