//! A component of the interceptor world: loading it (read, check, compile,
//! link, a trial `init`, as [`crate::plugin::Plugin::load`] does for
//! processors) and its instances, whose calls run under the same sandbox
//! and limits as processors' (`plugin/sandbox.rs`, `plugin/host_api.rs`).

use super::InterceptorError;
use super::bindings::{self, Acknowledgement, CommittedOffset, ConsumeAction, ConsumedRecord, SendAction, SendRecord};
use crate::manifest::{InterceptorManifest, Limits};
use crate::plugin::cache::CompileCache;
use crate::plugin::sandbox::{self, TrapKind};
use crate::plugin::grants::Grants;
use crate::plugin::{HostState, PluginVersion, Unloadable};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

/// A compiled, linked and proven-to-start interceptor.
pub struct Interceptor {
    /// The manifest it was loaded for.
    pub manifest: Arc<InterceptorManifest>,
    /// Manifest version and content hash.
    pub version: PluginVersion,
    engine: Engine,
    pre: bindings::InterceptorPre<HostState>,
    /// Its `[[grants]]`, checked against the machine at load.
    grants: Grants,
}

impl Interceptor {
    /// Loads the component `manifest` names and checks it end to end (the
    /// world, then `init` with the manifest's config once), compiling
    /// through `cache` when one is given.
    pub fn load(
        engine: &Engine,
        manifest: Arc<InterceptorManifest>,
        cache: Option<&CompileCache>,
    ) -> Result<Interceptor, InterceptorError> {
        let file = manifest.component.clone();
        let grants = Grants::open_specs(&manifest.name, &manifest.path, &manifest.grants)?;
        let wrong_world = |detail: anyhow::Error| InterceptorError::WrongWorld {
            file: file.clone(),
            detail,
        };
        let (component, hash) =
            crate::plugin::compile(engine, &file, cache).map_err(|unloadable| match unloadable {
                Unloadable::Read(source) => InterceptorError::Read {
                    file: file.clone(),
                    source,
                },
                Unloadable::NotAComponent(detail) => InterceptorError::NotAComponent {
                    file: file.clone(),
                    detail,
                },
                Unloadable::Compile(detail) => wrong_world(detail),
            })?;
        let mut linker = Linker::<HostState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| wrong_world(e.into()))?;
        crate::plugin::grants::link(&mut linker).map_err(|e| wrong_world(e.into()))?;
        bindings::Interceptor::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(|e| wrong_world(e.into()))?;
        // An interceptor built with rill-sdk links the SDK's processor
        // bindings too, and so imports the processor world's type-only
        // interfaces (types, time, fields): they are provided, as for
        // processors, and grant nothing (no state store, no timers run).
        crate::plugin::bindings::Processor::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| wrong_world(e.into()))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| wrong_world(e.into()))?;
        let pre = bindings::InterceptorPre::new(instance_pre).map_err(|e| wrong_world(e.into()))?;
        let interceptor = Interceptor {
            version: PluginVersion {
                version: manifest.version.clone(),
                hash,
            },
            manifest,
            engine: engine.clone(),
            pre,
            grants,
        };
        interceptor.start(&format!("{}/load", interceptor.manifest.name))?;
        Ok(interceptor)
    }

    /// A new instance with `init` already called, within the time limit;
    /// its log lines carry `tag`.
    pub fn start(&self, tag: &str) -> Result<InterceptorInstance, InterceptorError> {
        let file = &self.manifest.component;
        let limits = self.manifest.limits;
        let host = HostState::new(tag.into(), None, limits.memory, &self.grants)?;
        let mut store = Store::new(&self.engine, host);
        store.limiter(HostState::limiter);
        store.set_epoch_deadline(sandbox::ticks(limits.time_per_batch));
        let config = self.manifest.config.to_string();
        let (bindings, init) = sandbox::call_within(limits.time_per_batch, async {
            let bindings = self.pre.instantiate_async(&mut store).await?;
            let init = bindings.call_init(&mut store, &config).await?;
            Ok((bindings, init))
        })
        .map_err(|detail| InterceptorError::Trap {
            file: file.clone(),
            detail: detail.into(),
        })?;
        init.map_err(|message| InterceptorError::Init {
            file: file.clone(),
            message,
        })?;
        Ok(InterceptorInstance {
            store,
            bindings,
            limits,
        })
    }
}

