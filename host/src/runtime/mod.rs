//! The running application: startup checks, topics, state, the worker
//! threads and the consumer-group member, then the poll loop until it ends,
//! and shutdown (Kafka Streams' `KafkaStreams` client).
//!
//! - [`stream_thread`]: the poll loop over a [`crate::kafka::member::RecordSource`].
//! - [`crate::kafka::consumer`]: the group member, its rebalance listener
//!   and committer.
//! - [`crate::task`]: tasks, their partition groups and workers.
//! - [`crate::topology`]: the plan of sub-topologies and topics.
//! - [`report`]: what a run did.

#[cfg(test)]
mod harness;
pub mod deployed;
pub mod report;
pub mod stream_thread;
pub mod warm_up;

pub use report::{LoopTime, ProcessorSummary, RunReport};

use crate::app::Connection;
use crate::kafka::KafkaSettings;
use crate::kafka::admin::{self, TopicError};
use crate::kafka::consumer::KafkaSource;
use crate::kafka::protocol::{GroupProtocol, Membership, Rebalancing};
use crate::kafka::producer::{OutputProducer, RecordSink};
use crate::manifest::Manifest;
use crate::observe::app_state::AppState;
use crate::plugin::ProcessorFactory;
use crate::plugin::cache::CompileCache;
use crate::plugin::reload::{Reloader, SwapTarget};
use crate::state::global::GlobalTables;
use crate::task::manager::{FeedOptions, TaskManager};
use crate::task::spec::{ProcessorSpec, StateConfig, TaskSpec};
use crate::topology::Topology;
use anyhow::{Context as _, bail};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Everything `rill run` needs besides the processors.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Consumer group id and prefix of internal topics.
    pub application_id: String,
    /// How to reach Kafka.
    pub kafka: KafkaSettings,
    /// Worker threads.
    pub threads: usize,
    /// Most records per plugin call.
    pub batch_size: usize,
    /// Records a partition may buffer before its fetching pauses
    /// (`--buffered-records-per-partition`).
    pub buffered_records_per_partition: usize,
    /// How often acknowledged progress is committed.
    pub commit_interval: Duration,
    /// How long a caught-up, empty input partition may hold its task back
    /// (`--max-task-idle`, Kafka Streams' `max.task.idle.ms`); 0 waits only
    /// for data known to be on the broker.
    pub max_task_idle: Duration,
    /// Exit once inputs are drained and nothing arrived for this long.
    pub stop_when_idle: Option<Duration>,
    /// Root of local state (`--state-dir`).
    pub state_dir: PathBuf,
    /// Watch plugin files and swap builds in place (`rill run` does).
    pub hot_swap: Option<HotSwap>,
    /// Commits a partition's lag status is judged on (`--lag-window`).
    pub lag_window: usize,
    /// What a fatal error does (`--on-fatal`).
    pub on_fatal: OnFatal,
    /// At-least-once or exactly-once (`--processing-guarantee`).
    pub guarantee: Guarantee,
    /// How the member takes part in its group (`--group-protocol`,
    /// `--instance-id`).
    pub group: GroupOptions,
}

/// `rill run`'s group-membership choices (see [`crate::kafka::protocol`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOptions {
    /// `--group-protocol`.
    pub protocol: GroupProtocol,
    /// `--instance-id`: static membership, or `None` for a dynamic member.
    pub instance_id: Option<InstanceId>,
    /// `--standby-replicas`: standbys per stateful task (0: none, and no
    /// membership topic).
    pub standby_replicas: usize,
    /// This instance's HTTP address (`--advertised-http`, else `--http`),
    /// advertised in the membership topic.
    pub endpoint: Option<String>,
    /// `--advertised-http` was given: take part in the membership topic so
    /// queries of keys held elsewhere name (redirect to) their owner.
    pub advertise_queries: bool,
    /// `--warm-up`: warm likely tasks before joining (needs the
    /// membership topic, as standbys do).
    pub warm_up: Option<warm_up::WarmUpOptions>,
    /// `--host-tag`: the failure domain standby placement spreads over
    /// (a machine, a node, a zone); the hostname when not given.
    pub host_tag: Option<String>,
}

