//! Interceptors: components of the `rill:interceptor` world
//! (`wit/interceptor/interceptor.wit`, docs/interceptors.md), Kafka's
//! consumer and producer interceptors for rill.
//!
//! An application file declares interceptors for the whole application
//! or for some processors, and a processor's manifest for itself; the
//! runtime loads each once ([`Interceptor::load`], a trial `init`
//! included) into an [`InterceptorSpec`] that the processors it covers
//! share. Each task then runs a [`Chain`]: one instance per interceptor
//! covering any of its stages, called in declaration order:
//!
//! - `on-consume` with a batch's records before the first processor
//!   (a dropped record is still consumed: its offset commits);
//! - `on-send` with the records a stage sends to its output topics, before
//!   they are produced (dead letters and changelog records are rill's own
//!   and are not shown);
//! - `on-acknowledgement` with the delivery reports of those records,
//!   noted by the producer's delivery thread ([`Inbox`]) and delivered at
//!   the task's next turn on its worker;
//! - `on-commit` with the offsets the task manager committed for the
//!   task's partitions, also at the task's next turn.
//!
//! An interceptor that traps or returns an error is logged and counted
//! (`rill_interceptor_errors_total`), its change is not applied, a trapped
//! instance is replaced, and records keep flowing: no record is lost or
//! duplicated because of it.

#[allow(missing_docs)]
pub mod bindings;
mod chain;
mod inbox;
mod instance;
mod spec;

pub use chain::{Chain, Sending};
pub use inbox::Inbox;
pub use instance::{CallFailure, Interceptor, InterceptorInstance};
pub use spec::{InterceptorSpec, Tally};

use std::path::PathBuf;
use thiserror::Error;

/// Why an interceptor could not be loaded or started. Every variant names
/// the component file, since that is what the user has to fix.
#[derive(Debug, Error)]
pub enum InterceptorError {
    /// The file could not be read.
    #[error("{}: cannot read the interceptor component: {source}", file.display())]
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
    /// It is not a component of the `rill:interceptor@0.1.0` world.
    #[error("{}: does not implement the rill:interceptor@0.1.0 world (wit/interceptor/interceptor.wit): {detail:#}", file.display())]
    WrongWorld {
        /// Component path.
        file: PathBuf,
        /// wasmtime's explanation.
        detail: anyhow::Error,
    },
    /// `init` returned an error for the manifest's config.
    #[error("{}: init refused the config: {message}", file.display())]
    Init {
        /// Component path.
        file: PathBuf,
        /// The interceptor's message.
        message: String,
    },
    /// A granted directory cannot be used (it names the manifest and the
    /// grant).
    #[error(transparent)]
    Grant(#[from] crate::plugin::grants::GrantError),
    /// It trapped while starting.
    #[error("{}: trapped while starting: {}", file.display(), crate::plugin::sandbox::one_line(detail))]
    Trap {
        /// Component path.
        file: PathBuf,
        /// The trap.
        detail: anyhow::Error,
    },
}

/// Loads every interceptor `app` declares (each once, with its trial
/// `init`) and returns, for each of `app.processors` in order, the
/// interceptors covering it in call order.
pub fn load_for_app(
    engine: &wasmtime::Engine,
    cache: Option<&crate::plugin::cache::CompileCache>,
    app: &crate::app::App,
) -> Result<Vec<Vec<std::sync::Arc<InterceptorSpec>>>, InterceptorError> {
    let mut specs = Vec::with_capacity(app.interceptors.len());
    for declared in &app.interceptors {
        let interceptor = Interceptor::load(engine, declared.manifest.clone(), cache)?;
        tracing::info!(interceptor = %declared.manifest.name, version = %interceptor.version, processors = ?declared.processors, "interceptor loaded from {}", declared.manifest.component.display());
        specs.push(std::sync::Arc::new(InterceptorSpec::new(interceptor)));
    }
    Ok(app
        .processors
        .iter()
        .map(|p| {
            app.interceptors
                .iter()
                .zip(&specs)
                .filter(|(declared, _)| declared.processors.contains(&p.name))
                .map(|(_, spec)| spec.clone())
                .collect()
        })
        .collect())
}
