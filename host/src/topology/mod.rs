//! The topology plan: what an application runs, derived from its manifests
//! alone (pure: no Kafka, no Wasm), as Kafka Streams' `Topology.describe()`
//! shows it: sub-topologies of sources, processors and sinks, with
//! dead-letter topics, stores and their changelogs, and global tables.
//!
//! Each processor given as a plain manifest is its own sub-topology: it
//! reads its topics and writes its topics, and the next processor reads
//! them back from Kafka. An application file ([`crate::app`]) connects
//! processors in memory: connected processors form one sub-topology, and a
//! repartition connection splits them again through its repartition topic.
//! `rill describe` renders the plan ([`render`]).

pub mod render;
pub mod upgrade;

use crate::app::{App, Connection};
use crate::kafka::admin::TopicError;
use crate::manifest::{InputKind, Manifest};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Everything an application runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// The application id (prefix of changelog topics).
    pub application_id: String,
    /// Independent parts, each with its own tasks.
    pub subtopologies: Vec<SubTopology>,
    /// Tables every instance holds in full, bootstrapped before processing.
    pub global_tables: Vec<GlobalTable>,
    /// Interceptors, in call order (docs/interceptors.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interceptors: Vec<InterceptorNode>,
}

/// An interceptor as `rill describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterceptorNode {
    /// Manifest name.
    pub name: String,
    /// Manifest version.
    pub version: String,
    /// The manifest file.
    pub manifest: String,
    /// The calls the host makes (`events`).
    pub events: Vec<&'static str>,
    /// The processors it covers.
    pub processors: Vec<String>,
}

/// Processors connected in memory, and the topics they read and write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubTopology {
    /// Its number, in manifest order.
    pub id: usize,
    /// Topics read (one task per partition number).
    pub sources: Vec<Source>,
    /// The processors.
    pub processors: Vec<ProcessorNode>,
    /// Topics written.
    pub sinks: Vec<Sink>,
}

/// A topic a sub-topology reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The topic.
    pub topic: String,
    /// `stream` or `table`.
    pub kind: &'static str,
    /// Partitions, when known (`rill describe --brokers`).
    pub partitions: Option<i32>,
    /// The processor it feeds.
    pub to: String,
    /// For a repartition topic, the input topic it stands in for (the name
    /// the processor's manifest gives it); `None` otherwise.
    #[serde(skip)]
    pub alias: Option<String>,
}

/// One processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessorNode {
    /// Manifest name.
    pub name: String,
    /// Manifest version.
    pub version: String,
    /// First 12 hex digits of the component's SHA-256, once
    /// [`Topology::with_hashes`] read the file.
    pub hash: Option<String>,
    /// The manifest file.
    pub manifest: String,
    /// The component file.
    #[serde(skip)]
    pub component: std::path::PathBuf,
    /// Topics it reads, in manifest order.
    pub inputs: Vec<String>,
    /// Its outputs: name and topic.
    pub outputs: Vec<Output>,
    /// Its outputs whose topic is chosen per record: never connected in
    /// memory nor created at startup, so they are no sinks; shown with
    /// their pattern.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routed: Vec<RoutedNode>,
    /// Where its failed records go.
    pub dead_letter: String,
    /// Its key-value stores.
    pub stores: Vec<Store>,
    /// Global tables it looks values up in.
    pub global_tables: Vec<String>,
    /// Its stream-stream joins (`[joins.<name>]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<JoinNode>,
    /// Its foreign-key table-table joins (`[joins.<name>]` with
    /// `foreign-key`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fk_joins: Vec<ForeignKeyJoinNode>,
    /// Processors its outputs feed in memory.
    pub downstream: Vec<Edge>,
    /// Processors that feed it in memory.
    pub upstream: Vec<String>,
    /// Directories its sandbox may use (`[[grants]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantNode>,
}

/// A stream-stream join as `rill describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinNode {
    /// The join's name.
    pub name: String,
    /// `inner`, `left` or `outer`.
    pub kind: &'static str,
    /// The left and right topics.
    pub left: String,
    /// The right topic.
    pub right: String,
    /// How far before a left record a right one joins (ms).
    pub before_ms: i64,
    /// How far after (ms).
    pub after_ms: i64,
    /// Grace (ms).
    pub grace_ms: i64,
    /// The stores buffering each side (also in `stores`).
    pub stores: [String; 2],
}

