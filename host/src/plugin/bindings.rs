//! Host-side bindings generated from the WIT worlds: `rill:processor@0.2.0`
//! (`wit/`, the current world) at this module's root, and
//! `rill:processor@0.1.0` (`wit/0.1.0/`) in [`v0_1`] so components built
//! against it keep running. Both share the 0.2.0 record types: the two
//! `types` interfaces are identical, so a batch is lowered into either
//! world without copying.

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

pub use rill::processor::time::{Clock, Window};
pub use rill::processor::types::Header;

/// The 0.1.0 world: `init` and `process` only.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "processor",
        imports: { "rill:processor/state": trappable },
        exports: { default: async },
        with: { "rill:processor/types": super::rill::processor::types },
    });
}
