//! Windowed aggregation as a plugin sees it: the host assigns records to
//! windows, drops late ones, stores aggregates (RocksDB + changelog) and
//! expires them; the plugin only folds records into an aggregate
//! ([`crate::Processor::aggregate`]) and formats results
//! ([`crate::Processor::emit`]). [`decode`] and [`encode`] keep a typed
//! aggregate as JSON bytes.
//!
//! ```
//! use rill_sdk::{Error, Output, Processor, Record, Window, WindowResult, windows};
//!
//! struct Count;
//! impl Processor for Count {
//!     type Config = rill_sdk::NoConfig;
//!     fn init(_: Self::Config) -> Result<Self, Error> { Ok(Count) }
//!     // Every record goes to the `[windows.counts]` store, by its key.
//!     fn process(&mut self, r: Record) -> Result<Vec<Output>, Error> {
//!         Ok(vec![Output::forward(r, "counts")])
//!     }
//!     fn aggregate(&mut self, _: &Window, count: Option<Vec<u8>>, _: &Record) -> Result<Vec<u8>, Error> {
//!         Ok(windows::encode(&(windows::decode::<u64>(count)? + 1)))
//!     }
//!     fn emit(&mut self, r: WindowResult) -> Result<Vec<Output>, Error> {
//!         let count: u64 = windows::decode(r.value.clone())?;
//!         Ok(vec![Output::new("out", Some(r.window.key.clone()), Some(count.to_string().into_bytes()))])
//!     }
//! }
//! ```

use crate::{Error, Processor, Record};

/// One window of one key in a windowed store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    /// The `[windows.<name>]` store.
    pub store: String,
    /// The record key the window belongs to.
    pub key: Vec<u8>,
    /// Start (epoch ms, inclusive).
    pub start: i64,
    /// End (epoch ms): exclusive for time windows, the last record's time
    /// (inclusive) for sessions, inclusive for sliding windows (start +
    /// time difference).
    pub end: i64,
}

/// A window's aggregate, to be turned into outputs by
/// [`crate::Processor::emit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowResult {
    /// Which window.
    pub window: Window,
    /// The aggregate; `None` for a session merged into a later one.
    pub value: Option<Vec<u8>>,
    /// The latest record time in the window (a session's end).
    pub timestamp: i64,
}

/// A typed aggregate from its JSON bytes; `None` (a new window) gives
/// `T::default()`.
pub fn decode<T: serde::de::DeserializeOwned + Default>(bytes: Option<Vec<u8>>) -> Result<T, Error> {
    match bytes {
        None => Ok(T::default()),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| Error::new(format!("aggregate is not the JSON expected: {e}")))
        }
    }
}

/// A typed aggregate as JSON bytes.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("aggregates serialize to JSON")
}

/// The most common aggregate, a count: `count` (`None` for a new window)
/// plus one, as JSON bytes (for `aggregate`).
pub fn count_one(count: Option<Vec<u8>>) -> Result<Vec<u8>, Error> {
    Ok(encode(&(decode::<u64>(count)? + 1)))
}

/// Two sessions' counts added up (for `merge`).
pub fn add_counts(older: Vec<u8>, newer: Vec<u8>) -> Result<Vec<u8>, Error> {
    Ok(encode(&(decode::<u64>(Some(older))? + decode::<u64>(Some(newer))?)))
}

/// A counted window's result as the JSON value the sample counters
/// (`order-window-count`, `order-sliding-count`) send:
/// `{"key":"<key>","start":<ms>,"end":<ms>,"count":<n>}`, the key as text
/// (invalid UTF-8 replaced), written by hand so the fields keep that order
/// whatever serde_json's features are.
pub fn count_json(window: &Window, count: Option<Vec<u8>>) -> Result<Vec<u8>, Error> {
    let count: u64 = decode(count)?;
    let key = serde_json::to_string(&String::from_utf8_lossy(&window.key)).map_err(|e| Error::new(e.to_string()))?;
    Ok(format!(
        r#"{{"key":{key},"start":{},"end":{},"count":{count}}}"#,
        window.start, window.end
    )
    .into_bytes())
}

/// Folds one aggregation the way the `aggregate` export defines it: merge
/// the bridged sessions (oldest first) into `current`, then fold each
/// record, keeping every step when `running`.
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "called by the wasm export only")
)]
pub(crate) fn fold<P: Processor>(
    processor: &mut P,
    window: &Window,
    current: Option<Vec<u8>>,
    merged: Vec<Vec<u8>>,
    records: impl Iterator<Item = Record>,
    running: bool,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut aggregate = current;
    for newer in merged {
        aggregate = Some(match aggregate {
            Some(older) => processor.merge(window, older, newer)?,
            None => newer,
        });
    }
    let mut steps = Vec::new();
    for record in records {
        let next = processor.aggregate(window, aggregate.take(), &record)?;
        if running {
            steps.push(next.clone());
        }
        aggregate = Some(next);
    }
    if !running {
        steps.extend(aggregate);
    }
    Ok(steps)
}
