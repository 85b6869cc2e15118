//! What a plugin instance can reach: the `log` and `state` imports of the
//! world, plus a WASI context that grants no files, sockets, environment or
//! arguments, clocks frozen at the epoch (Rust's std links WASI's clocks;
//! the world grants none), and stdout and stderr going to the host log. Everything lives in the store's data.

use super::bindings::rill::processor::{log, state, types};
use super::sandbox::{FrozenClock, LogStream};
use crate::state::store::{AccessError, TaskStore};
use std::sync::{Arc, Mutex};

/// A task's store as the task and its plugin instance share it.
pub type SharedTaskStore = Arc<Mutex<TaskStore>>;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The data of one instance's wasmtime `Store`.
pub struct HostState {
    /// WASI with nothing granted; Rust's std needs its interfaces present.
    wasi: WasiCtx,
    /// WASI resources (streams) the guest holds.
    table: ResourceTable,
    /// `processor` or `processor/task`, prefixed to every log line.
    tag: Arc<str>,
    /// The task's stores and tables, shared with the task that owns them.
    state: Option<SharedTaskStore>,
    /// The memory cap, enforced by wasmtime as the store's limiter.
    pub(super) limits: wasmtime::StoreLimits,
}

impl HostState {
    /// A sandboxed state whose log lines carry `tag`, with the task's store
    /// and at most `memory` bytes of linear memory.
    pub fn new(tag: Arc<str>, state: Option<SharedTaskStore>, memory: usize) -> Self {
        let wasi = WasiCtx::builder()
            .stdout(LogStream::new(tag.clone(), "stdout"))
            .stderr(LogStream::new(tag.clone(), "stderr"))
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(memory)
            .trap_on_grow_failure(true)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            tag,
            state,
            limits,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let tag = &*self.tag;
        match level {
            log::Level::Trace => tracing::trace!(plugin = tag, "{message}"),
            log::Level::Debug => tracing::debug!(plugin = tag, "{message}"),
            log::Level::Info => tracing::info!(plugin = tag, "{message}"),
            log::Level::Warn => tracing::warn!(plugin = tag, "{message}"),
            log::Level::Error => tracing::error!(plugin = tag, "{message}"),
        }
    }
}

/// State calls go to the task's store; an instance without one (the
/// load-time trial, a native stand-in) sees every name as undeclared.
impl state::Host for HostState {
    fn get(&mut self, store: String, key: Vec<u8>) -> Result<Option<Vec<u8>>, state::StateError> {
        self.with_state(&store, |s| s.get(&store, &key))
    }

    fn put(&mut self, store: String, key: Vec<u8>, value: Vec<u8>) -> Result<(), state::StateError> {
        self.with_state(&store, |s| s.put(&store, key, value))
    }

    fn delete(&mut self, store: String, key: Vec<u8>) -> Result<(), state::StateError> {
        self.with_state(&store, |s| s.delete(&store, key))
    }

    fn range(
        &mut self,
        store: String,
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
        limit: u32,
    ) -> Result<Vec<state::Entry>, state::StateError> {
        self.with_state(&store, |s| {
            s.range(&store, start.as_deref(), end.as_deref(), limit as usize)
                .map(|entries| {
                    entries
                        .into_iter()
                        .map(|(key, value)| state::Entry { key, value })
                        .collect()
                })
        })
    }

    fn lookup(&mut self, table: String, key: Vec<u8>) -> Result<Option<Vec<u8>>, state::StateError> {
        self.with_state(&table, |s| s.lookup(&table, &key))
    }
}

impl HostState {
    fn with_state<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut TaskStore) -> Result<T, AccessError>,
    ) -> Result<T, state::StateError> {
        let Some(store) = &self.state else {
            return Err(state::StateError::Undeclared(name.to_string()));
        };
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut store).map_err(|e| match e {
            AccessError::Undeclared(name) => state::StateError::Undeclared(name),
            AccessError::Storage(message) => state::StateError::Storage(message),
        })
    }
}
