//! The component ABI, generated from `wit/` by wit-bindgen. Hidden: plugin
//! code uses the plain types and the `export!` macro only.

#[allow(missing_docs, unsafe_op_in_unsafe_fn)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "processor",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "export_world",
    });
}

pub use bindings::Guest;
pub use bindings::export_world;
pub use bindings::rill::processor::time::{
    Aggregation, Clock as WitClock, Tick as WitTick, WindowResult as WitWindowResult,
};
pub use bindings::rill::processor::types::{Header as WitHeader, InputRecord, OutputRecord, RecordResult};
pub use bindings::rill::processor::fields::{FieldRecord, FieldResult};
pub use bindings::rill::processor::joins::JoinResult as WitJoinResult;
use bindings::rill::processor::fields::{self as wit_fields, FieldOutput, InputValue, OutputValue};

use crate::{Header, JoinResult, Output, Processor, Record, Tick, Window, WindowResult};
use std::cell::RefCell;

std::thread_local! {
    /// The one processor of this instance, built by `init`. A component
    /// instance is single-threaded, so a thread-local is the whole story.
    static INSTANCE: RefCell<Option<Box<dyn std::any::Any>>> = RefCell::new(None);
    /// The manifest's `[fields]` names, asked of the host once.
    static FIELD_NAMES: std::cell::OnceCell<std::rc::Rc<[String]>> = const { std::cell::OnceCell::new() };
}

/// The `init` export: builds `P` from the JSON config.
pub fn init<P: Processor>(config: String) -> Result<(), String> {
    let processor = crate::build::<P>(&config).map_err(|e| e.to_string())?;
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(processor)));
    Ok(())
}

/// The `process` export: runs `P::process` on each record in order.
pub fn process<P: Processor>(batch: Vec<InputRecord>) -> Vec<RecordResult> {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let Some(processor) = slot.as_mut().and_then(|p| p.downcast_mut::<P>()) else {
            let message = "process called before a successful init".to_string();
            return batch.iter().map(|_| Err(message.clone())).collect();
        };
        batch
            .into_iter()
            .map(|record| {
                processor
                    .process(from_wit(record))
                    .map(|outputs| outputs.into_iter().map(to_wit).collect())
                    .map_err(|e| e.to_string())
            })
            .collect()
    })
}

/// The `process-fields` export: runs `P::process` on each record, with
/// its fields; a forwarded value goes back as `output-value::input`.
pub fn process_fields<P: Processor>(batch: Vec<FieldRecord>) -> Vec<FieldResult> {
    let names = FIELD_NAMES.with(|n| n.get_or_init(|| wit_fields::names().into()).clone());
    let n = batch.len();
    with::<P, _>(
        || vec![Err(NO_INIT.to_string()); n],
        |processor| {
            batch
                .into_iter()
                .map(|r| {
                    let omitted = matches!(r.value, InputValue::Omitted);
                    let values = r.fields.map(|fields| fields.into_iter().map(from_wit_field).collect());
                    let mut fields = crate::fields::Fields::new(names.clone(), values);
                    fields.value_omitted = omitted;
                    let record = Record {
                        topic: r.topic,
                        partition: r.partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        key: r.key,
                        value: match r.value {
                            InputValue::Bytes(bytes) => Some(bytes),
                            InputValue::Null | InputValue::Omitted => None,
                        },
                        headers: r.headers.into_iter().map(|h| Header { key: h.key, value: h.value }).collect(),
                        fields,
                    };
                    processor
                        .process(record)
                        .map(|outputs| outputs.into_iter().map(to_wit_field_output).collect())
                        .map_err(|e| e.to_string())
                })
                .collect()
        },
    )
}

fn from_wit_field(field: wit_fields::Field) -> crate::Field {
    match field {
        wit_fields::Field::Missing => crate::Field::Missing,
        wit_fields::Field::Null => crate::Field::Null,
        wit_fields::Field::Boolean(b) => crate::Field::Boolean(b),
        wit_fields::Field::Number(n) => crate::Field::Number(n),
        wit_fields::Field::Text(t) => crate::Field::Text(t),
        wit_fields::Field::Raw(r) => crate::Field::Raw(crate::RawJson {
            text: r.text,
            canonical: r.canonical,
        }),
    }
}

fn to_wit_field_output(o: Output) -> FieldOutput {
    FieldOutput {
        value: match o.value {
            None if o.forwarded => OutputValue::Input,
            None => OutputValue::Null,
            Some(bytes) => OutputValue::Bytes(bytes),
        },
        output: o.output,
        key: o.key,
        headers: o.headers.into_iter().map(|h| WitHeader { key: h.key, value: h.value }).collect(),
        timestamp: o.timestamp,
    }
}

/// Runs `f` on this instance's processor, or fails with `none` before init.
fn with<P: Processor, T>(none: impl FnOnce() -> T, f: impl FnOnce(&mut P) -> T) -> T {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_mut().and_then(|p| p.downcast_mut::<P>()) {
            Some(processor) => f(processor),
            None => none(),
        }
    })
}

const NO_INIT: &str = "called before a successful init";

