//! Plugins: turning a manifest's component file into running instances.
//!
//! [`Plugin::load`] reads the file, checks that it is a component of the
//! `rill:processor` world, compiles it, and proves it starts by calling
//! `init` with the manifest's config once. Only then is it handed to tasks,
//! each of which creates its own [`PluginInstance`]. The [`ProcessorFactory`]
//! trait is what tasks see, so a native processor can stand in for a Wasm
//! one (the benchmark's baseline does).

#[allow(missing_docs)]
pub mod bindings;
pub mod cache;
mod fields_call;
mod grant_fs;
pub mod grants;
mod host_api;
mod older_worlds;
pub mod reload;
pub mod sandbox;

pub use crate::record::{Header, InputRecord, OutputRecord, RecordResult};
pub use crate::state::store::SharedTaskStore;
pub use bindings::{Aggregation, Clock, JoinResult, Tick, Window, WindowResult};
pub use fields_call::FieldView;
pub use host_api::{HostFault, HostState, TimerRequest};
pub use sandbox::{TrapKind, Trapped};

use crate::manifest::Manifest;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

/// Why a plugin could not be loaded or instantiated. Every variant names the
/// component file, since that is what the user has to fix.
#[derive(Debug, Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("{}: cannot read the component: {source}", file.display())]
    Read {
        /// Component path.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component.
    #[error("{}: not a WebAssembly component: {detail}", file.display())]
    NotAComponent {
        /// Component path.
        file: PathBuf,
        /// What it is instead and how to get a component.
        detail: String,
    },
    /// Cranelift refused the component, or it imports or exports something
    /// other than a `rill:processor` world (0.4.0, 0.3.0, 0.2.0 or 0.1.0).
    #[error("{}: does not implement the rill:processor@0.4.0 world (nor 0.3.0, 0.2.0 or 0.1.0): {detail:#}", file.display())]
    WrongWorld {
        /// Component path.
        file: PathBuf,
        /// wasmtime's explanation.
        detail: anyhow::Error,
    },
    /// The plugin's `init` returned an error for this config.
    #[error("{}: init refused the config: {message}", file.display())]
    Init {
        /// Component path.
        file: PathBuf,
        /// The plugin's message.
        message: String,
    },
    /// A directory of the manifest's `[[grants]]` cannot be granted.
    #[error(transparent)]
    Grant(#[from] grants::GrantError),
    /// The plugin trapped while starting (in `init` or instantiation).
    #[error("{}: trapped while starting: {}", file.display(), sandbox::one_line(detail))]
    Trap {
        /// Component path.
        file: PathBuf,
        /// The trap, with a Wasm backtrace when available.
        detail: anyhow::Error,
    },
}

/// A call to an export the component's world does not have (`join` on a
/// component built against 0.3.0, `emit` on one built against 0.1.0): what
/// [`RecordProcessor`]'s calls return, inside their `anyhow::Error`, so a
/// caller can tell it from a trap by type. Manifest checks at load refuse
/// such a plugin first, naming the world to rebuild against.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{export}` needs a component built against {needs} or later; this one was built against {built}")]
pub struct MissingExport {
    /// The export called (its WIT name).
    pub export: &'static str,
    /// The first world that has it.
    pub needs: WorldVersion,
    /// The world the component was built against.
    pub built: WorldVersion,
}

/// Which build of a plugin is running: the manifest's version plus the
/// component's content hash, so two builds of "0.1.0" are told apart in
/// logs and dead-letter headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginVersion {
    /// `version` from the manifest.
    pub version: String,
    /// First 12 hex digits of the component's SHA-256.
    pub hash: String,
}

impl fmt::Display for PluginVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.version, self.hash)
    }
}

/// A processor instance: takes a batch, gives one result per record.
///
/// `Err` means the instance itself failed (a Wasm trap), not a record: the
/// caller must discard the instance.
pub trait RecordProcessor: Send {
    /// Processes `batch` in order.
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error>;