/// A foreign-key join as `rill describe` shows it, with the internal topics
/// the host creates for it (also among the sources and sinks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKeyJoinNode {
    /// The join's name.
    pub name: String,
    /// `inner` or `left`.
    pub kind: &'static str,
    /// The left table, whose values hold the foreign key.
    pub left: String,
    /// The right table, keyed by it.
    pub right: String,
    /// The field of a left value holding the foreign key.
    pub foreign_key: String,
    /// Subscriptions, keyed by right key (partitioned like `right`).
    pub subscription_topic: String,
    /// Answers, keyed by left key (partitioned like `left`).
    pub response_topic: String,
    /// The right side's store of subscriptions (also in `stores`).
    pub store: String,
}

/// A directory a processor's sandbox may use, as its manifest grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantNode {
    /// Where the plugin sees it.
    pub guest: String,
    /// The host directory as written (relative to where rill runs).
    pub dir: String,
    /// `read`, `append` or `read-write`.
    pub access: &'static str,
    /// The bound on the bytes its files hold (none for `read`).
    pub max_size: Option<u64>,
    /// Created at load if missing.
    pub create: bool,
}

impl From<&crate::manifest::GrantSpec> for GrantNode {
    fn from(g: &crate::manifest::GrantSpec) -> Self {
        GrantNode {
            guest: g.guest.clone(),
            dir: g.dir.display().to_string(),
            access: g.access.name(),
            max_size: g.max_size,
            create: g.create,
        }
    }
}

/// An output of one processor feeding another in memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The output.
    pub output: String,
    /// The downstream processor.
    pub to: String,
}

/// A named output of a processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    /// The name the plugin emits to.
    pub name: String,
    /// The topic it is written to.
    pub topic: String,
    /// The topics its records are produced to: its own topic unless every
    /// connection from it is in memory without `write`, plus a repartition
    /// topic per repartitioning connection. Tasks route by it.
    #[serde(skip)]
    pub written_to: Vec<String>,
}

/// An output whose topic is chosen per record (`topic-pattern`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoutedNode {
    /// The name the plugin emits to (with `:<topic>`).
    pub name: String,
    /// The topics it may write to, as a full-match regular expression.
    pub topic_pattern: String,
    /// Whether rill creates a matching topic the brokers do not have.
    pub create: bool,
}

/// A store and the topic that backs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Store {
    /// Store name.
    pub name: String,
    /// `<application-id>-<store>-changelog`.
    pub changelog: String,
}

/// A topic a sub-topology writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sink {
    /// The topic.
    pub topic: String,
    /// `output`, `dead-letter`, `changelog` or `repartition`.
    pub kind: &'static str,
    /// Partitions, when known.
    pub partitions: Option<i32>,
    /// Partitions the manifest asks for if rill creates it; otherwise it
    /// gets as many as the sub-topology's inputs.
    #[serde(skip)]
    pub requested: Option<i32>,
    /// What writes it: `processor.output`, `processor` (dead letters) or
    /// `processor.store` (changelog).
    pub from: String,
}

/// Topics to create before an application runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicPlan {
    /// Name and partition count.
    pub create: Vec<(String, i32)>,
    /// Those of them that are compacted (changelogs).
    pub compacted: Vec<String>,
}

/// A global table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlobalTable {
    /// The topic.
    pub topic: String,
    /// Partitions, when known.
    pub partitions: Option<i32>,
    /// Processors that look values up in it.
    pub readers: Vec<String>,
}

impl Topology {
    /// The plan for `manifests` run as application `application_id`, each
    /// its own sub-topology.
    pub fn plan(application_id: &str, manifests: &[Arc<Manifest>]) -> Topology {
        Self::build(application_id, manifests, &[])
    }

