//! Host-side bindings of the `rill:interceptor@0.1.0` world
//! (`wit/interceptor/interceptor.wit`). Its types are its own (not the
//! processor world's), so an interceptor's world versions independently.

wasmtime::component::bindgen!({
    path: "../wit/interceptor",
    world: "interceptor",
    // As for processors: a call is a future, so one blocked in a WASI call
    // past its time limit can be abandoned.
    exports: { default: async },
});

// The world's `use` brings the records of the calls to this module's root;
// these are the ones it leaves in `types`.
pub use rill::interceptor::types::{ChangedRecord, ChangedSend, Header, RecordMetadata};
