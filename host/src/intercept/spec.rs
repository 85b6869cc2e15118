//! What every task's instances of one interceptor share: the build to
//! instantiate (replaced together with its manifest on hot swap), the
//! generation tasks compare at each turn, and the tally of its calls and
//! failures over every task (what `rill test` specs assert; the metrics
//! carry the same counts per task for a running application).

use super::Interceptor;
use crate::manifest::{InterceptEvent, InterceptorManifest};
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One declared interceptor of the running application.
pub struct InterceptorSpec {
    /// Manifest name: tags its instances' logs, labels its metrics.
    pub name: Arc<str>,
    current: RwLock<Arc<Interceptor>>,
    generation: AtomicU64,
    /// Calls per event, in [`InterceptEvent::ALL`]'s order.
    calls: [AtomicU64; 4],
    /// Failed calls per event, same order.
    errors: [AtomicU64; 4],
    /// Instances that could not start.
    start_errors: AtomicU64,
}

/// How often one interceptor was called and failed, over every task, since
/// it was loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls per event, in [`InterceptEvent::ALL`]'s order.
    pub calls: [u64; 4],
    /// Calls whose result was not applied (an error, a trap, a limit, the
    /// wrong number of actions), per event, same order.
    pub errors: [u64; 4],
    /// Instances that could not start (their calls were skipped).
    pub start_errors: u64,
}

impl InterceptorSpec {
    /// An interceptor from its loaded build.
    pub fn new(interceptor: Interceptor) -> Self {
        InterceptorSpec {
            name: interceptor.manifest.name.as_str().into(),
            current: RwLock::new(Arc::new(interceptor)),
            generation: AtomicU64::new(0),
            calls: Default::default(),
            errors: Default::default(),
            start_errors: AtomicU64::new(0),
        }
    }

    /// Notes one call of `event`, and whether its result was not applied.
    pub(super) fn note_call(&self, event: InterceptEvent, failed: bool) {
        self.calls[event as usize].fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors[event as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes an instance that could not start.
    pub(super) fn note_start_error(&self) {
        self.start_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Its calls and failures so far, over every task.
    pub fn tally(&self) -> Tally {
        let read = |counts: &[AtomicU64; 4]| counts.each_ref().map(|c| c.load(Ordering::Relaxed));
        Tally {
            calls: read(&self.calls),
            errors: read(&self.errors),
            start_errors: self.start_errors.load(Ordering::Relaxed),
        }
    }

    /// The build new instances come from.
    pub fn current(&self) -> Arc<Interceptor> {
        self.current.read().clone()
    }

    /// The manifest of the running build.
    pub fn manifest(&self) -> Arc<InterceptorManifest> {
        self.current.read().manifest.clone()
    }

    /// The running build's version (manifest version + content hash).
    pub fn version(&self) -> String {
        self.current.read().version.to_string()
    }

    /// Bumped on every swap; a task's chain re-instantiates when it changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes `interceptor` the build every task switches to at its next turn.
    pub fn swap(&self, interceptor: Interceptor) {
        *self.current.write() = Arc::new(interceptor);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Hot swap (`plugin/reload.rs` watches its manifest and component): the
/// new build is loaded and proven to start off the processing path; its
/// name may not change. Tasks switch at their next turn.
impl crate::plugin::reload::SwapTarget for InterceptorSpec {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn files(&self) -> Vec<std::path::PathBuf> {
        let manifest = self.manifest();
        vec![manifest.path.clone(), manifest.component.clone()]
    }

    fn version(&self) -> String {
        InterceptorSpec::version(self)
    }

    fn reload(
        &self,
        engine: &wasmtime::Engine,
        cache: Option<&crate::plugin::cache::CompileCache>,
    ) -> Result<Option<String>, String> {
        let old = self.manifest();
        let version = InterceptorSpec::version(self);
        let refused = |why: String| format!("hot swap refused, keeping {} {version}: {why}", old.name);
        let new = InterceptorManifest::load(&old.path).map_err(|e| refused(e.to_string()))?;
        if new.name != old.name {
            return Err(refused(format!(
                "{}: `name` changed; restart rill to rename an interceptor",
                new.path.display()
            )));
        }
        let started = std::time::Instant::now();
        let interceptor =
            Interceptor::load(engine, Arc::new(new.clone()), cache).map_err(|e| refused(e.to_string()))?;
        let new_version = interceptor.version.to_string();
        if new_version == version && new == *old {
            return Ok(None);
        }
        self.swap(interceptor);
        Ok(Some(crate::plugin::reload::swapped(
            &old.name,
            &version,
            &new_version,
            started,
        )))
    }
}
