//! Write rill stream processors as plain Rust.
//!
//! A processor is a type that implements [`Processor`]: it is built once from
//! the manifest's `[config]` table and then called with one [`Record`] at a
//! time, returning the [`Output`]s to emit or an [`Error`] that sends the
//! record to the dead-letter topic. One [`export!`] line turns it into a
//! `rill:processor` WebAssembly component when built for `wasm32-wasip2`.
//! Built natively, the same code runs in ordinary unit tests through
//! [`testing::TestDriver`]; the component ABI never shows.
//!
//! ```
//! use rill_sdk::{Error, Output, Processor, Record};
//!
//! /// Forwards records whose value is longer than `min_len` bytes.
//! struct LongValues { min_len: usize }
//!
//! #[derive(serde::Deserialize)]
//! struct Config { min_len: usize }
//!
//! impl Processor for LongValues {
//!     type Config = Config;
//!     fn init(config: Config) -> Result<Self, Error> {
//!         Ok(LongValues { min_len: config.min_len })
//!     }
//!     fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
//!         let len = record.value.as_ref().map_or(0, |v| v.len());
//!         Ok(if len > self.min_len { vec![Output::forward(record, "long")] } else { vec![] })
//!     }
//! }
//! rill_sdk::export!(LongValues);
//!
//! let mut driver = rill_sdk::testing::TestDriver::<LongValues>::new(r#"{"min_len": 5}"#).unwrap();
//! let out = driver.process_value(b"streams").unwrap();
//! assert_eq!(out[0].output, "long");
//! assert!(driver.process_value(b"kafka").unwrap().is_empty());
//! ```
#![deny(missing_docs)]

mod types;
pub use types::{Error, Header, Output, Record, TOPIC_SEPARATOR};

pub mod fields;
pub use fields::{Field, RawJson};

pub mod intercept;
pub mod joins;
pub mod log;
pub mod state;
pub mod testing;
pub mod time;
pub mod timers;
pub mod windows;
pub use joins::JoinResult;
pub use timers::{Clock, Tick};
pub use windows::{Window, WindowResult};

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __private;

#[cfg(not(target_arch = "wasm32"))]
mod stub;

/// Where host calls go: the component imports on wasm, the stub natively.
#[cfg(target_arch = "wasm32")]
use __private as sys;
#[cfg(not(target_arch = "wasm32"))]
use stub as sys;

/// A stream processor: the one thing a plugin author writes.
///
/// The host creates one instance per task (one per input partition) and
/// calls [`Processor::process`] for every record of that partition, in
/// offset order. Instances never share memory, so `&mut self` state is
/// per partition; durable state belongs in [`state`].
pub trait Processor: Sized + 'static {
    /// The manifest's `[config]` table, deserialized with serde. Use
    /// [`NoConfig`] when the processor takes none.
    type Config: serde::de::DeserializeOwned;

    /// Builds the processor. An error refuses the plugin at load (or a hot
    /// swap), with the message in the host log.
    fn init(config: Self::Config) -> Result<Self, Error>;

    /// Processes one record. `Ok(vec![])` drops it; `Err` sends it to the
    /// dead-letter topic with the error message in its headers, and the
    /// pipeline goes on with the next record.
    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error>;

    /// Windows: folds `record` into `window`'s aggregate (`None` for a new
    /// window: start from your initial value) and returns the new one.
    /// Records reach a window when [`Processor::process`] emits them to the
    /// output named like a `[windows.<name>]` of the manifest; the host
    /// assigns windows, drops late records, stores and expires aggregates.
    /// [`windows::decode`] and [`windows::encode`] keep a typed aggregate
    /// as JSON. `Err` dead-letters the records of this window's update.
    fn aggregate(&mut self, window: &Window, aggregate: Option<Vec<u8>>, record: &Record) -> Result<Vec<u8>, Error> {
        let _ = (aggregate, record);
        Err(Error::new(format!(
            "aggregate is not implemented, but records reached window store '{}'",
            window.store
        )))
    }

    /// Session windows: merges the aggregate of an `older` session into a
    /// `newer` one when a record bridges them (Kafka Streams' `Merger`).
    fn merge(&mut self, window: &Window, older: Vec<u8>, newer: Vec<u8>) -> Result<Vec<u8>, Error> {
        let _ = (older, newer);
        Err(Error::new(format!(
            "merge is not implemented, but sessions of window store '{}' merged",
            window.store
        )))
    }

    /// Turns a window's result (every update, or the final one when the
    /// window closes, as the manifest's `emit` says) into output records.
    fn emit(&mut self, result: WindowResult) -> Result<Vec<Output>, Error> {
        Err(Error::new(format!(
            "emit is not implemented, but window store '{}' has a result",
            result.window.store
        )))
    }

    /// A timer fired (scheduled in the manifest's `[[timers]]` or with
    /// [`timers::schedule`]). Outputs go where `process` outputs go.
    fn on_timer(&mut self, tick: Tick) -> Result<Vec<Output>, Error> {
        Err(Error::new(format!(
            "on_timer is not implemented, but timer '{}' fired",
            tick.name
        )))
    }

    /// Turns one result of a stream-stream join (a manifest's
    /// `[joins.<name>]`) into output records: a matched pair, or an
    /// unmatched record of an outer side once its window closed. The host
    /// buffers, matches and times both sides; this is only the joiner
    /// (Kafka Streams' `ValueJoiner`). [`Output::joined`] keeps the
    /// result's key and timestamp. `Err` dead-letters the input record
    /// behind the result.
    fn join(&mut self, result: JoinResult) -> Result<Vec<Output>, Error> {
        Err(Error::new(format!(
            "join is not implemented, but join '{}' has a result",
            result.join
        )))
    }
}