    /// Processes `batch` with the fields the task parsed out of each value
    /// (`parsed[i]` is `batch[i]`'s; `view` says which are this
    /// processor's): the call for a manifest that declares `[fields]`.
    /// Processors that do not read fields (native stand-ins) process the
    /// values as usual.
    fn process_fields(
        &mut self,
        batch: &[InputRecord],
        parsed: &[Arc<crate::fields::Parsed>],
        view: &FieldView,
    ) -> Result<Vec<RecordResult>, anyhow::Error> {
        let _ = (parsed, view);
        self.process(batch)
    }

    /// Folds window records into aggregates: one result per aggregation.
    /// Processors without windows (and 0.1.0 components) never get called:
    /// the manifest check refuses windows for them.
    fn aggregate(&mut self, batch: &[Aggregation]) -> Result<Vec<Result<Vec<Vec<u8>>, String>>, anyhow::Error> {
        let _ = batch;
        anyhow::bail!("this processor does not aggregate windows")
    }

    /// Turns window results into output records: one result per window.
    fn emit(&mut self, results: &[WindowResult]) -> Result<Vec<Result<Vec<OutputRecord>, String>>, anyhow::Error> {
        let _ = results;
        anyhow::bail!("this processor does not emit window results")
    }

    /// A timer fired.
    fn on_timer(&mut self, tick: &Tick) -> Result<Result<Vec<OutputRecord>, String>, anyhow::Error> {
        let _ = tick;
        anyhow::bail!("this processor has no timers")
    }

    /// Turns stream-stream join results into output records: one result
    /// per join result, in order; an `Err` inside dead-letters the input
    /// record behind that result. Processors without `[joins]` never get
    /// called.
    fn join(&mut self, results: &[JoinResult]) -> Result<Vec<Result<Vec<OutputRecord>, String>>, anyhow::Error> {
        let _ = results;
        anyhow::bail!("this processor does not join streams")
    }

    /// Timers the instance scheduled or cancelled since the last call (at
    /// `init`, or during a call), in order.
    fn take_timer_requests(&mut self) -> Vec<TimerRequest> {
        Vec::new()
    }

    /// Bytes of linear memory the instance holds (0 for native stand-ins).
    fn memory_bytes(&self) -> u64 {
        0
    }
}

/// Which `rill:processor` world a component was built against, in release
/// order (a later world has every export of an earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorldVersion {
    /// `init` and `process`.
    V0_1,
    /// Adds windows (`aggregate`, `emit`) and timers.
    V0_2,
    /// Adds fields (`process-fields`).
    V0_3,
    /// Adds stream-stream joins (`join`).
    V0_4,
}

impl fmt::Display for WorldVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorldVersion::V0_1 => "rill:processor@0.1.0",
            WorldVersion::V0_2 => "rill:processor@0.2.0",
            WorldVersion::V0_3 => "rill:processor@0.3.0",
            WorldVersion::V0_4 => "rill:processor@0.4.0",
        })
    }
}

/// A component linked against one of the worlds, ready to instantiate.
#[derive(Clone)]
enum Pre {
    V0_4(bindings::ProcessorPre<HostState>),
    V0_3(bindings::v0_3::ProcessorPre<HostState>),
    V0_2(bindings::v0_2::ProcessorPre<HostState>),
    V0_1(bindings::v0_1::ProcessorPre<HostState>),
}

/// An instance's exports, in the world it was built against.
enum Exports {
    /// The bindings, and `process-fields` called with the host's own
    /// borrowed record shapes (`fields_call`) rather than bindgen's owned ones.
    V0_4(bindings::Processor, wasmtime::component::Func),
    /// As `V0_4`, without `join`.
    V0_3(bindings::v0_3::Processor, wasmtime::component::Func),
    V0_2(bindings::v0_2::Processor),
    V0_1(bindings::v0_1::Processor),
}

/// Creates processor instances for tasks.
pub trait ProcessorFactory: Send + Sync {
    /// The version reported in logs and dead-letter headers.
    fn version(&self) -> String;
    /// A fresh, initialized instance whose logs carry `tag` and whose state
    /// calls reach `state`.
    fn instantiate(&self, tag: &str, state: Option<SharedTaskStore>) -> Result<Box<dyn RecordProcessor>, PluginError>;
}

/// Builds the wasmtime engine every plugin shares.
pub fn new_engine() -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config.wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable);
    config.epoch_interruption(true);
    // `RILL_WASM_PROFILE=perfmap` names plugin functions in `perf report`
    // (/tmp/perf-<pid>.map), for finding where a plugin's time goes.
    if std::env::var("RILL_WASM_PROFILE").is_ok_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config)?;
    sandbox::start_ticker(&engine);
    Ok(engine)
}

