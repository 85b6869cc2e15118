//! What a plugin instance can reach: the `log` and `state` imports of the
//! world, plus a WASI context that grants no sockets, environment or
//! arguments and no files beyond the manifest's `[[grants]]`
//! (`plugin/grants.rs`), clocks frozen at the epoch (Rust's std links
//! WASI's clocks; the world grants none), and stdout and stderr going to
//! the host log. Everything lives in the store's data.

use super::bindings::rill::processor::{fields, log, state, timers};
use super::bindings::time;
use super::grant_fs::{GrantTable, GrantedFs};
use super::grants::{GrantError, Grants};
use super::sandbox::{FrozenClock, LogStream};
use crate::state::store::{AccessError, SharedTaskStore, TaskStore};
use std::sync::Arc;

/// The host failed inside a plugin's call (its local storage): the call
/// traps, and the task stops instead of blaming the record.
#[derive(Debug, Clone, thiserror::Error)]
#[error("local state storage failed inside a plugin call: {0}")]
pub struct HostFault(pub String);
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The data of one instance's wasmtime `Store`.
pub struct HostState {
    /// WASI with nothing granted but the manifest's directories; Rust's
    /// std needs its interfaces present.
    wasi: WasiCtx,
    /// The granted directories and which one each open descriptor is in.
    grants: GrantTable,
    /// WASI resources (streams) the guest holds.
    table: ResourceTable,
    /// `processor` or `processor/task`, prefixed to every log line.
    tag: Arc<str>,
    /// The task's stores and tables, shared with the task that owns them.
    state: Option<SharedTaskStore>,
    /// The memory cap, enforced by wasmtime as the store's limiter.
    pub(super) limits: MeteredLimits,
    /// Timer calls since the task last looked, in order.
    pub(super) timers: Vec<TimerRequest>,
    /// Latency histograms of state calls, per store and operation.
    store_latency: Vec<(String, Operation, metrics::Histogram)>,
    /// The manifest's `[fields]` names, in order (the `fields.names` import).
    pub(super) field_names: Arc<[String]>,
}

/// A plugin's `timers` call, for its task to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerRequest {
    /// `schedule(name, clock, interval-ms, aligned)`.
    Schedule {
        /// The timer's name (a new schedule replaces one of the same name).
        name: String,
        /// The clock it follows.
        clock: time::Clock,
        /// The interval in milliseconds (at least 1).
        interval_ms: u64,
        /// Fire at multiples of the interval since the epoch.
        aligned: bool,
    },
    /// `cancel(name)`.
    Cancel(String),
}

impl HostState {
    /// A sandboxed state whose log lines carry `tag`, with the task's store,
    /// at most `memory` bytes of linear memory and the directories of
    /// `grants` (fails only if one went away since the plugin loaded).
    pub fn new(
        tag: Arc<str>,
        state: Option<SharedTaskStore>,
        memory: usize,
        grants: &Grants,
    ) -> Result<Self, GrantError> {
        let mut builder = WasiCtx::builder();
        builder
            .stdout(LogStream::new(tag.clone(), "stdout"))
            .stderr(LogStream::new(tag.clone(), "stderr"))
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        grants.preopen(&mut builder)?;
        let wasi = builder.build();
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(memory)
            .trap_on_grow_failure(true)
            .build();
        Ok(HostState {
            wasi,
            grants: GrantTable::new(grants.clone()),
            table: ResourceTable::new(),
            tag,
            state,
            limits: MeteredLimits {
                inner: limits,
                bytes: 0,
                denied: false,
            },
            store_latency: Vec::new(),
            timers: Vec::new(),
            field_names: Arc::new([]),
        })
    }

    /// The `wasi:filesystem` view the granted host functions work on.
    pub(super) fn granted_fs(&mut self) -> GrantedFs<'_> {
        GrantedFs {
            fs: wasmtime_wasi::filesystem::WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
            grants: &mut self.grants,
        }
    }
}

impl HostState {
    /// The tag its log lines carry (`name` or `name/task`): other worlds'
    /// `log` imports (interceptors') tag their lines with it too.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Bytes of linear memory the instance holds.
    pub fn memory_bytes(&self) -> u64 {
        self.limits.bytes as u64
    }

    /// Starts a call: forgets a refused growth of an earlier call.
    pub fn begin_call(&mut self) {
        self.limits.denied = false;
    }

    /// Whether the limiter refused a memory growth since the call began.
    pub fn memory_denied(&self) -> bool {
        self.limits.denied
    }

    /// The store's memory limiter, for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut dyn wasmtime::ResourceLimiter {
        &mut self.limits
    }
}

/// wasmtime's memory cap, counting the linear memory it lets the instance
/// have (the `rill_plugin_memory_bytes` gauge).
pub struct MeteredLimits {
    inner: wasmtime::StoreLimits,
    /// Bytes of linear memory granted, over all the instance's memories.
    pub(super) bytes: usize,
    /// A growth was refused since the current call began: a trap in the
    /// call is the memory limit's (reset before each call).
    pub(super) denied: bool,
}

impl wasmtime::ResourceLimiter for MeteredLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let granted = self.inner.memory_growing(current, desired, maximum);
        match granted {
            Ok(true) => self.bytes = self.bytes.saturating_sub(current).saturating_add(desired),
            _ => self.denied = true,
        }
        granted
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
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

impl timers::Host for HostState {
    fn schedule(&mut self, name: String, clock: time::Clock, interval_ms: u64, aligned: bool) -> Result<(), String> {
        if interval_ms == 0 {
            return Err(format!("timer '{name}': the interval must be at least 1 ms"));
        }
        if name.is_empty() {
            return Err("a timer needs a name".into());
        }
        self.timers.push(TimerRequest::Schedule {
            name,
            clock,
            interval_ms,
            aligned,
        });
        Ok(())
    }

