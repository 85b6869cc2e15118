//! The ABI glue itself (wasm32 only): wit-bindgen's bindings of
//! `wit/interceptor/` and the calls `export_interceptor!` routes each
//! export to, converting between the world's types and `rill_sdk::intercept`'s.

#[allow(missing_docs, unsafe_op_in_unsafe_fn)]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "interceptor",
        path: "../../wit/interceptor",
        pub_export_macro: true,
        export_macro_name: "export_interceptor_world",
    });
}

pub use bindings::Guest;
pub use bindings::export_interceptor_world;
pub use bindings::rill::interceptor::types::{
    Acknowledgement, CommittedOffset, ConsumeAction, ConsumedRecord, SendAction, SendRecord,
};
use bindings::rill::interceptor::{log as wit_log, types as wit};

use rill_sdk::Header;
use rill_sdk::intercept::{self as sdk, Event, Interceptor};
use std::cell::RefCell;

std::thread_local! {
    /// The one interceptor of this instance, built by `init`.
    static INSTANCE: RefCell<Option<Box<dyn std::any::Any>>> = RefCell::new(None);
}

const NO_INIT: &str = "called before a successful init";

fn with<I: Interceptor, T>(f: impl FnOnce(&mut I) -> Result<T, String>) -> Result<T, String> {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_mut().and_then(|i| i.downcast_mut::<I>()) {
            Some(interceptor) => f(interceptor),
            None => Err(NO_INIT.to_string()),
        }
    })
}

fn headers_in(headers: Vec<wit::Header>) -> Vec<Header> {
    headers
        .into_iter()
        .map(|h| Header {
            key: h.key,
            value: h.value,
        })
        .collect()
}

fn headers_out(headers: Vec<Header>) -> Vec<wit::Header> {
    headers
        .into_iter()
        .map(|h| wit::Header {
            key: h.key,
            value: h.value,
        })
        .collect()
}

/// The `init` export.
pub fn init<I: Interceptor>(config: String) -> Result<(), String> {
    sdk::set_log(log);
    let interceptor = sdk::build::<I>(&config).map_err(|e| e.to_string())?;
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(interceptor)));
    Ok(())
}

/// The `on-consume` export.
pub fn on_consume<I: Interceptor>(records: Vec<ConsumedRecord>) -> Result<Vec<ConsumeAction>, String> {
    let records: Vec<sdk::ConsumedRecord> = records
        .into_iter()
        .map(|r| sdk::ConsumedRecord {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: headers_in(r.headers),
        })
        .collect();
    with::<I, _>(|i| {
        let actions = sdk::batch(i, Event::Consume, &records, I::on_consume).map_err(|e| e.to_string())?;
        Ok(actions
            .into_iter()
            .map(|a| match a {
                sdk::ConsumeAction::Pass => ConsumeAction::Pass,
                sdk::ConsumeAction::Drop => ConsumeAction::Drop,
                sdk::ConsumeAction::Change(c) => ConsumeAction::Change(wit::ChangedRecord {
                    key: c.key,
                    value: c.value,
                    headers: headers_out(c.headers),
                    timestamp: c.timestamp,
                }),
            })
            .collect())
    })
}

/// The `on-commit` export.
pub fn on_commit<I: Interceptor>(offsets: Vec<CommittedOffset>) -> Result<(), String> {
    let offsets: Vec<sdk::CommittedOffset> = offsets
        .into_iter()
        .map(|o| sdk::CommittedOffset {
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
        })
        .collect();
    with::<I, _>(|i| {
        sdk::batch(i, Event::Commit, &offsets, I::on_commit)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// The `on-send` export.
pub fn on_send<I: Interceptor>(records: Vec<SendRecord>) -> Result<Vec<SendAction>, String> {
    let records: Vec<sdk::SendRecord> = records
        .into_iter()
        .map(|r| sdk::SendRecord {
            id: r.id,
            topic: r.topic,
            partition: r.partition,
            key: r.key,
            value: r.value,
            headers: headers_in(r.headers),
            timestamp: r.timestamp,
        })
        .collect();
    with::<I, _>(|i| {
        let actions = sdk::batch(i, Event::Send, &records, I::on_send).map_err(|e| e.to_string())?;
        Ok(actions
            .into_iter()
            .map(|a| match a {
                sdk::SendAction::Pass => SendAction::Pass,
                sdk::SendAction::Change(c) => SendAction::Change(wit::ChangedSend {
                    key: c.key,
                    value: c.value,
                    headers: headers_out(c.headers),
                    timestamp: c.timestamp,
                }),
            })
            .collect())
    })
}

/// The `on-acknowledgement` export.
pub fn on_acknowledgement<I: Interceptor>(acks: Vec<Acknowledgement>) -> Result<(), String> {
    let acks: Vec<sdk::Acknowledgement> = acks
        .into_iter()
        .map(|a| sdk::Acknowledgement {
            id: a.id,
            topic: a.topic,
            outcome: a.outcome.map(|m| sdk::RecordMetadata {
                partition: m.partition,
                offset: m.offset,
                timestamp: m.timestamp,
            }),
        })
        .collect();
    with::<I, _>(|i| {
        sdk::batch(i, Event::Acknowledgement, &acks, I::on_acknowledgement)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// The interceptor world's `log` import.
fn log(level: rill_sdk::log::Level, message: &str) {
    use rill_sdk::log::Level;
    let level = match level {
        Level::Trace => wit_log::Level::Trace,
        Level::Debug => wit_log::Level::Debug,
        Level::Info => wit_log::Level::Info,
        Level::Warn => wit_log::Level::Warn,
        Level::Error => wit_log::Level::Error,
    };
    wit_log::log(level, message)
}