impl GroupOptions {
    /// Whether this instance takes part in the membership topic: standbys
    /// and warm-ups both place work from it, and queries find other
    /// instances' stores through it.
    pub fn uses_membership(&self) -> bool {
        self.standby_replicas > 0 || self.warm_up.is_some() || self.advertise_queries
    }
}

/// Which static-membership id an instance uses (`--instance-id`); the
/// group sees `<application-id>-<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceId {
    /// `auto`: the state directory's own instance id, so the same
    /// directory always rejoins as the same member.
    FromStateDir,
    /// An id the operator chose (e.g. a pod's ordinal).
    Named(String),
}

impl std::str::FromStr for InstanceId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(InstanceId::FromStateDir),
            "" => Err("an empty instance id; give a name, or auto to use the state directory's".into()),
            s if s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) => {
                Ok(InstanceId::Named(s.to_string()))
            }
            s => Err(format!(
                "{s:?} has characters a group.instance.id may not have; use letters, digits, '.', '_' and '-'"
            )),
        }
    }
}

/// Kafka Streams' `processing.guarantee`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Guarantee {
    /// Outputs are acknowledged before input offsets are committed: after
    /// a crash, records since the last commit are processed again
    /// (duplicate outputs, state updated twice).
    #[default]
    AtLeastOnce,
    /// Outputs, changelog records, dead letters and input offsets of a
    /// commit interval form one Kafka transaction; local state is applied
    /// only when it commits (see `docs/design/007-exactly-once.md`).
    ExactlyOnce,
    /// Test hook, hidden: exactly-once whose `N`th commit fails (see
    /// `--inject-commit-failure`).
    #[value(skip)]
    ExactlyOnceFailing(u64),
}

impl Guarantee {
    /// Whether this is exactly-once.
    pub fn exactly_once(self) -> bool {
        !matches!(self, Guarantee::AtLeastOnce)
    }
}

/// What a fatal error does: Kafka Streams' uncaught exception handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFatal {
    /// Stop the application (SHUTDOWN_CLIENT): state ERROR, exit non-zero.
    #[default]
    Shutdown,
    /// Replace the failed worker thread and restart its tasks from their
    /// last commit (REPLACE_THREAD); three replacements of one worker
    /// within ten minutes stop the application.
    ReplaceWorker,
}

/// What hot swapping needs: the engine new builds are compiled for, and
/// the compile cache.
#[derive(Clone)]
pub struct HotSwap {
    /// The engine the running builds use.
    pub engine: wasmtime::Engine,
    /// Where compiled components are cached.
    pub cache: Option<CompileCache>,
}

impl std::fmt::Debug for HotSwap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotSwap")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// One processor to run: its manifest and how to instantiate it.
pub struct ProcessorDef {
    /// The validated manifest.
    pub manifest: Arc<Manifest>,
    /// The loaded plugin (or a native stand-in).
    pub factory: Arc<dyn ProcessorFactory>,
    /// The interceptors covering it, in call order (none for most).
    pub interceptors: Vec<Arc<crate::intercept::InterceptorSpec>>,
}

/// Puts the topics `topology` needs in place: checks co-partitioning and
/// that inputs exist, creates missing outputs, dead-letter topics and
/// (compacted) changelogs, as [`Topology::topics_to_create`] plans it.
/// Nothing is created when a check fails. Returns every topic's partition
/// count.
pub fn prepare_topics(kafka: &KafkaSettings, topology: &Topology) -> Result<HashMap<String, i32>, TopicError> {
    let mut existing = admin::partition_counts(kafka)?;
    let plan = topology.topics_to_create(&existing)?;
    admin::create_topics(kafka, &plan.create, &plan.compacted)?;
    existing.extend(plan.create);
    Ok(existing)
}

