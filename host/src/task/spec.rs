//! What every task of one processor shares: the plugin to instantiate, where
//! outputs go, and the processor's counters.

use crate::kafka::topics::{EveryTopic, TopicCatalog};
use crate::manifest::Manifest;
use crate::observe::metrics::ProcessorTotals;
use crate::plugin::ProcessorFactory;
use crate::state::store::GlobalStore;
use crate::task::routing::RoutedOutput;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One processor of the running application.
pub struct ProcessorSpec {
    /// Manifest name; the processor half of its task ids.
    pub name: Arc<str>,
    /// Output name to topic, from the manifest.
    pub outputs: HashMap<String, String>,
    /// Outputs whose topic is chosen per record (`topic-pattern`).
    pub routed: Vec<RoutedOutput>,
    /// Whether a chosen topic exists, and creating it: the cluster's topics
    /// when running, every topic where outputs go to memory.
    pub topics: Arc<dyn TopicCatalog>,
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
    /// Counters, summed over all tasks of the processor; each task's
    /// stages add to them through their meters.
    pub totals: Arc<ProcessorTotals>,
    /// The plugin build tasks instantiate and the manifest it came from;
    /// replaced together on hot swap.
    current: RwLock<(Arc<Manifest>, Arc<dyn ProcessorFactory>)>,
    /// Bumped on every swap; a task compares it at each batch boundary.
    generation: AtomicU64,
    /// The interceptors covering this processor, in the order they are
    /// called (docs/interceptors.md).
    pub interceptors: Vec<Arc<crate::intercept::InterceptorSpec>>,
}

impl ProcessorSpec {
    /// A processor from its manifest, a loaded plugin, and (for stateful
    /// processors) where state lives.
    pub fn new(manifest: &Manifest, factory: Arc<dyn ProcessorFactory>, state: Option<Arc<StateConfig>>) -> Self {
        let application = state.as_ref().map_or_else(String::new, |s| s.application_id.clone());
        let application = application.as_str();
        let stateful = manifest.all_stores().next().is_some()
            || manifest
                .inputs
                .iter()
                .any(|i| i.kind != crate::manifest::InputKind::Stream);
        ProcessorSpec {
            table_topics: manifest.table_topics().map(str::to_string).collect(),
            changelogs: manifest
                .all_stores()
                .map(|s| (s.to_string(), Manifest::changelog_topic(application, s)))
                .collect(),
            state: if stateful { state } else { None },
            name: manifest.name.as_str().into(),
            outputs: manifest
                .outputs
                .iter()
                .map(|(name, spec)| (name.clone(), spec.topic.clone()))
                .collect(),
            routed: manifest
                .routed
                .iter()
                .map(|(name, spec)| RoutedOutput::new(name, spec, 1))
                .collect(),
            topics: Arc::new(EveryTopic),
            dead_letter: manifest.dead_letter.topic.clone(),
            // A foreign-key join's internal topics are read like streams.
            stream_topics: manifest
                .stream_topics()
                .map(str::to_string)
                .chain(
                    manifest
                        .fk_joins
                        .iter()
                        .flat_map(|j| [j.subscription_topic(application), j.response_topic(application)]),
                )
                .collect(),
            totals: Arc::default(),
            current: RwLock::new((Arc::new(manifest.clone()), factory)),
            generation: AtomicU64::new(0),
            interceptors: Vec::new(),
        }
    }

    /// The same processor checking chosen topics against `topics` (the
    /// cluster's), creating them with `partitions` (the input's count)
    /// unless the manifest names a count.
    pub fn with_topics(mut self, topics: Arc<dyn TopicCatalog>, partitions: i32) -> Self {
        let manifest = self.manifest();
        self.routed = manifest
            .routed
            .iter()
            .map(|(name, spec)| RoutedOutput::new(name, spec, partitions))
            .collect();
        self.topics = topics;
        self
    }

    /// Every output name the plugin may emit to (without a chosen topic).
    pub fn output_names(&self) -> impl Iterator<Item = &String> {
        self.outputs.keys().chain(self.routed.iter().map(|r| &r.name))
    }

    /// The same processor with `interceptors` covering it, in call order.
    pub fn with_interceptors(mut self, interceptors: Vec<Arc<crate::intercept::InterceptorSpec>>) -> Self {
        self.interceptors = interceptors;
        self
    }