    fn cancel(&mut self, name: String) {
        self.timers.push(TimerRequest::Cancel(name));
    }
}

/// The names a 0.3.0 component's records carry fields for.
impl fields::Host for HostState {
    fn names(&mut self) -> Vec<String> {
        self.field_names.to_vec()
    }
}

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
    fn get(&mut self, store: String, key: Vec<u8>) -> wasmtime::Result<Result<Option<Vec<u8>>, state::StateError>> {
        self.timed(Operation::Get, &store, |s| s.get(&store, &key))
    }

    fn put(&mut self, store: String, key: Vec<u8>, value: Vec<u8>) -> wasmtime::Result<Result<(), state::StateError>> {
        self.timed(Operation::Put, &store, |s| s.put(&store, key, value))
    }

    fn delete(&mut self, store: String, key: Vec<u8>) -> wasmtime::Result<Result<(), state::StateError>> {
        self.timed(Operation::Delete, &store, |s| s.delete(&store, key))
    }

    fn range(
        &mut self,
        store: String,
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<state::Entry>, state::StateError>> {
        self.timed(Operation::Range, &store, |s| {
            s.range(&store, start.as_deref(), end.as_deref(), limit as usize)
                .map(|entries| {
                    entries
                        .into_iter()
                        .map(|(key, value)| state::Entry { key, value })
                        .collect()
                })
        })
    }

    fn lookup(&mut self, table: String, key: Vec<u8>) -> wasmtime::Result<Result<Option<Vec<u8>>, state::StateError>> {
        self.with_state(&table, |s| s.lookup(&table, &key))
    }
}

/// A state call, the `operation` label of the store latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Operation {
    Get,
    Put,
    Delete,
    Range,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Put => "put",
            Operation::Delete => "delete",
            Operation::Range => "range",
        }
    }
}

impl HostState {
    /// [`Self::with_state`], timed into `rill_store_operation_latency_seconds`
    /// when metrics are on (the clock is not read otherwise).
    fn timed<T>(
        &mut self,
        operation: Operation,
        name: &str,
        f: impl FnOnce(&mut TaskStore) -> Result<T, AccessError>,
    ) -> wasmtime::Result<Result<T, state::StateError>> {
        if !crate::observe::metrics::enabled() || self.state.is_none() {
            return self.with_state(name, f);
        }
        let started = std::time::Instant::now();
        let result = self.with_state(name, f);
        let seconds = started.elapsed().as_secs_f64();
        // A handful of stores: a scan without allocating beats a map.
        match self
            .store_latency
            .iter()
            .find(|(store, op, _)| *op == operation && store == name)
        {
            Some((_, _, histogram)) => histogram.record(seconds),
            None => {
                let histogram = metrics::histogram!(
                    crate::observe::metrics::STORE_LATENCY,
                    "task" => self.tag.to_string(),
                    "store" => name.to_string(),
                    "operation" => operation.name()
                );
                histogram.record(seconds);
                self.store_latency.push((name.to_string(), operation, histogram));
            }
        }
        result
    }

    /// Runs a state call. An undeclared name is the plugin's error (a value
    /// it can handle); a storage failure traps the instance as a
    /// [`HostFault`].
    fn with_state<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut TaskStore) -> Result<T, AccessError>,
    ) -> wasmtime::Result<Result<T, state::StateError>> {
        let Some(store) = &self.state else {
            return Ok(Err(state::StateError::Undeclared(name.to_string())));
        };
        let mut store = store.lock();
        match f(&mut store) {
            Ok(value) => Ok(Ok(value)),
            Err(AccessError::Undeclared(name)) => Ok(Err(state::StateError::Undeclared(name))),
            Err(AccessError::Storage(message)) => Err(wasmtime::Error::new(HostFault(message))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::bindings::rill::processor::state::Host as _;
    use parking_lot::Mutex;

    #[test]
    fn a_storage_failure_traps_as_a_host_fault_and_an_undeclared_name_is_the_plugins_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = TaskStore::open(dir.path(), &["counts".into()], &[], None).unwrap();
        store.db.drop_family(&crate::state::store_cf("counts"));
        let mut host = HostState::new(
            "test".into(),
            Some(Arc::new(Mutex::new(store))),
            1 << 20,
            &Grants::none(),
        )
        .unwrap();

        let trap = host.get("counts".into(), b"k".to_vec()).unwrap_err();
        assert!(trap.downcast_ref::<HostFault>().is_some(), "{trap:?}");
        assert!(matches!(
            host.get("other".into(), b"k".to_vec()),
            Ok(Err(state::StateError::Undeclared(name))) if name == "other"
        ));
    }

    /// The limiter remembers a refused growth, so a trap in that call is
    /// the memory limit's, and counts only the memory it granted.
    #[test]
    fn a_refused_memory_growth_is_remembered_for_the_call() {
        use wasmtime::ResourceLimiter as _;
        let mut host = HostState::new("test".into(), None, 1 << 20, &Grants::none()).unwrap();
        assert!(host.limits.memory_growing(0, 1 << 19, None).unwrap());
        assert!(!host.limits.denied);
        assert_eq!(host.limits.bytes, 1 << 19);
        assert!(
            host.limits.memory_growing(1 << 19, 2 << 20, None).is_err(),
            "over the cap traps"
        );
        assert!(host.limits.denied);
        assert_eq!(host.limits.bytes, 1 << 19, "only what was granted");
    }
}