    /// The plan for an application file.
    pub fn plan_app(application_id: &str, app: &App) -> Topology {
        let mut topology = Self::build(application_id, &app.processors, &app.connections);
        topology.interceptors = app
            .interceptors
            .iter()
            .map(|d| InterceptorNode {
                name: d.manifest.name.clone(),
                version: d.manifest.version.clone(),
                manifest: d.manifest.path.display().to_string(),
                events: d.manifest.events.iter().map(|e| e.name()).collect(),
                processors: d.processors.clone(),
            })
            .collect();
        topology
    }

    /// The plan for `manifests` joined by `connections` (validated, as an
    /// [`App`]'s are).
    pub fn build(application_id: &str, manifests: &[Arc<Manifest>], connections: &[Connection]) -> Topology {
        let mut global_tables: Vec<GlobalTable> = Vec::new();
        for m in manifests {
            for topic in m.global_topics() {
                match global_tables.iter_mut().find(|g| g.topic == topic) {
                    Some(table) => table.readers.push(m.name.clone()),
                    None => global_tables.push(GlobalTable {
                        topic: topic.to_string(),
                        partitions: None,
                        readers: vec![m.name.clone()],
                    }),
                }
            }
        }
        // Processors joined by in-memory connections share a sub-topology
        // (a repartition connection goes through Kafka, so it does not join).
        let mut group: Vec<usize> = (0..manifests.len()).collect();
        let index = |name: &str| manifests.iter().position(|m| m.name == name);
        for c in connections.iter().filter(|c| !c.repartition) {
            if let (Some(a), Some(b)) = (index(&c.from), index(&c.to)) {
                let (ga, gb) = (group[a], group[b]);
                for g in &mut group {
                    if *g == gb {
                        *g = ga;
                    }
                }
            }
        }
        let mut groups: Vec<usize> = Vec::new();
        for g in &group {
            if !groups.contains(g) {
                groups.push(*g);
            }
        }
        let subtopologies = groups
            .iter()
            .enumerate()
            .map(|(id, g)| {
                let members: Vec<&Manifest> = manifests
                    .iter()
                    .zip(&group)
                    .filter(|(_, mg)| *mg == g)
                    .map(|(m, _)| &**m)
                    .collect();
                subtopology(id, application_id, &members, connections)
            })
            .collect();
        Topology {
            application_id: application_id.to_string(),
            subtopologies,
            global_tables,
            interceptors: Vec::new(),
        }
    }

