//! rill: a Kafka stream-processing host whose processors are WebAssembly
//! components.
//!
//! The host owns Kafka I/O, group membership, tasks, batching, ordering,
//! commits and dead-letter routing; processors only map records to records.
//! See `README.md` for the quick start and `docs/` for the design.
#![deny(missing_docs)]

pub mod app;
pub mod build;
pub mod fields;
pub mod cli;
#[cfg(test)]
mod golden;
pub mod intercept;
pub mod kafka;
pub mod manifest;
pub mod observe;
pub mod plugin;
pub mod record;
pub mod runtime;
pub mod state;
pub mod task;
pub mod testdriver;
pub mod topology;

/// The demo's sample data, for the end-to-end tests and the benchmarks:
/// it lives with `rill demo` (`cli/demo/metricbeat.rs`) and is public only
/// with the `testing` feature, out of the library's default surface.
#[cfg(any(test, feature = "testing"))]
pub use cli::demo::metricbeat;