/// A compiled, linked and proven-to-start plugin.
pub struct Plugin {
    /// The manifest it was loaded for.
    pub manifest: Arc<Manifest>,
    /// Manifest version and content hash.
    pub version: PluginVersion,
    /// The world the component was built against.
    pub world: WorldVersion,
    engine: Engine,
    pre: Pre,
    /// The directories its instances may use (`[[grants]]`).
    grants: grants::Grants,
}

impl Plugin {
    /// Loads the component `manifest` names and checks it end to end,
    /// compiling through `cache` when one is given.
    pub fn load(
        engine: &Engine,
        manifest: Arc<Manifest>,
        cache: Option<&cache::CompileCache>,
    ) -> Result<Plugin, PluginError> {
        let file = manifest.component.clone();
        let grants = grants::Grants::open(&manifest)?;
        let wrong_world = |detail: anyhow::Error| PluginError::WrongWorld {
            file: file.clone(),
            detail,
        };
        let (component, hash) = compile(engine, &file, cache).map_err(|unloadable| match unloadable {
            Unloadable::Read(source) => PluginError::Read {
                file: file.clone(),
                source,
            },
            Unloadable::NotAComponent(detail) => PluginError::NotAComponent {
                file: file.clone(),
                detail,
            },
            Unloadable::Compile(detail) => wrong_world(detail),
        })?;
        let mut linker = Linker::<HostState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| wrong_world(e.into()))?;
        grants::link(&mut linker).map_err(|e| wrong_world(e.into()))?;
        bindings::Processor::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| wrong_world(e.into()))?;
        // The older worlds' imports (`older_worlds`), under their own
        // package versions.
        macro_rules! link_older {
            ($($world:ident::$interface:ident),+) => {$(
                bindings::$world::rill::processor::$interface::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
                    &mut linker,
                    |s| s,
                )
                .map_err(|e| wrong_world(e.into()))?;
            )+};
        }
        link_older!(
            v0_3::log,
            v0_3::state,
            v0_3::timers,
            v0_3::fields,
            v0_2::log,
            v0_2::state,
            v0_2::timers,
            v0_1::log,
            v0_1::state
        );
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| wrong_world(e.into()))?;
        // The current world first; a component that does not export it may
        // be a 0.3.0 one (without joins), a 0.2.0 one (without fields either)
        // or a 0.1.0 one (without windows or timers either), which keep
        // working.
        let (pre, world) = match bindings::ProcessorPre::new(instance_pre.clone()) {
            Ok(pre) => (Pre::V0_4(pre), WorldVersion::V0_4),
            Err(current) => match bindings::v0_3::ProcessorPre::new(instance_pre.clone()) {
                Ok(pre) => (Pre::V0_3(pre), WorldVersion::V0_3),
                Err(_) => match bindings::v0_2::ProcessorPre::new(instance_pre.clone()) {
                    Ok(pre) => (Pre::V0_2(pre), WorldVersion::V0_2),
                    Err(_) => match bindings::v0_1::ProcessorPre::new(instance_pre) {
                        Ok(pre) => (Pre::V0_1(pre), WorldVersion::V0_1),
                        Err(_) => return Err(wrong_world(current.into())),
                    },
                },
            },
        };
        if world < WorldVersion::V0_3 && !manifest.fields.is_empty() {
            return Err(wrong_world(anyhow::anyhow!(
                "it was built against {world}, which has no fields, but {} declares [fields]; rebuild it against wit/processor.wit (0.4.0)",
                manifest.path.display()
            )));
        }
        if world < WorldVersion::V0_4 && manifest.uses_joins() {
            return Err(wrong_world(anyhow::anyhow!(
                "it was built against {world}, which has no `join` export, but {} declares [joins]; rebuild it against wit/processor.wit (0.4.0)",
                manifest.path.display()
            )));
        }
        if world == WorldVersion::V0_1 && manifest.uses_time() {
            return Err(wrong_world(anyhow::anyhow!(
                "it was built against rill:processor@0.1.0, which has no windows or timers, but {} declares [windows] or [[timers]]; rebuild it against wit/processor.wit (0.4.0)",
                manifest.path.display()
            )));
        }
        let plugin = Plugin {
            world,
            version: PluginVersion {
                version: manifest.version.clone(),
                hash,
            },
            manifest,
            engine: engine.clone(),
            pre,
            grants,
        };
        plugin.start(&format!("{}/load", plugin.manifest.name), None)?;
        Ok(plugin)
    }

    /// The directories its instances may use, with their byte counts.
    pub fn grants(&self) -> &grants::Grants {
        &self.grants
    }

    /// A new instance with `init` already called, within the time limit.
    pub fn start(&self, tag: &str, state: Option<SharedTaskStore>) -> Result<PluginInstance, PluginError> {
        let file = &self.manifest.component;
        let trap = |detail: wasmtime::Error| PluginError::Trap {
            file: file.clone(),
            detail: detail.into(),
        };
        let limits = self.manifest.limits;
        let mut host = HostState::new(tag.into(), state, limits.memory, &self.grants)?;
        host.field_names = self.manifest.fields.iter().map(|f| f.name.clone()).collect();
        let mut store = Store::new(&self.engine, host);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(sandbox::ticks(limits.time_per_batch));
        let config = self.manifest.config.to_string();
        let bindings = sandbox::call_within(limits.time_per_batch, async {
            match &self.pre {
                Pre::V0_4(pre) => {
                    let instance = pre.instance_pre().instantiate_async(&mut store).await?;
                    let bindings = bindings::Processor::new(&mut store, &instance)?;
                    let process_fields = process_fields_func(&mut store, &instance)?;
                    let init = bindings.call_init(&mut store, &config).await?;
                    Ok((Exports::V0_4(bindings, process_fields), init))
                }
                Pre::V0_3(pre) => {
                    let instance = pre.instance_pre().instantiate_async(&mut store).await?;
                    let bindings = bindings::v0_3::Processor::new(&mut store, &instance)?;
                    let process_fields = process_fields_func(&mut store, &instance)?;
                    let init = bindings.call_init(&mut store, &config).await?;
                    Ok((Exports::V0_3(bindings, process_fields), init))
                }
                Pre::V0_2(pre) => {
                    let bindings = pre.instantiate_async(&mut store).await?;
                    let init = bindings.call_init(&mut store, &config).await?;
                    Ok((Exports::V0_2(bindings), init))
                }
                Pre::V0_1(pre) => {
                    let bindings = pre.instantiate_async(&mut store).await?;
                    let init = bindings.call_init(&mut store, &config).await?;
                    Ok((Exports::V0_1(bindings), init))
                }
            }
        })
        .map_err(trap)
        .and_then(|(bindings, init)| {
            init.map(|()| bindings).map_err(|message| PluginError::Init {
                file: file.clone(),
                message,
            })
        })?;
        Ok(PluginInstance {
            store,
            bindings,
            limits,
        })
    }
}

