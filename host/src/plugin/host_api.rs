//! What a plugin instance can reach: the `log` and `state` imports of the
//! world, plus a WASI context that grants nothing (no files, sockets,
//! environment or arguments). Everything lives in the store's data.

use super::bindings::rill::processor::{log, state, types};
use std::sync::Arc;
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
}

impl HostState {
    /// A sandboxed state whose log lines carry `tag`.
    pub fn new(tag: Arc<str>) -> Self {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        HostState { wasi, table: ResourceTable::new(), tag }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
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

/// No manifest can declare stores or tables yet, so every name is
/// undeclared; the guest gets an error value it can handle, never a trap.
impl state::Host for HostState {
    fn get(&mut self, store: String, _key: Vec<u8>) -> Result<Option<Vec<u8>>, state::StateError> {
        Err(state::StateError::Undeclared(store))
    }

    fn put(&mut self, store: String, _key: Vec<u8>, _value: Vec<u8>) -> Result<(), state::StateError> {
        Err(state::StateError::Undeclared(store))
    }

    fn delete(&mut self, store: String, _key: Vec<u8>) -> Result<(), state::StateError> {
        Err(state::StateError::Undeclared(store))
    }

    fn range(
        &mut self,
        store: String,
        _start: Option<Vec<u8>>,
        _end: Option<Vec<u8>>,
        _limit: u32,
    ) -> Result<Vec<state::Entry>, state::StateError> {
        Err(state::StateError::Undeclared(store))
    }

    fn lookup(&mut self, table: String, _key: Vec<u8>) -> Result<Option<Vec<u8>>, state::StateError> {
        Err(state::StateError::Undeclared(table))
    }
}
