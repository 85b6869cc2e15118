//! Host-side bindings generated from `wit/processor.wit`. The world `use`s
//! `input-record` and `record-result`, so those two sit at this module's root.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "processor",
    // A storage failure inside a state call is the host's fault: it traps
    // the instance instead of becoming an error value the plugin could
    // turn into a dead letter.
    imports: { "rill:processor/state": trappable },
    // Exports are called as futures so a call can be abandoned when its
    // time is up even while it is blocked in a WASI call (a sleep, a poll).
    exports: { default: async },
});

pub use rill::processor::types::{Header, OutputRecord};
