//! What every task of one processor shares: the plugin to instantiate, where
//! outputs go, and the processor's counters.

use crate::kafka::KafkaSettings;
use crate::manifest::Manifest;
use crate::plugin::ProcessorFactory;
use crate::state::store::GlobalStore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One processor of the running application.
pub struct ProcessorSpec {
    /// Manifest name; the processor half of its task ids.
    pub name: Arc<str>,
    /// Output name to topic, from the manifest.
    pub outputs: HashMap<String, String>,
    /// Dead-letter topic.
    pub dead_letter: String,
    /// Topics read as streams.
    pub stream_topics: Vec<String>,
    /// Topics read as co-partitioned tables (materialized per task).
    pub table_topics: Vec<String>,
    /// Declared stores and their changelog topics.
    pub changelogs: Vec<(String, String)>,
    /// Where and how tasks keep state; `None` for stateless processors.
    pub state: Option<Arc<StateConfig>>,
    /// Counters, summed over all tasks of the processor.
    pub metrics: ProcessorMetrics,
    /// The plugin build tasks instantiate and the manifest it came from;
    /// replaced together on hot swap.
    current: RwLock<(Arc<Manifest>, Arc<dyn ProcessorFactory>)>,
    /// Bumped on every swap; a task compares it at each batch boundary.
    generation: AtomicU64,
}

impl ProcessorSpec {
    /// A processor from its manifest, a loaded plugin, and (for stateful
    /// processors) where state lives.
    pub fn new(manifest: &Manifest, factory: Arc<dyn ProcessorFactory>, state: Option<Arc<StateConfig>>) -> Self {
        let application = state.as_ref().map_or("", |s| s.application_id.as_str());
        let stateful = !manifest.stores.is_empty()
            || manifest
                .inputs
                .iter()
                .any(|i| i.kind != crate::manifest::InputKind::Stream);
        ProcessorSpec {
            table_topics: manifest.table_topics().map(str::to_string).collect(),
            changelogs: manifest
                .stores
                .iter()
                .map(|s| (s.clone(), Manifest::changelog_topic(application, s)))
                .collect(),
            state: if stateful { state } else { None },
            name: manifest.name.as_str().into(),
            outputs: manifest
                .outputs
                .iter()
                .map(|(name, spec)| (name.clone(), spec.topic.clone()))
                .collect(),
            dead_letter: manifest.dead_letter.topic.clone(),
            stream_topics: manifest.stream_topics().map(str::to_string).collect(),
            metrics: ProcessorMetrics::default(),
            current: RwLock::new((Arc::new(manifest.clone()), factory)),
            generation: AtomicU64::new(0),
        }
    }

    /// Stream and table topics: what tasks of this processor are assigned.
    pub fn input_topics(&self) -> impl Iterator<Item = &String> {
        self.stream_topics.iter().chain(&self.table_topics)
    }

    /// The plugin build new instances come from.
    pub fn factory(&self) -> Arc<dyn ProcessorFactory> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).1.clone()
    }

    /// The manifest of the running build.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// The swap generation; tasks re-instantiate when it changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes `factory` (built from `manifest`) the build every task switches
    /// to at its next batch boundary.
    pub fn swap(&self, manifest: Arc<Manifest>, factory: Arc<dyn ProcessorFactory>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (manifest, factory);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// What stateful tasks need to open, restore and checkpoint their state.
pub struct StateConfig {
    /// `<state-dir>/<application-id>`; tasks live in subdirectories.
    pub root: PathBuf,
    /// The application id (prefix of changelog topics).
    pub application_id: String,
    /// How restore consumers reach Kafka.
    pub kafka: KafkaSettings,
    /// Global tables of this instance, if any processor declares one.
    pub global: Option<Arc<GlobalStore>>,
}

/// Per-processor counters, updated by the data plane and read for logs,
/// the run summary and the benchmark.
#[derive(Debug, Default)]
pub struct ProcessorMetrics {
    /// Input records processed.
    pub records_in: AtomicU64,
    /// Records produced to outputs.
    pub records_out: AtomicU64,
    /// Input records that produced nothing and no error.
    pub dropped: AtomicU64,
    /// Input records sent to the dead-letter topic.
    pub dead_lettered: AtomicU64,
    /// Traps (instance failures) survived.
    pub traps: AtomicU64,
    /// Time spent inside plugin calls, in nanoseconds.
    pub plugin_nanos: AtomicU64,
    /// Time spent routing and producing, in nanoseconds.
    pub produce_nanos: AtomicU64,
    /// Records restored into task stores from changelogs and table topics.
    pub restored: AtomicU64,
    /// Time spent restoring, in nanoseconds (tasks restore one after another).
    pub restore_nanos: AtomicU64,
}

impl ProcessorMetrics {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads `counter`.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl crate::plugin::reload::SwapTarget for ProcessorSpec {
    fn manifest(&self) -> Arc<Manifest> {
        ProcessorSpec::manifest(self)
    }

    fn version(&self) -> String {
        self.factory().version()
    }

    fn install(&self, manifest: Arc<Manifest>, plugin: Arc<crate::plugin::Plugin>) {
        self.swap(manifest, plugin);
    }
}
