//! The imports of the older worlds (`rill:processor@0.1.0`, `@0.2.0` and
//! `@0.3.0`), answered by the current world's host functions in
//! [`super::host_api`]: their `log`, `state`, `timers` and `fields`
//! interfaces are the current ones under an older package version, so each
//! call converts its enum or error type and delegates.

use super::HostState;
use super::bindings::rill::processor::{fields, log, state, timers};
use super::bindings::time::Clock;

/// Implements an older world's `log` and `state` hosts by delegating to
/// the current world's.
macro_rules! delegate_log_and_state {
    ($world:ident) => {
        mod $world {
            use super::{HostState, log, state};
            use crate::plugin::bindings::$world::rill::processor::{log as old_log, state as old_state};

            impl old_log::Host for HostState {
                fn log(&mut self, level: old_log::Level, message: String) {
                    let level = match level {
                        old_log::Level::Trace => log::Level::Trace,
                        old_log::Level::Debug => log::Level::Debug,
                        old_log::Level::Info => log::Level::Info,
                        old_log::Level::Warn => log::Level::Warn,
                        old_log::Level::Error => log::Level::Error,
                    };
                    log::Host::log(self, level, message)
                }
            }

            impl old_state::Host for HostState {
                fn get(
                    &mut self,
                    store: String,
                    key: Vec<u8>,
                ) -> wasmtime::Result<Result<Option<Vec<u8>>, old_state::StateError>> {
                    Ok(state::Host::get(self, store, key)?.map_err(error))
                }

                fn put(
                    &mut self,
                    store: String,
                    key: Vec<u8>,
                    value: Vec<u8>,
                ) -> wasmtime::Result<Result<(), old_state::StateError>> {
                    Ok(state::Host::put(self, store, key, value)?.map_err(error))
                }

                fn delete(&mut self, store: String, key: Vec<u8>) -> wasmtime::Result<Result<(), old_state::StateError>> {
                    Ok(state::Host::delete(self, store, key)?.map_err(error))
                }

                fn range(
                    &mut self,
                    store: String,
                    start: Option<Vec<u8>>,
                    end: Option<Vec<u8>>,
                    limit: u32,
                ) -> wasmtime::Result<Result<Vec<old_state::Entry>, old_state::StateError>> {
                    Ok(state::Host::range(self, store, start, end, limit)?
                        .map(|entries| {
                            entries
                                .into_iter()
                                .map(|e| old_state::Entry {
                                    key: e.key,
                                    value: e.value,
                                })
                                .collect()
                        })
                        .map_err(error))
                }

                fn lookup(
                    &mut self,
                    table: String,
                    key: Vec<u8>,
                ) -> wasmtime::Result<Result<Option<Vec<u8>>, old_state::StateError>> {
                    Ok(state::Host::lookup(self, table, key)?.map_err(error))
                }
            }

            fn error(error: state::StateError) -> old_state::StateError {
                match error {
                    state::StateError::Undeclared(name) => old_state::StateError::Undeclared(name),
                    state::StateError::Storage(message) => old_state::StateError::Storage(message),
                }
            }
        }
    };
}

delegate_log_and_state!(v0_1);
delegate_log_and_state!(v0_2);
delegate_log_and_state!(v0_3);

/// Implements an older world's `timers` host by delegating to the current
/// world's: they share the `time.clock` type (`bindings::time`).
macro_rules! delegate_timers {
    ($world:ident) => {
        impl super::bindings::$world::rill::processor::timers::Host for HostState {
            fn schedule(&mut self, name: String, clock: Clock, interval_ms: u64, aligned: bool) -> Result<(), String> {
                timers::Host::schedule(self, name, clock, interval_ms, aligned)
            }

            fn cancel(&mut self, name: String) {
                timers::Host::cancel(self, name)
            }
        }
    };
}

delegate_timers!(v0_2);
delegate_timers!(v0_3);

/// 0.3.0 `fields` names the same declared fields.
impl super::bindings::v0_3::rill::processor::fields::Host for HostState {
    fn names(&mut self) -> Vec<String> {
        fields::Host::names(self)
    }
}