/// A `Config` for processors that take no configuration: it accepts any
/// `[config]` table and ignores it.
pub type NoConfig = serde::de::IgnoredAny;

/// Parses the JSON config the host passes to `init` and builds the processor.
///
/// Shared by the wasm export and the native [`testing::TestDriver`], so both
/// report a bad config with the same message.
pub(crate) fn build<P: Processor>(config_json: &str) -> Result<P, Error> {
    let config: P::Config =
        serde_json::from_str(config_json).map_err(|e| Error::new(format!("invalid [config] table: {e}")))?;
    P::init(config)
}

/// Exports a [`Processor`] as the plugin's component.
///
/// Write it once, at the top level of the plugin crate. On `wasm32` it
/// generates the component's exports (`init`, `process`, and `aggregate`,
/// `emit`, `on-timer`, `join` calling the trait's methods of the same names); natively it
/// expands to nothing, so the crate still builds and tests with `cargo test`.
#[macro_export]
macro_rules! export {
    ($processor:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct RillComponent;
            impl $crate::__private::Guest for RillComponent {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$processor>(config)
                }
                fn process(
                    batch: ::std::vec::Vec<$crate::__private::InputRecord>,
                ) -> ::std::vec::Vec<$crate::__private::RecordResult> {
                    $crate::__private::process::<$processor>(batch)
                }
                fn process_fields(
                    batch: ::std::vec::Vec<$crate::__private::FieldRecord>,
                ) -> ::std::vec::Vec<$crate::__private::FieldResult> {
                    $crate::__private::process_fields::<$processor>(batch)
                }
                fn aggregate(
                    batch: ::std::vec::Vec<$crate::__private::Aggregation>,
                ) -> ::std::vec::Vec<::std::result::Result<::std::vec::Vec<::std::vec::Vec<u8>>, ::std::string::String>>
                {
                    $crate::__private::aggregate::<$processor>(batch)
                }
                fn emit(
                    results: ::std::vec::Vec<$crate::__private::WitWindowResult>,
                ) -> ::std::vec::Vec<
                    ::std::result::Result<::std::vec::Vec<$crate::__private::OutputRecord>, ::std::string::String>,
                > {
                    $crate::__private::emit::<$processor>(results)
                }
                fn on_timer(
                    tick: $crate::__private::WitTick,
                ) -> ::std::result::Result<::std::vec::Vec<$crate::__private::OutputRecord>, ::std::string::String>
                {
                    $crate::__private::on_timer::<$processor>(tick)
                }
                fn join(
                    results: ::std::vec::Vec<$crate::__private::WitJoinResult>,
                ) -> ::std::vec::Vec<
                    ::std::result::Result<::std::vec::Vec<$crate::__private::OutputRecord>, ::std::string::String>,
                > {
                    $crate::__private::join::<$processor>(results)
                }
            }
    $crate::__private::export_world!(RillComponent with_types_in $crate::__private::bindings);
        };
    };
}
