//! Host-side bindings generated from the WIT worlds: `rill:processor@0.4.0`
//! (`wit/`, the current world) at this module's root, `rill:processor@0.3.0`
//! (`wit/0.3.0/`) in [`v0_3`], `rill:processor@0.2.0` (`wit/0.2.0/`) in
//! [`v0_2`] and `rill:processor@0.1.0` (`wit/0.1.0/`) in [`v0_1`], so
//! components built against older worlds keep running. The worlds' `types`
//! interface (identical in all four) is the host's own [`crate::record`],
//! `time` (identical from 0.2.0 on) is [`time`] and `joins` (0.4.0) is
//! [`joins`]: a batch is lowered into any world as the tasks hold it,
//! without converting it.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "processor",
    // A storage failure inside a state call is the host's fault: it traps
    // the instance instead of becoming an error value the plugin could
    // turn into a dead letter.
    imports: { "rill:processor/state": trappable },
    with: {
        "rill:processor/types": crate::plugin::bindings::types,
        "rill:processor/time": crate::plugin::bindings::time,
        "rill:processor/joins": crate::plugin::bindings::joins,
    },
    // Exports are called as futures so a call can be abandoned when its
    // time is up even while it is blocked in a WASI call (a sleep, a poll).
    exports: { default: async },
});

pub use time::{Clock, Window};

/// Bindings of an older world whose `types` and `time` are the current
/// ones (0.2.0 on), so its windows and timers use the same Rust types.
macro_rules! timed_world {
    ($path:tt) => {
        wasmtime::component::bindgen!({
            path: $path,
            world: "processor",
            imports: { "rill:processor/state": trappable },
            exports: { default: async },
            with: {
                "rill:processor/types": crate::plugin::bindings::types,
                "rill:processor/time": crate::plugin::bindings::time,
            },
        });
    };
}

/// The 0.3.0 world: windows, timers and fields, no joins.
pub mod v0_3 {
    timed_world!("../wit/0.3.0");
}

/// The 0.2.0 world: windows and timers, no fields.
pub mod v0_2 {
    timed_world!("../wit/0.2.0");
}

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

/// Links an interface of types alone (no functions) under the name of each
/// world version that has it: an empty instance, as bindgen does for such
/// an interface. bindgen's world bounds name the `Host` traits below.
macro_rules! types_only_interface {
    ($interface:literal, [$($version:literal),+]) => {
        /// What a host of this interface implements: nothing (it has no
        /// functions).
        pub trait Host {}
        impl<T: ?Sized> Host for T {}

        /// The store-level variant of [`Host`] bindgen's world bounds name.
        pub trait HostWithStore<T>: wasmtime::component::HasData {}
        impl<T, D: ?Sized + wasmtime::component::HasData> HostWithStore<T> for D {}

        /// Links the interface under every world version that has it.
        pub fn add_to_linker<T, D>(
            linker: &mut wasmtime::component::Linker<T>,
            _host_getter: fn(&mut T) -> D::Data<'_>,
        ) -> wasmtime::Result<()>
        where
            D: HostWithStore<T>,
            for<'a> D::Data<'a>: Host,
            T: 'static + Send,
        {
            for version in [$($version),+] {
                linker.instance(&format!("rill:processor/{}@{version}", $interface))?;
            }
            Ok(())
        }
    };
}

/// The worlds' `types` interface as the bindings see it (`with` above): the
/// host's own record types from [`crate::record`].
pub mod types {
    pub use crate::record::{Header, InputRecord, OutputRecord, RecordResult};
    types_only_interface!("types", ["0.2.0", "0.3.0", "0.4.0"]);
}

/// The `time` interface of 0.2.0, 0.3.0 and 0.4.0 (identical in all three),
/// written out once so every world's windows and timers use the same Rust types and
/// the tasks need not know which world a component was built against.
/// The derives are type-checked against the component's WIT when an
/// instance is created, as for [`crate::record`].
pub mod time {
    use crate::record::InputRecord;
    use wasmtime::component::{ComponentType, Lift, Lower};

    types_only_interface!("time", ["0.2.0", "0.3.0", "0.4.0"]);

    /// A window in epoch milliseconds: `start <= t < end` for time windows,
    /// both inclusive for session windows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ComponentType, Lift, Lower)]
    #[component(record)]
    pub struct Window {
        /// First millisecond of the window.
        pub start: i64,
        /// Its end (exclusive for time windows, inclusive for sessions).
        pub end: i64,
    }

    /// Records of one key and window for the plugin to fold.
    #[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
    #[component(record)]
    pub struct Aggregation {
        /// The `[windows.<name>]` the records were emitted to.
        pub store: String,
        /// The records' key.
        pub key: Vec<u8>,
        /// Their window.
        pub window: Window,
        /// The aggregate so far; `None` for a new window.
        pub current: Option<Vec<u8>>,
        /// Session windows: aggregates of earlier sessions bridged, oldest first.
        pub merged: Vec<Vec<u8>>,
        /// The records, in processing order.
        pub records: Vec<InputRecord>,
        /// Return an aggregate after every record (emit = "update").
        pub running: bool,
    }

    /// A window result to turn into output records.
    #[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
    #[component(record)]
    pub struct WindowResult {
        /// The `[windows.<name>]` it belongs to.
        pub store: String,
        /// Its key.
        pub key: Vec<u8>,
        /// Its window.
        pub window: Window,
        /// The aggregate; `None` for a session merged into a bigger one.
        pub value: Option<Vec<u8>>,
        /// The latest record time in the window.
        pub timestamp: i64,
    }

    /// Which time a timer follows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ComponentType, Lift, Lower)]
    #[component(enum)]
    #[repr(u8)]
    pub enum Clock {
        /// The processor's stream time.
        #[component(name = "stream-time")]
        StreamTime,
        /// The host's wall clock.
        #[component(name = "wall-clock")]
        WallClock,
    }

    /// One firing of a timer.
    #[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
    #[component(record)]
    pub struct Tick {
        /// The timer's name.
        pub name: String,
        /// The clock it follows.
        pub clock: Clock,
        /// The time the firing is for, in epoch milliseconds.
        pub time: i64,
    }
}

/// The `joins` interface of 0.4.0, written out like [`time`] so the tasks'
/// join code (and a later world sharing the interface) names one Rust type
/// whichever bindings lower it. The derives are type-checked against the
/// component's WIT when an instance is created.
pub mod joins {
    use wasmtime::component::{ComponentType, Lift, Lower};

    types_only_interface!("joins", ["0.4.0"]);

    /// One result of a stream-stream join (`[joins.<name>]`) for the
    /// plugin's `join` export to turn into output records: a matched pair,
    /// or an unmatched record of an outer side once its window closed.
    #[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
    #[component(record)]
    pub struct JoinResult {
        /// The `[joins.<name>]` it belongs to.
        pub join: String,
        /// The records' key; `None` only for a keyless record
        /// (`keyless = "emit"`).
        pub key: Option<Vec<u8>>,
        /// The left record's value; `None` for an unmatched right record
        /// (outer join).
        pub left: Option<Vec<u8>>,
        /// The right record's value; `None` for an unmatched left record
        /// (left or outer join).
        pub right: Option<Vec<u8>>,
        /// The result's time (epoch ms): the later of the two records', or
        /// the unmatched record's.
        pub timestamp: i64,
    }
}