    /// Stream and table topics: what tasks of this processor are assigned.
    pub fn input_topics(&self) -> impl Iterator<Item = &String> {
        self.stream_topics.iter().chain(&self.table_topics)
    }

    /// The plugin build new instances come from.
    pub fn factory(&self) -> Arc<dyn ProcessorFactory> {
        self.current.read().1.clone()
    }

    /// The manifest of the running build.
    pub fn manifest(&self) -> Arc<Manifest> {
        self.current.read().0.clone()
    }

    /// The swap generation; tasks re-instantiate when it changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes `factory` (built from `manifest`) the build every task switches
    /// to at its next batch boundary.
    pub fn swap(&self, manifest: Arc<Manifest>, factory: Arc<dyn ProcessorFactory>) {
        *self.current.write() = (manifest, factory);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// What stateful tasks need to open, restore and checkpoint their state.
pub struct StateConfig {
    /// `<state-dir>/<application-id>`; tasks live in subdirectories.
    pub root: PathBuf,
    /// The application id (prefix of changelog topics).
    pub application_id: String,
    /// Where restores read changelogs and tables from: Kafka when running,
    /// memory under `rill test`.
    pub changelogs: Arc<dyn crate::state::restore::ChangelogReader>,
    /// Global tables of this instance, if any processor declares one.
    pub global: Option<Arc<GlobalStore>>,
    /// Exactly-once: tasks hold their writes out of RocksDB until the
    /// transaction that carries their changelog records commits.
    pub exactly_once: bool,
}

impl crate::plugin::reload::SwapTarget for ProcessorSpec {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn files(&self) -> Vec<PathBuf> {
        let manifest = self.manifest();
        vec![manifest.path.clone(), manifest.component.clone()]
    }

    fn version(&self) -> String {
        self.factory().version()
    }

    fn reload(
        &self,
        engine: &wasmtime::Engine,
        cache: Option<&crate::plugin::cache::CompileCache>,
    ) -> Result<Option<String>, String> {
        let version = self.factory().version();
        let application = self
            .state
            .as_ref()
            .map_or("<application-id>", |s| s.application_id.as_str());
        // What a restart with a refused change would do to state, as `rill
        // upgrade-check` says it.
        let explain = |old: &Manifest, new: &Manifest| -> String {
            crate::topology::upgrade::breaking(application, old, new)
                .iter()
                .map(|c| format!("\n  {}: {}: {}", c.verdict, c.what, c.why))
                .collect()
        };
        crate::plugin::reload::reload_processor(
            engine,
            cache,
            &self.manifest(),
            &version,
            &explain,
            |manifest, plugin| self.swap(manifest, plugin),
        )
    }
}

impl crate::observe::ProcessorView for ProcessorSpec {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> String {
        self.factory().version()
    }

    fn counts(&self) -> crate::observe::ProcessorCounts {
        self.totals.counts()
    }
}

/// What every task of one sub-topology runs (Kafka Streams' sub-topology
/// as tasks see it): its processors as stages, where each stage's outputs
/// go (topics, downstream stages in memory), and which stage each source
/// topic feeds. A plain manifest is a sub-topology of one stage.
pub struct TaskSpec {
    /// The processor half of task ids: the first stage's name, so a
    /// one-processor application keeps its task ids and state directories.
    pub name: Arc<str>,
    /// The processors, in application order.
    pub stages: Vec<StageSpec>,
    /// The topics this sub-topology's tasks are assigned.
    pub sources: Vec<SourceSpec>,
}

/// One processor within a sub-topology.
pub struct StageSpec {
    /// The processor (manifest, plugin, counters, hot swap).
    pub processor: Arc<ProcessorSpec>,
    /// Output name and where its records go (a list: a processor has a
    /// few outputs, and a scan beats hashing the name per record).
    pub routes: Vec<(String, Route)>,
}

impl StageSpec {
    /// Where output `name` goes; `None` if the manifest does not declare it.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

/// Where one output's records go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Topics written: the output's own topic unless a connection keeps it
    /// internal, and the repartition topics of repartition connections.
    pub topics: Vec<Arc<str>>,
    /// Stages fed in memory, with the topic name their records carry (the
    /// output's topic, as if read back from it).
    pub forward: Vec<(usize, Arc<str>)>,
}

/// A topic a sub-topology's tasks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// The topic.
    pub topic: String,
    /// The stage it feeds.
    pub stage: usize,
    /// Read as a co-partitioned table (the stage's state) rather than a stream.
    pub table: bool,
    /// The topic name the stage sees, when it differs (a repartition topic
    /// stands for the output topic the connection names).
    pub alias: Option<Arc<str>>,
}

impl TaskSpec {
    /// A sub-topology of one processor reading its own topics.
    pub fn single(processor: Arc<ProcessorSpec>) -> Self {
        let routes = processor
            .outputs
            .iter()
            .map(|(name, topic)| {
                (
                    name.clone(),
                    Route {
                        topics: vec![topic.as_str().into()],
                        forward: Vec::new(),
                    },
                )
            })
            .collect();
        let sources = sources_of(&processor, 0, &|_| None);
        TaskSpec {
            name: processor.name.clone(),
            stages: vec![StageSpec { processor, routes }],
            sources,
        }
    }