/// The `aggregate` export: folds each aggregation's records with
/// `P::merge` and `P::aggregate`.
pub fn aggregate<P: Processor>(batch: Vec<Aggregation>) -> Vec<Result<Vec<Vec<u8>>, String>> {
    let n = batch.len();
    with::<P, _>(
        || vec![Err(NO_INIT.to_string()); n],
        |processor| {
            batch
                .into_iter()
                .map(|a| {
                    let window = Window {
                        store: a.store,
                        key: a.key,
                        start: a.window.start,
                        end: a.window.end,
                    };
                    crate::windows::fold(
                        processor,
                        &window,
                        a.current,
                        a.merged,
                        a.records.into_iter().map(from_wit),
                        a.running,
                    )
                    .map_err(|e| e.to_string())
                })
                .collect()
        },
    )
}

/// The `emit` export: `P::emit` per window result.
pub fn emit<P: Processor>(results: Vec<WitWindowResult>) -> Vec<Result<Vec<OutputRecord>, String>> {
    outputs_each::<P, _>(results, |processor, r| {
        processor.emit(WindowResult {
            window: Window {
                store: r.store,
                key: r.key,
                start: r.window.start,
                end: r.window.end,
            },
            value: r.value,
            timestamp: r.timestamp,
        })
    })
}

/// The `join` export: `P::join` per join result.
pub fn join<P: Processor>(results: Vec<WitJoinResult>) -> Vec<Result<Vec<OutputRecord>, String>> {
    outputs_each::<P, _>(results, |processor, r| {
        processor.join(JoinResult {
            join: r.join,
            key: r.key,
            left: r.left,
            right: r.right,
            timestamp: r.timestamp,
        })
    })
}

/// Calls `call` on each item in order: one WIT result per item, its outputs
/// or its error's message (every item an error before init).
fn outputs_each<P: Processor, T>(
    items: Vec<T>,
    mut call: impl FnMut(&mut P, T) -> Result<Vec<Output>, crate::Error>,
) -> Vec<Result<Vec<OutputRecord>, String>> {
    let n = items.len();
    with::<P, _>(
        || vec![Err(NO_INIT.to_string()); n],
        |processor| {
            items
                .into_iter()
                .map(|item| {
                    call(processor, item)
                        .map(|outputs| outputs.into_iter().map(to_wit).collect())
                        .map_err(|e| e.to_string())
                })
                .collect()
        },
    )
}

/// The `on-timer` export: `P::on_timer`.
pub fn on_timer<P: Processor>(tick: WitTick) -> Result<Vec<OutputRecord>, String> {
    with::<P, _>(
        || Err(NO_INIT.to_string()),
        |processor| {
            let tick = Tick {
                name: tick.name,
                clock: match tick.clock {
                    WitClock::StreamTime => crate::Clock::StreamTime,
                    WitClock::WallClock => crate::Clock::WallClock,
                },
                time: tick.time,
            };
            processor
                .on_timer(tick)
                .map(|outputs| outputs.into_iter().map(to_wit).collect())
                .map_err(|e| e.to_string())
        },
    )
}

pub(crate) fn timer_schedule(name: &str, clock: crate::Clock, interval_ms: u64, aligned: bool) -> Result<(), String> {
    let clock = match clock {
        crate::Clock::StreamTime => WitClock::StreamTime,
        crate::Clock::WallClock => WitClock::WallClock,
    };
    bindings::rill::processor::timers::schedule(name, clock, interval_ms, aligned)
}

pub(crate) fn timer_cancel(name: &str) {
    bindings::rill::processor::timers::cancel(name)
}

fn from_wit(r: InputRecord) -> Record {
    Record {
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers: r
            .headers
            .into_iter()
            .map(|h| Header {
                key: h.key,
                value: h.value,
            })
            .collect(),
        fields: Default::default(),
    }
}

fn to_wit(o: Output) -> OutputRecord {
    OutputRecord {
        output: o.output,
        key: o.key,
        value: o.value,
        headers: o
            .headers
            .into_iter()
            .map(|h| WitHeader {
                key: h.key,
                value: h.value,
            })
            .collect(),
        timestamp: o.timestamp,
    }
}

use crate::log::Level;
use crate::state::StateError;
use bindings::rill::processor::{log as wit_log, state as wit_state};

pub(crate) fn log(level: Level, message: &str) {
    let level = match level {
        Level::Trace => wit_log::Level::Trace,
        Level::Debug => wit_log::Level::Debug,
        Level::Info => wit_log::Level::Info,
        Level::Warn => wit_log::Level::Warn,
        Level::Error => wit_log::Level::Error,
    };
    wit_log::log(level, message)
}

fn state_error(e: wit_state::StateError) -> StateError {
    match e {
        wit_state::StateError::Undeclared(name) => StateError::Undeclared(name),
        wit_state::StateError::Storage(message) => StateError::Storage(message),
    }
}

pub(crate) fn state_get(name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    wit_state::get(name, key).map_err(state_error)
}

pub(crate) fn state_put(name: &str, key: &[u8], value: &[u8]) -> Result<(), StateError> {
    wit_state::put(name, key, value).map_err(state_error)
}

pub(crate) fn state_delete(name: &str, key: &[u8]) -> Result<(), StateError> {
    wit_state::delete(name, key).map_err(state_error)
}

pub(crate) fn state_range(
    name: &str,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    limit: u32,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
    wit_state::range(name, start, end, limit)
        .map(|entries| entries.into_iter().map(|e| (e.key, e.value)).collect())
        .map_err(state_error)
}

pub(crate) fn state_lookup(table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    wit_state::lookup(table, key).map_err(state_error)
}