    /// What must be created on a cluster whose topics have `existing`
    /// partition counts, or why the application cannot run there. A
    /// sub-topology's inputs must be co-partitioned (its tasks own partition
    /// N of each); a topic it writes gets the partitions its manifest asks
    /// for, else as many as its inputs; changelogs are compacted; an input
    /// nothing here writes must exist. Nothing is to be created when any
    /// input is missing. Pure: [`crate::runtime::prepare_topics`] does the I/O.
    pub fn topics_to_create(&self, existing: &HashMap<String, i32>) -> Result<TopicPlan, TopicError> {
        let written: Vec<&str> = self
            .subtopologies
            .iter()
            .flat_map(|s| s.sinks.iter().map(|k| k.topic.as_str()))
            .collect();
        for sub in &self.subtopologies {
            let counts: Vec<(String, i32)> = sub
                .sources
                .iter()
                .filter_map(|s| existing.get(&s.topic).map(|p| (s.topic.clone(), *p)))
                .collect();
            if counts.windows(2).any(|w| w[0].1 != w[1].1) {
                return Err(TopicError::NotCoPartitioned {
                    manifest: sub
                        .processors
                        .iter()
                        .map(|p| p.manifest.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    counts,
                });
            }
        }
        let mut missing = Vec::new();
        let mut readers = Vec::new();
        let inputs = self
            .subtopologies
            .iter()
            .flat_map(|sub| sub.sources.iter().map(move |s| (s.topic.as_str(), sub)))
            .chain(self.global_tables.iter().filter_map(|g| {
                let reader = self
                    .subtopologies
                    .iter()
                    .find(|s| s.processors.iter().any(|p| g.readers.contains(&p.name)))?;
                Some((g.topic.as_str(), reader))
            }));
        for (topic, sub) in inputs {
            if !existing.contains_key(topic) && !written.contains(&topic) && !missing.iter().any(|m| m == topic) {
                missing.push(topic.to_string());
                readers.extend(sub.processors.iter().map(|p| p.manifest.clone()));
            }
        }
        if !missing.is_empty() {
            readers.dedup();
            return Err(TopicError::MissingInputs {
                topics: missing,
                manifests: readers,
            });
        }
        // A sub-topology reading a repartition topic gets its partition
        // count once the sub-topology writing it is planned: plan those
        // whose sources are all known first, then the rest.
        let mut plan = TopicPlan::default();
        let mut known = existing.clone();
        let mut planned = vec![false; self.subtopologies.len()];
        loop {
            let ready = (0..self.subtopologies.len()).find(|i| {
                !planned[*i]
                    && self.subtopologies[*i]
                        .sources
                        .iter()
                        .all(|s| known.contains_key(&s.topic))
            });
            // Cycles are refused when an application loads; whatever is
            // left goes with what is known.
            let Some(i) = ready.or_else(|| planned.iter().position(|p| !p)) else {
                break;
            };
            planned[i] = true;
            let sub = &self.subtopologies[i];
            let inputs = sub.sources.iter().filter_map(|s| known.get(&s.topic)).copied().max();
            for sink in &sub.sinks {
                if known.contains_key(&sink.topic) {
                    continue;
                }
                let partitions = sink.requested.or(inputs).unwrap_or(1);
                plan.create.push((sink.topic.clone(), partitions));
                known.insert(sink.topic.clone(), partitions);
                if sink.kind == "changelog" {
                    plan.compacted.push(sink.topic.clone());
                }
            }
        }
        Ok(plan)
    }

    /// Every topic the application touches with the partitions to create it
    /// with on an empty development cluster (`--brokers embedded`).
    pub fn all_topics(&self, default_partitions: i32) -> Vec<(String, i32)> {
        let mut topics: Vec<(String, i32)> = Vec::new();
        let mut add = |topic: &str, partitions: Option<i32>| {
            if !topics.iter().any(|(t, _)| t == topic) {
                topics.push((topic.to_string(), partitions.unwrap_or(default_partitions)));
            }
        };
        for sub in &self.subtopologies {
            for source in &sub.sources {
                add(&source.topic, None);
            }
            for sink in &sub.sinks {
                add(&sink.topic, sink.requested);
            }
        }
        for table in &self.global_tables {
            add(&table.topic, None);
        }
        topics
    }

    /// Names each processor's build by its component's content hash, as the
    /// running build reports it (reads every component: for describing, not
    /// for planning topics).
    pub fn with_hashes(mut self) -> Topology {
        for p in self.subtopologies.iter_mut().flat_map(|s| &mut s.processors) {
            p.hash = std::fs::read(&p.component)
                .ok()
                .map(|bytes| Sha256::digest(&bytes)[..6].iter().map(|b| format!("{b:02x}")).collect());
        }
        self
    }

    /// Fills in partition counts of the topics in `counts`.
    pub fn with_partitions(mut self, counts: &HashMap<String, i32>) -> Topology {
        for sub in &mut self.subtopologies {
            for source in &mut sub.sources {
                source.partitions = counts.get(&source.topic).copied();
            }
            for sink in &mut sub.sinks {
                sink.partitions = counts.get(&sink.topic).copied();
            }
        }
        for table in &mut self.global_tables {
            table.partitions = counts.get(&table.topic).copied();
        }
        self
    }
}

fn subtopology(id: usize, application_id: &str, members: &[&Manifest], connections: &[Connection]) -> SubTopology {
    let mut sub = SubTopology {
        id,
        sources: Vec::new(),
        processors: Vec::new(),
        sinks: Vec::new(),
    };
    for m in members {
        let fed = |topic: &str| connections.iter().find(|c| c.to == m.name && c.topic == topic);
        for input in m.inputs.iter().filter(|i| i.kind != InputKind::GlobalTable) {
            let (topic, alias) = match fed(&input.topic) {
                // In memory: not a source of this sub-topology.
                Some(c) if !c.repartition => continue,
                Some(c) => (c.repartition_topic(application_id), Some(input.topic.clone())),
                None => (input.topic.clone(), None),
            };
            sub.sources.push(Source {
                topic,
                kind: if input.kind == InputKind::Table {
                    "table"
                } else {
                    "stream"
                },
                partitions: None,
                to: m.name.clone(),
                alias,
            });
        }
        for j in &m.fk_joins {
            for (topic, kind) in [
                (j.subscription_topic(application_id), "subscription"),
                (j.response_topic(application_id), "response"),
            ] {
                sub.sources.push(Source {
                    topic,
                    kind,
                    partitions: None,
                    to: m.name.clone(),
                    alias: None,
                });
            }
        }
        let stores: Vec<Store> = m
            .all_stores()
            .map(|s| Store {
                name: s.to_string(),
                changelog: Manifest::changelog_topic(application_id, s),
            })
            .collect();
        let out_edges: Vec<&Connection> = connections.iter().filter(|c| c.from == m.name).collect();
        let mut outputs: Vec<Output> = Vec::new();
        for (name, spec) in &m.outputs {
            let mut o = Output {
                name: name.clone(),
                topic: spec.topic.clone(),
                written_to: Vec::new(),
            };
            let edges: Vec<&&Connection> = out_edges.iter().filter(|c| c.output == o.name).collect();
            if edges.is_empty() || edges.iter().any(|c| c.write) {
                o.written_to.push(o.topic.clone());
                sub.sinks.push(Sink {
                    topic: o.topic.clone(),
                    kind: "output",
                    partitions: None,
                    requested: m.outputs[&o.name].partitions,
                    from: format!("{}.{}", m.name, o.name),
                });
            }
            for c in edges.iter().filter(|c| c.repartition) {
                o.written_to.push(c.repartition_topic(application_id));
                sub.sinks.push(Sink {
                    topic: c.repartition_topic(application_id),
                    kind: "repartition",
                    partitions: None,
                    requested: None,
                    from: format!("{}.{}", m.name, o.name),
                });
            }
            outputs.push(o);
        }
        sub.sinks.push(Sink {
            topic: m.dead_letter.topic.clone(),
            kind: "dead-letter",
            partitions: None,
            requested: m.dead_letter.partitions,
            from: m.name.clone(),
        });
        sub.sinks.extend(stores.iter().map(|s| Sink {
            topic: s.changelog.clone(),
            kind: "changelog",
            partitions: None,
            requested: None,
            from: format!("{}.{}", m.name, s.name),
        }));
        // Partitioned like the sub-topology's inputs (which must be
        // co-partitioned), so both land in the tasks that read them.
        for j in &m.fk_joins {
            for (topic, what) in [
                (j.subscription_topic(application_id), "subscriptions"),
                (j.response_topic(application_id), "responses"),
            ] {
                sub.sinks.push(Sink {
                    topic,
                    kind: "internal",
                    partitions: None,
                    requested: None,
                    from: format!("{}.{} {what}", m.name, j.name),
                });
            }
        }
        sub.processors.push(ProcessorNode {
            name: m.name.clone(),
            version: m.version.clone(),
            hash: None,
            component: m.component.clone(),
            manifest: m.path.display().to_string(),
            inputs: m.inputs.iter().map(|i| i.topic.clone()).collect(),
            outputs,
            routed: m
                .routed
                .iter()
                .map(|(name, r)| RoutedNode {
                    name: name.clone(),
                    topic_pattern: r.pattern.to_string(),
                    create: r.create,
                })
                .collect(),
            dead_letter: m.dead_letter.topic.clone(),
            stores,
            global_tables: m.global_topics().map(str::to_string).collect(),
            joins: m
                .joins
                .iter()
                .map(|j| JoinNode {
                    name: j.name.clone(),
                    kind: match j.window.kind {
                        rill_sdk::time::join::JoinKind::Inner => "inner",
                        rill_sdk::time::join::JoinKind::Left => "left",
                        rill_sdk::time::join::JoinKind::Outer => "outer",
                    },
                    left: j.left.clone(),
                    right: j.right.clone(),
                    before_ms: j.window.before,
                    after_ms: j.window.after,
                    grace_ms: j.window.grace,
                    stores: j.stores.clone(),
                })
                .collect(),
            fk_joins: m
                .fk_joins
                .iter()
                .map(|j| ForeignKeyJoinNode {
                    name: j.name.clone(),
                    kind: match j.kind {
                        crate::manifest::ForeignKeyJoinKind::Inner => "inner",
                        crate::manifest::ForeignKeyJoinKind::Left => "left",
                    },
                    left: j.left.clone(),
                    right: j.right.clone(),
                    foreign_key: j.foreign_key.as_str().to_string(),
                    subscription_topic: j.subscription_topic(application_id),
                    response_topic: j.response_topic(application_id),
                    store: j.store.clone(),
                })
                .collect(),
            downstream: out_edges
                .iter()
                .filter(|c| !c.repartition)
                .map(|c| Edge {
                    output: c.output.clone(),
                    to: c.to.clone(),
                })
                .collect(),
            upstream: connections
                .iter()
                .filter(|c| c.to == m.name && !c.repartition)
                .map(|c| c.from.clone())
                .collect(),
            grants: m.grants.iter().map(GrantNode::from).collect(),
        });
    }
    sub
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample(manifest: &str) -> Arc<Manifest> {
        Arc::new(Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins").join(manifest)).unwrap())
    }

    fn counts(topics: &[(&str, i32)]) -> HashMap<String, i32> {
        topics.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    #[test]
    fn missing_outputs_dead_letters_and_compacted_changelogs_are_planned() {
        let t = Topology::plan("shop", &[sample("order-count/plugin.toml")]);
        let plan = t
            .topics_to_create(&counts(&[("order", 6), ("order_count", 6)]))
            .unwrap();
        assert_eq!(
            plan.create,
            [
                ("order.count.dlq".to_string(), 6),
                ("shop-counts-changelog".to_string(), 6)
            ]
        );
        assert_eq!(plan.compacted, ["shop-counts-changelog"]);
    }

    #[test]
    fn inputs_must_exist_and_be_co_partitioned() {
        let t = Topology::plan("shop", &[sample("order-join/plugin.toml")]);
        let missing = t.topics_to_create(&counts(&[("order", 3)])).unwrap_err();
        assert!(matches!(missing, TopicError::MissingInputs { ref topics, .. } if topics == &["address"]));
        let skewed = t
            .topics_to_create(&counts(&[("order", 3), ("address", 2)]))
            .unwrap_err();
        assert!(matches!(skewed, TopicError::NotCoPartitioned { .. }), "{skewed}");
    }

    #[test]
    fn the_embedded_broker_gets_every_topic() {
        let t = Topology::plan(
            "metrics",
            &[sample("metric-branch/plugin.toml"), sample("cpu-alert/plugin.toml")],
        );
        let mut topics: Vec<String> = t.all_topics(3).into_iter().map(|(t, _)| t).collect();
        topics.sort();
        assert_eq!(
            topics,
            [
                "metric.all",
                "metric.all.dlq",
                "metric.cpu",
                "metric.cpu.alert",
                "metric.cpu.dlq",
                "metric.memory"
            ]
        );
    }

    #[test]
    fn a_sub_topology_behind_a_repartition_topic_gets_its_writers_partition_count() {
        // order-count listed first: it reads the repartition topic that
        // order-join's sub-topology writes, so it is planned after it.
        let join = sample("order-join/plugin.toml");
        let count = sample("order-count/plugin.toml");
        let mut count_reads_joined = (*count).clone();
        count_reads_joined.inputs[0].topic = join.outputs.values().next().unwrap().topic.clone();
        let connection = Connection {
            from: join.name.clone(),
            output: join.outputs.keys().next().unwrap().clone(),
            topic: count_reads_joined.inputs[0].topic.clone(),
            to: count.name.clone(),
            write: false,
            repartition: true,
        };
        let t = Topology::build("shop", &[Arc::new(count_reads_joined), join], &[connection.clone()]);
        assert_eq!(t.subtopologies.len(), 2);
        let plan = t.topics_to_create(&counts(&[("order", 4), ("address", 4)])).unwrap();
        let created: HashMap<String, i32> = plan.create.into_iter().collect();
        assert_eq!(created[&connection.repartition_topic("shop")], 4);
        assert_eq!(created["order_count"], 4, "the counting sub-topology runs 4 tasks");
        assert_eq!(created["shop-counts-changelog"], 4);
    }
}