/// Declares every store of `subtopologies` to a query registry, with the
/// name of the tasks holding it and the partition count of their inputs
/// (what a key's partition is computed over), and has `--http` serve
/// queries from it.
fn declare_stores(
    subtopologies: &[Arc<TaskSpec>],
    partitions: &HashMap<String, i32>,
) -> Arc<crate::state::queries::Queryable> {
    use crate::state::queries::StoreKind;
    let queries = Arc::new(crate::state::queries::Queryable::default());
    for spec in subtopologies {
        let count = spec
            .input_topics()
            .filter_map(|t| partitions.get(t))
            .copied()
            .max()
            .unwrap_or(1);
        for processor in spec.processors() {
            let manifest = processor.manifest();
            let codec = |store: &str| manifest.store_codecs.get(store).copied().unwrap_or_default();
            for store in &manifest.stores {
                queries.declare(store, &spec.name, count, StoreKind::KeyValue, codec(store));
            }
            for window in &manifest.windows {
                let kind = StoreKind::Windowed {
                    session: matches!(window.kind, rill_sdk::time::WindowKind::Session { .. }),
                };
                queries.declare(&window.name, &spec.name, count, kind, codec(&window.name));
            }
            for store in manifest.joins.iter().flat_map(|j| &j.stores) {
                queries.declare(store, &spec.name, count, StoreKind::JoinBuffer, codec(store));
            }
            // A foreign-key join's subscriptions are keyed (right key,
            // left key): host-encoded, internal like a join's buffers.
            for join in &manifest.fk_joins {
                queries.declare(
                    &join.store,
                    &spec.name,
                    count,
                    StoreKind::JoinBuffer,
                    codec(&join.store),
                );
            }
        }
    }
    crate::observe::store_queries::install(queries.clone());
    queries
}

/// Starts what standby replicas need (`--standby-replicas`): the
/// membership topic (created, compacted, when missing), this instance's
/// entry in it, and the thread that follows standbys' changelogs. The
/// instance is named by `--instance-id`, else by its state directory.
fn start_standbys(
    options: &RunOptions,
    partitions: &HashMap<String, i32>,
    instance: Option<&crate::state::instance::Instance>,
) -> anyhow::Result<crate::task::manager::StandbyConfig> {
    use crate::kafka::membership::{Membership, members_topic};
    let topic = members_topic(&options.application_id);
    if !partitions.contains_key(&topic) {
        admin::create_topics(&options.kafka, &[(topic.clone(), 1)], std::slice::from_ref(&topic)).with_context(
            || format!("--standby-replicas, --warm-up and --advertised-http need the membership topic {topic}; create it (1 partition, cleanup.policy=compact) or run without them"),
        )?;
    }
    let id = match (&options.group.instance_id, instance) {
        (Some(InstanceId::Named(id)), _) => id.clone(),
        (_, Some(instance)) => instance.id().to_string(),
        (_, None) => unreachable!("claimed when standbys are asked for"),
    };
    let host = options
        .group
        .host_tag
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let membership = Membership::start(&options.kafka, &topic, &id, &host, options.group.endpoint.clone())?;
    tracing::info!(
        instance = %id,
        host = %host,
        standby_replicas = options.group.standby_replicas,
        warm_up = options.group.warm_up.is_some(),
        "membership in {topic}"
    );
    Ok(crate::task::manager::StandbyConfig {
        replicas: options.group.standby_replicas,
        membership: Arc::new(membership),
        follower: crate::state::standby::StandbyFollower::start(options.kafka.clone())?,
    })
}

