//! One processor of a running task: its plugin instance, the build it
//! runs (switched at a batch boundary after a hot swap), its dead letters,
//! state, windows, timers and clocks.

use super::*;

/// One processor of a running task: its plugin instance, build, dead
/// letters and (for the stage a source feeds) state.
pub(super) struct Stage {
    pub(super) spec: Arc<ProcessorSpec>,
    /// The stage's own task-style id (`<processor>_<partition>`): the tag
    /// of its instance's logs and the directory of its state.
    pub(super) tag: String,
    pub(super) processor: Box<dyn RecordProcessor>,
    pub(super) version: String,
    /// Who this stage's dead letters come from (carries the running build).
    pub(super) letters: DeadLetters,
    pub(super) state: Option<StateManager>,
    /// The spec generation the instance was built from.
    pub(super) generation: u64,
    /// Windowed stores the stage's outputs may go to (`[windows.<name>]`).
    pub(super) windows: Vec<crate::manifest::WindowSpec>,
    /// Stream-stream joins its join topics' records go to (`[joins.<name>]`).
    pub(super) joins: Vec<crate::manifest::JoinSpec>,
    /// The manifest's timers and those the plugin scheduled.
    pub(super) timers: crate::task::timers::Timers,
    /// The manifest's `idle-advance`.
    pub(super) idle_advance: Option<Duration>,
    /// The stage's stream time, which its stream-time timers follow: the
    /// largest timestamp of the records it processed without rejecting
    /// them (a record its call returned an error for, or trapped on, moves
    /// nothing), raised by `idle-advance`; `i64::MIN` before any.
    pub(super) stream_time: i64,
    /// Where the stage's clocks stood when the task went idle (taken at
    /// the first `idle-advance` after a batch): what it advances from.
    pub(super) idle_base: Option<Clocks>,
    /// Its view of the task's parsed fields (`None`: no `[fields]`; the
    /// instance gets whole values).
    pub(super) fields: Option<crate::plugin::FieldView>,
    /// Its counters: Prometheus series (no-ops without `--http`) and the
    /// processor's totals; shared with the batch's refusal handler.
    pub(super) meters: Arc<crate::observe::metrics::StageMeters>,
}

impl Stage {
    pub(super) fn start(
        spec: Arc<ProcessorSpec>,
        tag: String,
        task: String,
        state: Option<StateManager>,
    ) -> Result<Self, PluginError> {
        let generation = spec.generation();
        let factory = spec.factory();
        let mut processor = factory.instantiate(&tag, state.as_ref().map(StateManager::store))?;
        let version = factory.version();
        let manifest = spec.manifest();
        if let Some(state) = &state {
            let store = state.store();
            let mut store = store.lock();
            for w in &manifest.windows {
                store.hide(&w.name);
            }
            for store_name in manifest.joins.iter().flat_map(|j| &j.stores) {
                store.hide(store_name);
            }
            for join in &manifest.fk_joins {
                store.hide(&join.store);
            }
        }
        let mut timers = crate::task::timers::Timers::from_manifest(&manifest.timers);
        timers.apply(processor.take_timer_requests());
        Ok(Stage {
            meters: Arc::new(crate::observe::metrics::StageMeters::new(
                &spec.name,
                &task,
                spec.output_names(),
                crate::observe::metrics::EventLabels {
                    dead_letter: &kind::ALL,
                    traps: &crate::plugin::TrapKind::LABELS,
                },
                spec.totals.clone(),
            )),
            windows: manifest.windows.clone(),
            joins: manifest.joins.clone(),
            fields: None,
            timers,
            idle_advance: manifest.idle_advance,
            stream_time: i64::MIN,
            idle_base: None,
            letters: DeadLetters {
                topic: spec.dead_letter.as_str().into(),
                processor: spec.name.clone(),
                version: version.as_str().into(),
                task: task.into(),
            },
            version,
            tag,
            spec,
            processor,
            state,
            generation,
        })
    }

    /// The stage processed a record at `timestamp` without rejecting it.
    pub(super) fn saw(&mut self, timestamp: i64) {
        self.stream_time = self.stream_time.max(timestamp);
    }

    /// Where the stage's clocks stand now (window and join times from the
    /// store).
    pub(super) fn clocks(&self) -> Result<Clocks, crate::state::store::AccessError> {
        let mut windows = Vec::with_capacity(self.windows.len());
        let mut joins = Vec::with_capacity(self.joins.len());
        if let Some(state) = &self.state {
            let store = state.store();
            let mut guard = store.lock();
            let mut view = guard.host();
            for w in &self.windows {
                windows.push(crate::state::window::meta(&mut view, &w.name)?.0);
            }
            for j in &self.joins {
                let stored = crate::state::join::StoreBuffers::new(&mut view, j).stream_time()?;
                joins.push(stored.unwrap_or(i64::MIN));
            }
        }
        Ok(Clocks {
            stream_time: self.stream_time,
            windows,
            joins,
        })
    }

    pub(super) fn discard_writes(&mut self) {
        if let Some(state) = &mut self.state {
            state.discard_writes();
        }
    }

    /// A hot swap happened: from this batch on, the new build processes the
    /// stage's records, with the same state. If the new build cannot start
    /// here the old instance keeps running.
    pub(super) fn switch_version(&mut self) {
        let generation = self.spec.generation();
        let factory = self.spec.factory();
        let started = Instant::now();
        match factory.instantiate(&self.tag, self.state.as_ref().map(StateManager::store)) {
            Ok(processor) => {
                tracing::info!(
                    task = %self.tag,
                    "switched from {} to {} in {:.2} ms",
                    self.version,
                    factory.version(),
                    started.elapsed().as_secs_f64() * 1e3
                );
                self.processor = processor;
                self.set_version(factory.version());
                let requests = self.processor.take_timer_requests();
                self.timers.apply(requests);
            }
            Err(error) => {
                tracing::error!(task = %self.tag, "cannot switch to {}; keeping {}: {error}", factory.version(), self.version)
            }
        }
        self.generation = generation;
    }

    pub(super) fn restart(&mut self) -> Result<(), PluginError> {
        let factory = self.spec.factory();
        self.processor = factory.instantiate(&self.tag, self.state.as_ref().map(StateManager::store))?;
        self.set_version(factory.version());
        let requests = self.processor.take_timer_requests();
        self.timers.apply(requests);
        Ok(())
    }

    pub(super) fn set_version(&mut self, version: String) {
        self.letters.version = version.as_str().into();
        self.version = version;
    }
}
