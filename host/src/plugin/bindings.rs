//! Host-side bindings generated from `wit/processor.wit`. The world `use`s
//! `input-record` and `record-result`, so those two sit at this module's root.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "processor",
});

pub use rill::processor::types::{Header, OutputRecord};
