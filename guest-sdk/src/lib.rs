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
pub use types::{Error, Header, Output, Record};

pub mod log;
pub mod state;
pub mod testing;

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
/// generates the component's `init` and `process` exports; natively it
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
            }
    $crate::__private::export_world!(RillComponent with_types_in $crate::__private::bindings);
        };
    };
}
