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
mod host_api;
pub mod reload;
pub mod sandbox;

pub use bindings::{Header, InputRecord, OutputRecord, RecordResult};
pub use host_api::{HostFault, HostState, SharedTaskStore};

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
    /// other than the `rill:processor` world.
    #[error("{}: does not implement the rill:processor@0.1.0 world: {detail:#}", file.display())]
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
    /// The plugin trapped while starting (in `init` or instantiation).
    #[error("{}: trapped while starting: {}", file.display(), sandbox::one_line(detail))]
    Trap {
        /// Component path.
        file: PathBuf,
        /// The trap, with a Wasm backtrace when available.
        detail: anyhow::Error,
    },
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
    engine: Engine,
    pre: bindings::ProcessorPre<HostState>,
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
        let bytes = std::fs::read(&file).map_err(|source| PluginError::Read {
            file: file.clone(),
            source,
        })?;
        check_component_header(&bytes).map_err(|detail| PluginError::NotAComponent {
            file: file.clone(),
            detail,
        })?;
        let hash = hex(&Sha256::digest(&bytes)[..6]);
        let wrong_world = |detail: anyhow::Error| PluginError::WrongWorld {
            file: file.clone(),
            detail,
        };
        let component = match cache {
            Some(cache) => cache.component(engine, &bytes),
            None => Component::new(engine, &bytes),
        }
        .map_err(|e| wrong_world(e.into()))?;
        let mut linker = Linker::<HostState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| wrong_world(e.into()))?;
        bindings::Processor::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| wrong_world(e.into()))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| wrong_world(e.into()))?;
        let pre = bindings::ProcessorPre::new(instance_pre).map_err(|e| wrong_world(e.into()))?;
        let plugin = Plugin {
            version: PluginVersion {
                version: manifest.version.clone(),
                hash,
            },
            manifest,
            engine: engine.clone(),
            pre,
        };
        plugin.start(&format!("{}/load", plugin.manifest.name), None)?;
        Ok(plugin)
    }

    /// A new instance with `init` already called, within the time limit.
    pub fn start(&self, tag: &str, state: Option<SharedTaskStore>) -> Result<PluginInstance, PluginError> {
        let file = &self.manifest.component;
        let trap = |detail: wasmtime::Error| PluginError::Trap {
            file: file.clone(),
            detail: detail.into(),
        };
        let limits = self.manifest.limits;
        let mut store = Store::new(&self.engine, HostState::new(tag.into(), state, limits.memory));
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(sandbox::ticks(limits.time_per_batch));
        let config = self.manifest.config.to_string();
        let bindings = sandbox::call_within(limits.time_per_batch, async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            let init = bindings.call_init(&mut store, &config).await?;
            Ok((bindings, init))
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
    bindings: bindings::Processor,
    limits: crate::manifest::Limits,
}

impl RecordProcessor for PluginInstance {
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
        let limit = self.limits.time_per_batch;
        self.store.set_epoch_deadline(sandbox::ticks(limit));
        let (bindings, store) = (&self.bindings, &mut self.store);
        let results = sandbox::call_within(limit, bindings.call_process(store, batch)).map_err(|e| {
            let error: anyhow::Error = e.into();
            // A host fault is the host's, not the plugin's: keep its type so
            // the task can tell it from a trap.
            match error.chain().find_map(|c| c.downcast_ref::<HostFault>()) {
                Some(fault) => anyhow::Error::new(fault.clone()),
                None => anyhow::anyhow!("{}", sandbox::describe_trap(&error, &self.limits)),
            }
        })?;
        anyhow::ensure!(
            results.len() == batch.len(),
            "process returned {} results for a batch of {} records; the world requires one per record",
            results.len(),
            batch.len()
        );
        Ok(results)
    }
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