/// Refuses pipelines that one consumer group cannot run: two processors
/// of one name, or one topic read (as a stream) by two processors.
pub fn check_pipeline(manifests: &[Arc<Manifest>], topology: &Topology) -> anyhow::Result<()> {
    let mut names = HashSet::new();
    for manifest in manifests {
        if !names.insert(&manifest.name) {
            bail!(
                "two manifests are named \"{}\"; processor names must be unique in one application",
                manifest.name
            );
        }
    }
    let path = |name: &str| {
        manifests
            .iter()
            .find(|m| m.name == name)
            .map_or_else(|| name.to_string(), |m| m.path.display().to_string())
    };
    let mut readers: HashMap<&str, &str> = HashMap::new();
    for source in topology.subtopologies.iter().flat_map(|s| &s.sources) {
        if source.kind != "stream" {
            continue;
        }
        if let Some(other) = readers.insert(&source.topic, &source.to) {
            bail!(
                "topic \"{}\" is an input of both {} and {}; one application reads each topic once.\n  fix: run them with different --application-id values",
                source.topic,
                path(other),
                path(&source.to)
            );
        }
    }
    Ok(())
}

/// Runs the processors, each its own sub-topology, until `shutdown` is
/// set, a fatal error occurs, or the inputs are drained (with
/// `stop_when_idle`). Returns the counters.
pub fn run(
    options: &RunOptions,
    processors: Vec<ProcessorDef>,
    shutdown: &Arc<AtomicBool>,
) -> anyhow::Result<RunReport> {
    run_connected(options, processors, &[], shutdown)
}