    /// The tasks' view of sub-topology `sub`, whose processors are among
    /// `processors`. What a stage reads and where each output goes are the
    /// topology's decisions ([`crate::topology::Topology::build`]: in-memory
    /// edges, repartition topics, written outputs); they are read here, not
    /// worked out again.
    pub fn of_subtopology(sub: &crate::topology::SubTopology, processors: &[Arc<ProcessorSpec>]) -> Self {
        let stages: Vec<Arc<ProcessorSpec>> = sub
            .processors
            .iter()
            .filter_map(|node| processors.iter().find(|p| *p.name == *node.name).cloned())
            .collect();
        let index = |name: &str| stages.iter().position(|p| *p.name == *name);
        let sources = sub
            .sources
            .iter()
            .filter_map(|source| {
                Some(SourceSpec {
                    topic: source.topic.clone(),
                    stage: index(&source.to)?,
                    table: source.kind == "table",
                    alias: source.alias.as_deref().map(Into::into),
                })
            })
            .collect();
        let stage_specs = sub
            .processors
            .iter()
            .filter_map(|node| Some((node, &stages[index(&node.name)?])))
            .map(|(node, processor)| {
                let routes = node
                    .outputs
                    .iter()
                    .map(|output| {
                        let route = Route {
                            topics: output.written_to.iter().map(|t| t.as_str().into()).collect(),
                            forward: node
                                .downstream
                                .iter()
                                .filter(|edge| edge.output == output.name)
                                .filter_map(|edge| Some((index(&edge.to)?, output.topic.as_str().into())))
                                .collect(),
                        };
                        (output.name.clone(), route)
                    })
                    .collect();
                StageSpec {
                    processor: processor.clone(),
                    routes,
                }
            })
            .collect();
        TaskSpec {
            name: stages.first().map_or_else(|| "".into(), |p| p.name.clone()),
            stages: stage_specs,
            sources,
        }
    }

    /// Every topic tasks of this sub-topology are assigned.
    pub fn input_topics(&self) -> impl Iterator<Item = &String> {
        self.sources.iter().map(|s| &s.topic)
    }

    /// The processors, in stage order.
    pub fn processors(&self) -> impl Iterator<Item = &Arc<ProcessorSpec>> {
        self.stages.iter().map(|s| &s.processor)
    }

    /// Whether any stage keeps state (restored before the task runs).
    pub fn is_stateful(&self) -> bool {
        self.processors().any(|p| p.state.is_some())
    }
}

/// The sources of `processor` as stage `stage`: its stream and table
/// topics, except those `fed` says arrive in memory (`Some(None)`) or
/// through a repartition topic (`Some(Some(topic))`).
fn sources_of(
    processor: &ProcessorSpec,
    stage: usize,
    fed: &dyn Fn(&str) -> Option<Option<String>>,
) -> Vec<SourceSpec> {
    let mut sources = Vec::new();
    for (topics, table) in [(&processor.stream_topics, false), (&processor.table_topics, true)] {
        for topic in topics {
            match fed(topic) {
                Some(None) => {}
                Some(Some(repartition)) => sources.push(SourceSpec {
                    topic: repartition,
                    stage,
                    table,
                    alias: Some(topic.as_str().into()),
                }),
                None => sources.push(SourceSpec {
                    topic: topic.clone(),
                    stage,
                    table,
                    alias: None,
                }),
            }
        }
    }
    sources
}