/// The instance's `process-fields` export (0.3.0 on), called with the
/// host's own borrowed record shapes (`fields_call`).
fn process_fields_func(
    store: &mut Store<HostState>,
    instance: &wasmtime::component::Instance,
) -> wasmtime::Result<wasmtime::component::Func> {
    instance
        .get_func(store, "process-fields")
        .ok_or_else(|| wasmtime::Error::msg("the component does not export process-fields"))
}

impl ProcessorFactory for Plugin {
    fn version(&self) -> String {
        self.version.to_string()
    }

    fn instantiate(&self, tag: &str, state: Option<SharedTaskStore>) -> Result<Box<dyn RecordProcessor>, PluginError> {
        Ok(Box::new(self.start(tag, state)?))
    }
}

/// One live instance: its own store, memory and `init`-ed state.
pub struct PluginInstance {
    store: Store<HostState>,
    bindings: Exports,
    limits: crate::manifest::Limits,
}

impl Exports {
    /// The world these exports belong to.
    fn world(&self) -> WorldVersion {
        match self {
            Exports::V0_4(..) => WorldVersion::V0_4,
            Exports::V0_3(..) => WorldVersion::V0_3,
            Exports::V0_2(_) => WorldVersion::V0_2,
            Exports::V0_1(_) => WorldVersion::V0_1,
        }
    }
}