/// Runs the processors of an application, joined in memory by
/// `connections` (validated, see [`crate::app`]): connected processors run
/// as one sub-topology, each task calling them in a chain.
pub fn run_connected(
    options: &RunOptions,
    processors: Vec<ProcessorDef>,
    connections: &[Connection],
    shutdown: &Arc<AtomicBool>,
) -> anyhow::Result<RunReport> {
    // Exactly-once reads only committed records, everywhere.
    let committed_reads;
    let options = if options.guarantee.exactly_once() {
        committed_reads = RunOptions {
            kafka: options.kafka.clone().read_committed(),
            ..options.clone()
        };
        &committed_reads
    } else {
        options
    };
    let manifests: Vec<Arc<Manifest>> = processors.iter().map(|p| p.manifest.clone()).collect();
    let topology = Topology::build(&options.application_id, &manifests, connections);
    check_pipeline(&manifests, &topology)?;
    let partitions = prepare_topics(&options.kafka, &topology)?;
    let described = crate::topology::render::render(
        &topology.clone().with_partitions(&partitions).with_hashes(),
        crate::topology::render::Format::Json,
    );

    let root = options.state_dir.join(&options.application_id);
    let global_topics: Vec<(String, i32)> = manifests
        .iter()
        .flat_map(|m| m.global_topics())
        .map(|t| (t.to_string(), partitions.get(t).copied().unwrap_or(1)))
        .collect();
    let globals = if global_topics.is_empty() {
        None
    } else {
        Some(
            GlobalTables::start(&options.kafka, &root.join("global"), &global_topics)
                .context("restoring global tables")?,
        )
    };
    let state = Arc::new(StateConfig {
        root: root.clone(),
        application_id: options.application_id.clone(),
        changelogs: Arc::new(crate::state::restore::KafkaChangelogs::new(options.kafka.clone())),
        global: globals.as_ref().map(GlobalTables::store),
        exactly_once: options.guarantee.exactly_once(),
    });

    // Held for the whole run: two live processes on one state directory
    // would share a transactional.id (and a static member id) and fence
    // each other.
    let instance = if options.guarantee.exactly_once()
        || options.group.instance_id == Some(InstanceId::FromStateDir)
        || options.group.uses_membership()
    {
        Some(crate::state::instance::Instance::claim(&root)?)
    } else {
        None
    };
    let (producer, transactions) = match (options.guarantee, &instance) {
        (Guarantee::AtLeastOnce, _) | (_, None) => {
            let producer = OutputProducer::new(&options.kafka.producer()).context("creating the producer")?;
            (Arc::new(producer), None)
        }
        (guarantee, Some(instance)) => {
            let id = format!("{}-{}", options.application_id, instance.id());
            let timeout = options.commit_interval.saturating_mul(3).max(Duration::from_secs(10));
            let fail = match guarantee {
                Guarantee::ExactlyOnceFailing(n) => Some(n),
                _ => None,
            };
            let producer = OutputProducer::transactional(&options.kafka.transactional_producer(&id, timeout), fail)
                .with_context(|| format!("starting the transactional producer {id}"))?;
            tracing::info!(transactional_id = %id, "exactly-once: outputs, state and offsets commit in transactions");
            let producer = Arc::new(producer);
            let transactions: Arc<dyn crate::kafka::producer::Transactions> = producer.clone();
            (producer, Some(transactions))
        }
    };
    let producer: Arc<dyn RecordSink> = producer;
    // Topics chosen per record are looked up (never auto-created) in the
    // cluster's catalog, starting from the topics known now.
    let topics: Arc<dyn crate::kafka::topics::TopicCatalog> = Arc::new(crate::kafka::topics::KafkaTopics::new(
        options.kafka.clone(),
        partitions.keys().cloned(),
    ));
    let specs: Vec<Arc<ProcessorSpec>> = processors
        .iter()
        .map(|p| {
            let inputs = p
                .manifest
                .stream_topics()
                .filter_map(|t| partitions.get(t))
                .copied()
                .max();
            let spec = ProcessorSpec::new(&p.manifest, p.factory.clone(), Some(state.clone()));
            Arc::new(
                spec.with_topics(topics.clone(), inputs.unwrap_or(1))
                    .with_interceptors(p.interceptors.clone()),
            )
        })
        .collect();
    let _reloader = match &options.hot_swap {
        Some(hot) => {
            let mut targets: Vec<Arc<dyn SwapTarget>> =
                specs.iter().map(|s| s.clone() as Arc<dyn SwapTarget>).collect();
            let mut interceptors: Vec<&Arc<crate::intercept::InterceptorSpec>> = Vec::new();
            for spec in specs.iter().flat_map(|s| &s.interceptors) {
                if !interceptors.iter().any(|i| Arc::ptr_eq(i, spec)) {
                    interceptors.push(spec);
                }
            }
            targets.extend(interceptors.into_iter().map(|i| i.clone() as Arc<dyn SwapTarget>));
            Some(Reloader::start(hot.engine.clone(), hot.cache.clone(), targets).context("watching plugin files")?)
        }
        None => None,
    };
    crate::observe::telemetry().start(
        &options.application_id,
        serde_json::from_str(&described).unwrap_or_default(),
        specs
            .iter()
            .map(|s| s.clone() as Arc<dyn crate::observe::ProcessorView>)
            .collect(),
        options.state_dir.join(&options.application_id),
        options.threads.max(1),
        options.lag_window,
    );
    let feed = FeedOptions {
        batch_size: options.batch_size,
        max_task_idle: options.max_task_idle,
        max_buffered: options.buffered_records_per_partition,
    };
    let subtopologies: Vec<Arc<TaskSpec>> = topology
        .subtopologies
        .iter()
        .map(|sub| Arc::new(TaskSpec::of_subtopology(sub, &specs)))
        .collect();
    let mut manager = TaskManager::new(
        &subtopologies,
        options.threads,
        producer.clone(),
        feed,
        shutdown.clone(),
    )
    .context("starting worker threads")?;
    manager.set_transactions(transactions);
    let queries = declare_stores(&subtopologies, &partitions);
    manager.set_queries(queries.clone());
    let topics: Vec<&str> = subtopologies
        .iter()
        .flat_map(|s| s.input_topics())
        .map(String::as_str)
        .collect();
    // The runtime owns the task manager; the member's rebalance listener
    // is the same manager.
    let standby_membership = if options.group.uses_membership() {
        let config = start_standbys(options, &partitions, instance.as_ref())?;
        let membership = config.membership.clone();
        // Queries of partitions held elsewhere name their owner.
        queries.set_owners(membership.clone());
        manager.set_standbys(config);
        Some(membership)
    } else {
        None
    };
    let manager = Arc::new(Mutex::new(manager));
    let listener: Arc<Mutex<dyn crate::kafka::member::RebalanceListener>> = manager.clone();
    let membership = Membership {
        protocol: options.group.protocol,
        copartitioned: subtopologies.iter().any(|s| s.input_topics().nth(1).is_some()),
        instance_id: options.group.instance_id.as_ref().map(|choice| {
            let id = match (choice, &instance) {
                (InstanceId::Named(id), _) => id.as_str(),
                (InstanceId::FromStateDir, Some(instance)) => instance.id(),
                (InstanceId::FromStateDir, None) => unreachable!("claimed above"),
            };
            format!("{}-{id}", options.application_id)
        }),
    };
    membership.check(&options.kafka.overrides)?;
    manager.lock().set_incremental(membership.rebalancing() == Rebalancing::Incremental);
    if membership.protocol == GroupProtocol::Classic && membership.rebalancing() == Rebalancing::Eager {
        tracing::warn!(
            "a task reads partition N of several topics, which librdkafka's cooperative assignor does not keep \
             together: rebalancing eagerly (every rebalance pauses every task). --group-protocol consumer \
             rebalances incrementally and keeps them together (brokers with KIP-848: Apache Kafka 4.0+)"
        );
    }
    if let (Some(warm), Some(membership)) = (&options.group.warm_up, &standby_membership) {
        if options.group.instance_id.is_some() && warm_up::has_local_tasks(&root) {
            // KIP-345: the group hands a restarting static member its own
            // tasks back (their state is here); warming a share of the
            // peers' would only delay it.
            tracing::info!("warm-up skipped: a static member restarting with local state gets its own tasks back");
        } else {
            warm_up::warm_up(&manager, membership, warm, shutdown);
        }
    }
    let source = KafkaSource::join(
        &options.kafka.stream_consumer(&options.application_id, &membership),
        listener,
        &topics,
    )
    .context("joining the consumer group")?;
    tracing::info!(
        application = %options.application_id,
        protocol = ?membership.protocol,
        rebalancing = ?membership.rebalancing(),
        instance = membership.instance_id.as_deref().unwrap_or("dynamic"),
        "joined group; reading {}",
        topics.join(", ")
    );

    let outcome = stream_thread::poll_loop(options, &source, &manager, shutdown);
    let telemetry = crate::observe::telemetry();
    telemetry.set_state(if outcome.is_ok() {
        AppState::PendingShutdown
    } else {
        AppState::Error
    });
    tracing::info!("stopping: finishing in-flight batches, flushing and committing");
    manager.lock().close_all(&source);
    if let Some(membership) = standby_membership {
        // A dynamic member's clean stop is a permanent leave; a static
        // one comes back under the same id and keeps its entry.
        membership.leave_on_stop(options.group.instance_id.is_none());
        drop(membership);
    }
    let failed = manager.lock().failures().iter().map(ToString::to_string).collect();
    // Dropping the consumer closes it: revoke (nothing left to do) and
    // LeaveGroup, so the partitions move to other members at once instead
    // of after the session timeout.
    drop(source);
    producer.flush(Duration::from_secs(30)).context("flushing outputs")?;
    drop(globals);
    let (active, poll_loop) = outcome.map_err(anyhow::Error::msg)?;
    telemetry.set_state(AppState::NotRunning);
    Ok(RunReport {
        processors: specs.iter().map(|s| ProcessorSummary::of(s)).collect(),
        active,
        failed,
        poll_loop,
    })
}
