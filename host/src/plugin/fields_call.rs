//! The 0.3.0 `process-fields` call: records lowered together with the
//! fields the task parsed out of their values (borrowed, never copied into
//! an owned WIT value first), and outputs lifted back, with
//! `output-value::input` turned into the input's own bytes.
//!
//! The shapes mirror `interface fields` in `wit/processor.wit`; like
//! [`crate::record`]'s, they are type-checked against the component when
//! the call is made, so a drift refuses the call instead of misreading.

use crate::fields::{Parsed, Scalar, canonical};
use crate::record::{Header, InputRecord, OutputRecord, RecordResult};
use wasmtime::component::{ComponentType, Lift, Lower};

/// Which of a task's parsed slots a stage's declared fields are, and how
/// each is passed: what a stage needs to turn a [`Parsed`] into its fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldView {
    /// For each `[fields]` entry, in order: its slot in the task's plan.
    pub slots: Vec<usize>,
    /// For each entry: `as = "raw"`.
    pub raw: Vec<bool>,
    /// The value's bytes go into the instance too (`input-value = "bytes"`).
    pub with_value: bool,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(super) struct RawJson<'a> {
    text: &'a str,
    canonical: bool,
}

#[derive(ComponentType, Lower)]
#[component(variant)]
pub(super) enum Field<'a> {
    #[component(name = "missing")]
    Missing,
    #[component(name = "null")]
    Null,
    #[component(name = "boolean")]
    Boolean(bool),
    #[component(name = "number")]
    Number(f64),
    #[component(name = "text")]
    Text(String),
    #[component(name = "raw")]
    Raw(RawJson<'a>),
}

#[derive(ComponentType, Lower)]
#[component(variant)]
pub(super) enum InputValue<'a> {
    #[component(name = "null")]
    Null,
    #[component(name = "bytes")]
    Bytes(&'a [u8]),
    #[component(name = "omitted")]
    Omitted,
}

/// `field-record`, borrowing from the task's record and parse.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(super) struct FieldRecord<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: InputValue<'a>,
    headers: &'a [Header],
    fields: Result<Vec<Field<'a>>, &'a str>,
}

#[derive(ComponentType, Lift)]
#[component(variant)]
pub(super) enum OutputValue {
    #[component(name = "null")]
    Null,
    #[component(name = "bytes")]
    Bytes(bytes::Bytes),
    #[component(name = "input")]
    Input,
}

/// `field-output`, as lifted from the instance.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(super) struct FieldOutput {
    output: String,
    key: Option<bytes::Bytes>,
    value: OutputValue,
    headers: Vec<Header>,
    timestamp: Option<i64>,
}

/// What `process-fields` returns for one record.
pub(super) type FieldResult = Result<Vec<FieldOutput>, String>;

/// The batch as `process-fields` takes it: `parsed[i]` is `batch[i]`'s parse.
pub(super) fn lower<'a, P: std::ops::Deref<Target = Parsed>>(
    batch: &'a [InputRecord],
    parsed: &'a [P],
    view: &FieldView,
) -> Vec<FieldRecord<'a>> {
    batch
        .iter()
        .zip(parsed)
        .map(|(record, parsed)| {
            let value = record.value.as_deref();
            let fields = match (value, &**parsed) {
                (None, _) => Err("the value is null"),
                (Some(_), Err(message)) => Err(message.as_str()),
                (Some(bytes), Ok(spans)) => Ok(view
                    .slots
                    .iter()
                    .zip(&view.raw)
                    .map(|(&slot, &raw)| field(bytes, spans[slot].clone(), raw))
                    .collect()),
            };
            FieldRecord {
                topic: &record.topic,
                partition: record.partition,
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key.as_deref(),
                value: match value {
                    None => InputValue::Null,
                    Some(bytes) if view.with_value => InputValue::Bytes(bytes),
                    Some(_) => InputValue::Omitted,
                },
                headers: &record.headers,
                fields,
            }
        })
        .collect()
}

/// One field of a value, from its span.
fn field(value: &[u8], span: crate::fields::Span, raw: bool) -> Field<'_> {
    let Some(span) = span else {
        return Field::Missing;
    };
    // The parse validated the whole value, so its spans are UTF-8 JSON.
    let Ok(text) = std::str::from_utf8(&value[span.start as usize..span.end as usize]) else {
        return Field::Missing;
    };
    let whole = || {
        Field::Raw(RawJson {
            text,
            canonical: canonical::is_canonical(text),
        })
    };
    if raw {
        return whole();
    }
    match crate::fields::scalar(text) {
        Scalar::Null => Field::Null,
        Scalar::Boolean(b) => Field::Boolean(b),
        Scalar::Number(n) => Field::Number(n),
        Scalar::Text(t) => Field::Text(t.into_owned()),
        Scalar::Composite => whole(),
    }
}

/// The instance's results as the task routes them: `input` values become
/// a copy of the input's bytes, held by the host all along.
pub(super) fn lift(batch: &[InputRecord], results: Vec<FieldResult>) -> Vec<RecordResult> {
    batch
        .iter()
        .zip(results)
        .map(|(record, result)| {
            result.map(|outputs| {
                outputs
                    .into_iter()
                    .map(|o| OutputRecord {
                        output: o.output,
                        key: o.key,
                        value: match o.value {
                            OutputValue::Null => None,
                            OutputValue::Bytes(bytes) => Some(bytes),
                            OutputValue::Input => record.value.clone(),
                        },
                        headers: o.headers,
                        timestamp: o.timestamp,
                    })
                    .collect()
            })
        })
        .collect()
}