impl PluginInstance {
    /// Runs one export call under the time limit. A host fault keeps its
    /// type (the task tells it from a trap); a trap becomes one line.
    fn call<T>(
        &mut self,
        call: impl AsyncFnOnce(&Exports, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, anyhow::Error> {
        let limit = self.limits.time_per_batch;
        self.store.set_epoch_deadline(sandbox::ticks(limit));
        self.store.data_mut().limits.denied = false;
        let (bindings, store) = (&self.bindings, &mut self.store);
        let result = sandbox::call_within(limit, call(bindings, store));
        result.map_err(|e| {
            let error: anyhow::Error = e.into();
            match error.chain().find_map(|c| c.downcast_ref::<HostFault>()) {
                Some(fault) => anyhow::Error::new(fault.clone()),
                None => {
                    let denied = self.store.data().limits.denied;
                    anyhow::Error::new(sandbox::describe_trap(&error, &self.limits, denied))
                }
            }
        })
    }

    /// [`MissingExport`] unless the instance's world is `needs` or later.
    fn needs(&self, needs: WorldVersion, export: &'static str) -> Result<(), MissingExport> {
        let built = self.bindings.world();
        if built < needs {
            return Err(MissingExport { export, needs, built });
        }
        Ok(())
    }
}

impl RecordProcessor for PluginInstance {
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
        let results = self.call(async |bindings, store| match bindings {
            Exports::V0_4(b, _) => b.call_process(store, batch).await,
            Exports::V0_3(b, _) => b.call_process(store, batch).await,
            Exports::V0_2(b) => b.call_process(store, batch).await,
            Exports::V0_1(b) => b.call_process(store, batch).await,
        })?;
        anyhow::ensure!(
            results.len() == batch.len(),
            "process returned {} results for a batch of {} records; the world requires one per record",
            results.len(),
            batch.len()
        );
        Ok(results)
    }

    fn process_fields(
        &mut self,
        batch: &[InputRecord],
        parsed: &[Arc<crate::fields::Parsed>],
        view: &FieldView,
    ) -> Result<Vec<RecordResult>, anyhow::Error> {
        self.needs(WorldVersion::V0_3, "process-fields")?;
        let records = fields_call::lower(batch, parsed, view);
        let results = self.call(async |bindings, store| match bindings {
            Exports::V0_4(_, func) | Exports::V0_3(_, func) => {
                let typed =
                    func.typed::<(&[fields_call::FieldRecord<'_>],), (Vec<fields_call::FieldResult>,)>(&*store)?;
                Ok(typed.call_async(store, (&records,)).await?.0)
            }
            Exports::V0_2(_) | Exports::V0_1(_) => unreachable!("checked above"),
        })?;
        anyhow::ensure!(
            results.len() == batch.len(),
            "process-fields returned {} results for a batch of {} records; the world requires one per record",
            results.len(),
            batch.len()
        );
        Ok(fields_call::lift(batch, results))
    }

    fn aggregate(&mut self, batch: &[Aggregation]) -> Result<Vec<Result<Vec<Vec<u8>>, String>>, anyhow::Error> {
        self.needs(WorldVersion::V0_2, "aggregate")?;
        let results = self.call(async |bindings, store| match bindings {
            Exports::V0_4(b, _) => b.call_aggregate(store, batch).await,
            Exports::V0_3(b, _) => b.call_aggregate(store, batch).await,
            Exports::V0_2(b) => b.call_aggregate(store, batch).await,
            Exports::V0_1(_) => unreachable!("checked above"),
        })?;
        anyhow::ensure!(
            results.len() == batch.len(),
            "aggregate returned {} results for {} aggregations; the world requires one each",
            results.len(),
            batch.len()
        );
        for (result, group) in results.iter().zip(batch) {
            let want = if group.running { group.records.len() } else { 1 };
            if let Ok(values) = result {
                anyhow::ensure!(
                    values.len() == want,
                    "aggregate returned {} aggregates for {} records (running = {}); the world requires {want}",
                    values.len(),
                    group.records.len(),
                    group.running
                );
            }
        }
        Ok(results)
    }

    fn emit(&mut self, results: &[WindowResult]) -> Result<Vec<Result<Vec<OutputRecord>, String>>, anyhow::Error> {
        self.needs(WorldVersion::V0_2, "emit")?;
        let outputs = self.call(async |bindings, store| match bindings {
            Exports::V0_4(b, _) => b.call_emit(store, results).await,
            Exports::V0_3(b, _) => b.call_emit(store, results).await,
            Exports::V0_2(b) => b.call_emit(store, results).await,
            Exports::V0_1(_) => unreachable!("checked above"),
        })?;
        anyhow::ensure!(
            outputs.len() == results.len(),
            "emit returned {} results for {} window results; the world requires one each",
            outputs.len(),
            results.len()
        );
        Ok(outputs)
    }

    fn on_timer(&mut self, tick: &Tick) -> Result<Result<Vec<OutputRecord>, String>, anyhow::Error> {
        self.needs(WorldVersion::V0_2, "on-timer")?;
        self.call(async |bindings, store| match bindings {
            Exports::V0_4(b, _) => b.call_on_timer(store, tick).await,
            Exports::V0_3(b, _) => b.call_on_timer(store, tick).await,
            Exports::V0_2(b) => b.call_on_timer(store, tick).await,
            Exports::V0_1(_) => unreachable!("checked above"),
        })
    }

    fn join(&mut self, results: &[JoinResult]) -> Result<Vec<Result<Vec<OutputRecord>, String>>, anyhow::Error> {
        self.needs(WorldVersion::V0_4, "join")?;
        let outputs = self.call(async |bindings, store| match bindings {
            Exports::V0_4(b, _) => b.call_join(store, results).await,
            Exports::V0_3(..) | Exports::V0_2(_) | Exports::V0_1(_) => unreachable!("checked above"),
        })?;
        anyhow::ensure!(
            outputs.len() == results.len(),
            "join returned {} results for {} join results; the world requires one each",
            outputs.len(),
            results.len()
        );
        Ok(outputs)
    }

    fn take_timer_requests(&mut self) -> Vec<TimerRequest> {
        std::mem::take(&mut self.store.data_mut().timers)
    }

    fn memory_bytes(&self) -> u64 {
        self.store.data().limits.bytes as u64
    }
}

/// Why a component file could not be compiled: what [`compile`] leaves to
/// each kind of plugin to name in its own error.
pub(crate) enum Unloadable {
    /// The file could not be read.
    Read(std::io::Error),
    /// It is not a component (what it is and how to get one).
    NotAComponent(String),
    /// Cranelift refused it.
    Compile(anyhow::Error),
}

/// Reads the component `file`, checks its preamble and compiles it
/// (through `cache` when given); returns it with the first 12 hex digits
/// of its SHA-256 (the build's hash in versions). The first steps of
/// loading a processor or an interceptor.
pub(crate) fn compile(
    engine: &Engine,
    file: &std::path::Path,
    cache: Option<&cache::CompileCache>,
) -> Result<(Component, String), Unloadable> {
    let bytes = std::fs::read(file).map_err(Unloadable::Read)?;
    check_component_header(&bytes).map_err(Unloadable::NotAComponent)?;
    let hash = hex(&Sha256::digest(&bytes)[..6]);
    let component = match cache {
        Some(cache) => cache.component(engine, &bytes),
        None => Component::new(engine, &bytes),
    }
    .map_err(|e| Unloadable::Compile(e.into()))?;
    Ok((component, hash))
}

/// Distinguishes "not Wasm", "a core module" and "a component" from the
/// 8-byte preamble, so the error says what to do.
fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    match bytes {
        [0, b'a', b's', b'm', 0x0d, 0, 0x01, 0, ..] => Ok(()),
        [0, b'a', b's', b'm', 1, 0, 0, 0, ..] => Err("it is a core WebAssembly module; build for the \
            wasm32-wasip2 target (or wrap it with `wasm-tools component new`)"
            .into()),
        [0, b'a', b's', b'm', ..] => Err("unknown WebAssembly version".into()),
        _ if bytes.is_empty() => Err("the file is empty (was it still being written? deploy by writing \
            a temporary file and renaming it)"
            .into()),
        _ => Err("the file does not start with the WebAssembly magic bytes".into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
