//! Host-side bindings generated from the WIT worlds: `rill:processor@0.2.0`
//! (`wit/`, the current world) at this module's root, and
//! `rill:processor@0.1.0` (`wit/0.1.0/`) in [`v0_1`] so components built
//! against it keep running. Both worlds' `types` interface (identical in
//! the two) is the host's own [`crate::record`]: a batch is lowered into
//! either world as the tasks hold it, without converting it.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "processor",
    // A storage failure inside a state call is the host's fault: it traps
    // the instance instead of becoming an error value the plugin could
    // turn into a dead letter.
    imports: { "rill:processor/state": trappable },
    with: { "rill:processor/types": crate::plugin::bindings::types },
    // Exports are called as futures so a call can be abandoned when its
    // time is up even while it is blocked in a WASI call (a sleep, a poll).
    exports: { default: async },
});

pub use rill::processor::time::{Clock, Window};

/// The 0.1.0 world: `init` and `process` only.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "processor",
        imports: { "rill:processor/state": trappable },
        exports: { default: async },
        with: { "rill:processor/types": crate::plugin::bindings::types },
    });
}

/// The worlds' `types` interface as the bindings see it (`with` above): the
/// host's own record types from [`crate::record`], plus the host glue
/// bindgen expects of every imported interface. `types` declares no
/// functions, so there is nothing for a host to implement or link.
pub mod types {
    pub use crate::record::{Header, InputRecord, OutputRecord, RecordResult};
    use wasmtime::component::{HasData, Linker};

    /// What a host of `types` implements: nothing (it has no functions).
    pub trait Host {}
    impl<T: ?Sized> Host for T {}

    /// The store-level variant of [`Host`] bindgen's world bounds name.
    pub trait HostWithStore<T>: HasData {}
    impl<T, D: ?Sized + HasData> HostWithStore<T> for D {}

    /// Links the interface: an empty instance, as bindgen does for an
    /// interface of types alone.
    pub fn add_to_linker<T, D>(linker: &mut Linker<T>, _host_getter: fn(&mut T) -> D::Data<'_>) -> wasmtime::Result<()>
    where
        D: HostWithStore<T>,
        for<'a> D::Data<'a>: Host,
        T: 'static + Send,
    {
        linker.instance("rill:processor/types@0.2.0")?;
        Ok(())
    }
}