/// Why one interceptor call's result was not applied. The records go on
/// as if the interceptor had passed them (Kafka's rule).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallFailure {
    /// The instance trapped (or hit a limit): it is replaced.
    #[error("{0}")]
    Trapped(sandbox::Trapped),
    /// The interceptor returned an error.
    #[error("returned an error: {0}")]
    Refused(String),
    /// It returned a different number of actions than records.
    #[error("returned {got} actions for {want} records; the world requires one per record")]
    Actions {
        /// Actions returned.
        got: usize,
        /// Records given.
        want: usize,
    },
}

impl CallFailure {
    /// Every `kind` label of `rill_interceptor_errors_total`.
    pub const LABELS: [&'static str; 5] = ["error", "actions", "time-limit", "memory-limit", "trap"];

    /// The `kind` label.
    pub fn label(&self) -> &'static str {
        match self {
            CallFailure::Refused(_) => Self::LABELS[0],
            CallFailure::Actions { .. } => Self::LABELS[1],
            CallFailure::Trapped(t) => match t.kind {
                TrapKind::TimeLimit => Self::LABELS[2],
                TrapKind::MemoryLimit => Self::LABELS[3],
                TrapKind::Trap => Self::LABELS[4],
            },
        }
    }

    /// Whether the instance must be replaced before its next call.
    pub fn is_trap(&self) -> bool {
        matches!(self, CallFailure::Trapped(_))
    }
}

/// One live interceptor instance: its own store, memory and `init`-ed state.
pub struct InterceptorInstance {
    store: Store<HostState>,
    bindings: bindings::Interceptor,
    limits: Limits,
}

impl InterceptorInstance {
    /// Runs one export call under the time and memory limits; a trap
    /// becomes [`CallFailure::Trapped`], the guest's `err` a `Refused`.
    fn call<T>(
        &mut self,
        call: impl AsyncFnOnce(&bindings::Interceptor, &mut Store<HostState>) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, CallFailure> {
        let limit = self.limits.time_per_batch;
        self.store.set_epoch_deadline(sandbox::ticks(limit));
        self.store.data_mut().begin_call();
        let (bindings, store) = (&self.bindings, &mut self.store);
        match sandbox::call_within(limit, call(bindings, store)) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(CallFailure::Refused(message)),
            Err(error) => {
                let error: anyhow::Error = error.into();
                let denied = self.store.data().memory_denied();
                Err(CallFailure::Trapped(sandbox::describe_trap(
                    &error,
                    &self.limits,
                    denied,
                )))
            }
        }
    }

    /// `on-consume`: one action per record.
    pub fn on_consume(&mut self, records: &[ConsumedRecord]) -> Result<Vec<ConsumeAction>, CallFailure> {
        let actions = self.call(async |b, store| b.call_on_consume(store, records).await)?;
        match actions.len() == records.len() {
            true => Ok(actions),
            false => Err(CallFailure::Actions {
                got: actions.len(),
                want: records.len(),
            }),
        }
    }

    /// `on-commit`.
    pub fn on_commit(&mut self, offsets: &[CommittedOffset]) -> Result<(), CallFailure> {
        self.call(async |b, store| b.call_on_commit(store, offsets).await)
    }

    /// `on-send`: one action per record.
    pub fn on_send(&mut self, records: &[SendRecord]) -> Result<Vec<SendAction>, CallFailure> {
        let actions = self.call(async |b, store| b.call_on_send(store, records).await)?;
        match actions.len() == records.len() {
            true => Ok(actions),
            false => Err(CallFailure::Actions {
                got: actions.len(),
                want: records.len(),
            }),
        }
    }

    /// `on-acknowledgement`.
    pub fn on_acknowledgement(&mut self, acks: &[Acknowledgement]) -> Result<(), CallFailure> {
        self.call(async |b, store| b.call_on_acknowledgement(store, acks).await)
    }

    /// Bytes of linear memory the instance holds.
    pub fn memory_bytes(&self) -> u64 {
        self.store.data().memory_bytes()
    }
}

/// The interceptor world's `log` import, tagged like a processor's lines.
impl bindings::rill::interceptor::log::Host for HostState {
    fn log(&mut self, level: bindings::rill::interceptor::log::Level, message: String) {
        use bindings::rill::interceptor::log::Level;
        let tag = self.tag();
        match level {
            Level::Trace => tracing::trace!(interceptor = tag, "{message}"),
            Level::Debug => tracing::debug!(interceptor = tag, "{message}"),
            Level::Info => tracing::info!(interceptor = tag, "{message}"),
            Level::Warn => tracing::warn!(interceptor = tag, "{message}"),
            Level::Error => tracing::error!(interceptor = tag, "{message}"),
        }
    }
}

impl bindings::rill::interceptor::types::Host for HostState {}
