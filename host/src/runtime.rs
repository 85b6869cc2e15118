//! The running application: startup checks, the consumer-group member and
//! its poll loop (Kafka Streams' `StreamThread`), commits and shutdown.
//!
//! One consumer per process joins the group `--application-id`. Rebalance
//! callbacks drive the [`TaskManager`]; the loop polls records, groups them
//! into per-task batches for the worker threads, commits acknowledged
//! progress every commit interval, and stops on a signal, on a fatal error,
//! or (with `--stop-when-idle`) once the inputs are drained.

use crate::app::Connection;
use crate::kafka::KafkaSettings;
use crate::kafka::admin::{self, TopicError};
use crate::kafka::producer::{OutputProducer, RecordSink};
use crate::manifest::Manifest;
use crate::plugin::cache::CompileCache;
use crate::plugin::reload::{Reloader, SwapTarget};
use crate::plugin::{Header, InputRecord, ProcessorFactory};
use crate::state::global::GlobalTables;
use crate::task::manager::{FeedOptions, Offset, OffsetCommitter, TaskManager, Watermarks};
use crate::task::spec::{ProcessorMetrics, ProcessorSpec, StateConfig, TaskSpec};
use crate::topology::Topology;
use anyhow::{Context as _, bail};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientContext, Message, Offset as KafkaOffset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
}

/// What a run did: per-processor counters and how long it was busy.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Counters per processor, in manifest order.
    pub processors: Vec<ProcessorSummary>,
    /// From the first input record polled to the last moment work was in
    /// flight (to within one poll turn): the pipeline's own time, without
    /// startup, idle waiting or shutdown.
    pub active: Duration,
    /// Tasks that stopped on a failure (outputs their topic or the cluster
    /// refused), with why; their offsets were not committed past it.
    pub failed: Vec<String>,
    /// Where the poll loop's own time went.
    pub poll_loop: LoopTime,
}

/// The poll loop's time by activity, summed over the run: with the
/// processors' plugin and produce time, where a record's cost goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopTime {
    /// Records polled.
    pub records: u64,
    /// Nanoseconds inside `poll` (librdkafka handing over fetched records).
    pub poll_nanos: u64,
    /// Nanoseconds copying polled records into owned input records.
    pub copy_in_nanos: u64,
    /// Nanoseconds ordering records into batches and handing them to the
    /// workers (including waits on full worker queues: backpressure).
    pub dispatch_nanos: u64,
    /// Nanoseconds committing offsets.
    pub commit_nanos: u64,
}

/// Counters of one processor at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessorSummary {
    /// Manifest name.
    pub name: String,
    /// Input records processed.
    pub records_in: u64,
    /// Records produced to outputs.
    pub records_out: u64,
    /// Inputs that produced nothing.
    pub dropped: u64,
    /// Inputs sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Plugin traps survived.
    pub traps: u64,
    /// Plugin calls made (records_in / calls is the mean batch size).
    pub calls: u64,
    /// Nanoseconds inside plugin calls.
    pub plugin_nanos: u64,
    /// Nanoseconds routing and producing.
    pub produce_nanos: u64,
    /// Records restored into task state.
    pub restored: u64,
    /// Nanoseconds spent restoring.
    pub restore_nanos: u64,
}

impl ProcessorSummary {
    fn of(spec: &ProcessorSpec) -> Self {
        let m = &spec.metrics;
        ProcessorSummary {
            name: spec.name.to_string(),
            records_in: ProcessorMetrics::get(&m.records_in),
            records_out: ProcessorMetrics::get(&m.records_out),
            dropped: ProcessorMetrics::get(&m.dropped),
            dead_lettered: ProcessorMetrics::get(&m.dead_lettered),
            traps: ProcessorMetrics::get(&m.traps),
            calls: ProcessorMetrics::get(&m.calls),
            plugin_nanos: ProcessorMetrics::get(&m.plugin_nanos),
            produce_nanos: ProcessorMetrics::get(&m.produce_nanos),
            restored: ProcessorMetrics::get(&m.restored),
            restore_nanos: ProcessorMetrics::get(&m.restore_nanos),
        }
    }
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

/// The consumer's context: rebalance callbacks run the task manager.
struct GroupContext {
    manager: Mutex<TaskManager>,
    /// Set after the first assignment, even an empty one.
    assigned: AtomicBool,
    /// Between a revocation and the next assignment (eager protocol): the
    /// empty assignment then says nothing about being drained.
    rebalancing: AtomicBool,
    /// A task that could not start; stops the run.
    failed: Mutex<Option<String>>,
}

impl GroupContext {
    fn manager(&self) -> MutexGuard<'_, TaskManager> {
        self.manager.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.rebalancing.store(true, Ordering::Release);
            let partitions = partitions(tpl);
            tracing::info!("partitions revoked: {}", show(&partitions));
            self.manager().handle_revocation(&partitions, &Committer(consumer));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = partitions(tpl);
                tracing::info!("partitions assigned: {}", show(&partitions));
                let committed = match committed_offsets(consumer, tpl) {
                    Ok(committed) => committed,
                    Err(error) => {
                        self.failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(error);
                        return;
                    }
                };
                // Restoring tasks' partitions wait, paused, for their state;
                // the state updater restores it while this loop polls on.
                let restoring = self.manager().handle_assignment(&partitions, &committed);
                set_fetching(consumer, &restoring, false);
                self.assigned.store(true, Ordering::Release);
                self.rebalancing.store(false, Ordering::Release);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!("rebalance error: {error}"),
        }
    }
}

/// The group's committed offsets of newly assigned partitions (those that
/// have one). One OffsetFetch request, made while the assignment is taken.
fn committed_offsets(
    consumer: &BaseConsumer<GroupContext>,
    tpl: &TopicPartitionList,
) -> Result<HashMap<(String, i32), i64>, String> {
    if tpl.count() == 0 {
        return Ok(HashMap::new());
    }
    let mut last_error = String::new();
    for _ in 0..3 {
        match consumer.committed_offsets(tpl.clone(), Duration::from_secs(30)) {
            Ok(offsets) => {
                return Ok(offsets
                    .elements()
                    .iter()
                    .filter_map(|e| {
                        let offset = e.offset().to_raw().filter(|o| *o >= 0)?;
                        Some(((e.topic().to_string(), e.partition()), offset))
                    })
                    .collect());
            }
            Err(error) => {
                tracing::warn!("reading committed offsets of the assignment: {error}; retrying");
                last_error = error.to_string();
            }
        }
    }
    Err(format!("cannot read the group's committed offsets: {last_error}"))
}

/// The consumer's knowledge of partition ends: cached high watermarks from
/// fetch responses, and the first offset from the broker when needed.
struct ConsumerMarks<'a>(&'a BaseConsumer<GroupContext>);

impl Watermarks for ConsumerMarks<'_> {
    fn high(&self, topic: &str, partition: i32) -> Option<i64> {
        crate::kafka::cached_high_watermark(self.0.client(), topic, partition)
    }

    fn low(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .ok()
            .map(|(low, _)| low)
    }
}

struct Committer<'a>(&'a BaseConsumer<GroupContext>);

impl OffsetCommitter for Committer<'_> {
    fn commit(&self, offsets: &[Offset]) -> Result<(), String> {
        let mut tpl = TopicPartitionList::with_capacity(offsets.len());
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, KafkaOffset::Offset(*offset))
                .map_err(|e| e.to_string())?;
        }
        self.0.commit(&tpl, CommitMode::Sync).map_err(|e| e.to_string())
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

fn show(partitions: &[(String, i32)]) -> String {
    if partitions.is_empty() {
        return "none".into();
    }
    partitions
        .iter()
        .map(|(t, p)| format!("{t}/{p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records polled per loop turn before batches are handed out.
const POLL_BUDGET: usize = 4096;

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
    let manifests: Vec<Arc<Manifest>> = processors.iter().map(|p| p.manifest.clone()).collect();
    let topology = Topology::build(&options.application_id, &manifests, connections);
    check_pipeline(&manifests, &topology)?;
    let partitions = prepare_topics(&options.kafka, &topology)?;

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
        root,
        application_id: options.application_id.clone(),
        kafka: options.kafka.clone(),
        global: globals.as_ref().map(GlobalTables::store),
    });

    let producer: Arc<dyn RecordSink> =
        Arc::new(OutputProducer::new(&options.kafka.producer()).context("creating the producer")?);
    let specs: Vec<Arc<ProcessorSpec>> = processors
        .iter()
        .map(|p| Arc::new(ProcessorSpec::new(&p.manifest, p.factory.clone(), Some(state.clone()))))
        .collect();
    let _reloader = match &options.hot_swap {
        Some(hot) => {
            let targets = specs.iter().map(|s| s.clone() as Arc<dyn SwapTarget>).collect();
            Some(Reloader::start(hot.engine.clone(), hot.cache.clone(), targets).context("watching plugin files")?)
        }
        None => None,
    };
    let feed = FeedOptions {
        batch_size: options.batch_size,
        max_task_idle: options.max_task_idle,
        ..FeedOptions::default()
    };
    let subtopologies: Vec<Arc<TaskSpec>> = topology
        .subtopologies
        .iter()
        .map(|sub| {
            Arc::new(TaskSpec::of_subtopology(
                &options.application_id,
                sub,
                &specs,
                connections,
            ))
        })
        .collect();
    let manager = TaskManager::new(
        &subtopologies,
        options.threads,
        producer.clone(),
        feed,
        shutdown.clone(),
    )
    .context("starting worker threads")?;
    let context = GroupContext {
        manager: Mutex::new(manager),
        assigned: AtomicBool::new(false),
        rebalancing: AtomicBool::new(false),
        failed: Mutex::new(None),
    };
    let consumer: BaseConsumer<GroupContext> = options
        .kafka
        .consumer(&options.application_id)
        .create_with_context(context)
        .context("creating the consumer")?;
    let topics: Vec<&str> = subtopologies
        .iter()
        .flat_map(|s| s.input_topics())
        .map(String::as_str)
        .collect();
    consumer.subscribe(&topics).context("subscribing to the inputs")?;
    tracing::info!(application = %options.application_id, "joined group; reading {}", topics.join(", "));

    let outcome = poll_loop(options, &consumer, shutdown);
    tracing::info!("stopping: finishing in-flight batches, flushing and committing");
    consumer.context().manager().close_all(&Committer(&consumer));
    let failed = consumer.context().manager().failures();
    // Dropping the consumer closes it: revoke (nothing left to do) and
    // LeaveGroup, so the partitions move to other members at once instead
    // of after the session timeout.
    drop(consumer);
    producer.flush(Duration::from_secs(30)).context("flushing outputs")?;
    drop(globals);
    let (active, poll_loop) = outcome?;
    Ok(RunReport {
        processors: specs.iter().map(|s| ProcessorSummary::of(s)).collect(),
        active,
        failed,
        poll_loop,
    })
}

fn poll_loop(
    options: &RunOptions,
    consumer: &BaseConsumer<GroupContext>,
    shutdown: &AtomicBool,
) -> anyhow::Result<(Duration, LoopTime)> {
    let context = consumer.context();
    let mut last_commit = Instant::now();
    let mut last_activity = Instant::now();
    let mut first_input: Option<Instant> = None;
    let mut last_busy = Instant::now();
    let mut busy = false;
    let mut batches: TurnBatches = HashMap::new();
    let mut window = LoopStats::default();
    let mut time = LoopTime::default();
    while !shutdown.load(Ordering::Acquire) {
        let turn = Instant::now();
        let mut polled = 0;
        while polled < POLL_BUDGET {
            // Short waits while outputs are in flight, so the end of the
            // work is noticed promptly.
            let wait = if busy {
                Duration::from_millis(5)
            } else {
                Duration::from_millis(100)
            };
            let timeout = if polled == 0 { wait } else { Duration::ZERO };
            let polling = Instant::now();
            let message = consumer.poll(timeout);
            // A wait for records that do not come is idle time, not cost.
            if message.is_some() {
                time.poll_nanos += polling.elapsed().as_nanos() as u64;
            }
            match message {
                None => break,
                Some(Err(error)) => {
                    tracing::warn!("consumer: {error}");
                    break;
                }
                Some(Ok(message)) => {
                    polled += 1;
                    let copying = Instant::now();
                    let topic = message.topic();
                    // Allocate a topic key once per topic, not once per record.
                    if !batches.contains_key(topic) {
                        batches.insert(topic.into(), HashMap::new());
                    }
                    let per_topic = batches.get_mut(topic).expect("inserted above");
                    per_topic
                        .entry(message.partition())
                        .or_default()
                        .push(to_input_record(&message));
                    time.copy_in_nanos += copying.elapsed().as_nanos() as u64;
                }
            }
        }
        let polled_at = Instant::now();
        feed_tasks(consumer, &mut batches);
        window.record(polled, polled_at - turn, polled_at.elapsed());
        time.records += polled as u64;
        time.dispatch_nanos += polled_at.elapsed().as_nanos() as u64;
        if polled > 0 {
            last_activity = Instant::now();
            first_input.get_or_insert(last_activity);
        }

        if let Some(error) = context.failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bail!("{error}");
        }
        let mut manager = context.manager();
        if let Some(error) = manager.fatal() {
            bail!("{error}");
        }
        // Also commit when the inputs run dry, so the end of a burst is
        // committed at once rather than up to a commit interval later
        // (nothing is committed when nothing new was acknowledged).
        if last_commit.elapsed() >= options.commit_interval || (polled == 0 && !manager.is_committed()) {
            let committing = Instant::now();
            manager.commit(&Committer(consumer));
            time.commit_nanos += committing.elapsed().as_nanos() as u64;
            last_commit = Instant::now();
        }
        let paused = manager.take_newly_paused();
        if !paused.is_empty() {
            tracing::warn!("stopped fetching paused task partitions: {}", show(&paused));
            set_fetching(consumer, &paused, false);
        }
        busy = polled > 0 || !manager.is_idle();
        if busy {
            last_busy = Instant::now();
        }
        if busy || context.rebalancing.load(Ordering::Acquire) {
            last_activity = Instant::now();
        }
        drop(manager);

        if let Some(idle) = options.stop_when_idle
            && context.assigned.load(Ordering::Acquire)
            && last_activity.elapsed() >= idle
        {
            let committed = {
                let mut manager = context.manager();
                manager.commit(&Committer(consumer));
                manager.is_committed()
            };
            if !committed {
                // A commit that failed (brokers unreachable) is retried;
                // stopping now would leave processed work uncommitted.
                last_activity = Instant::now();
                continue;
            }
            let checked = Instant::now();
            // Brokers that cannot be reached say nothing about being
            // drained: keep running until they answer.
            let is_drained = drained(consumer).unwrap_or_else(|error| {
                tracing::debug!("drain check: {error:#}");
                false
            });
            tracing::debug!("drain check took {:?}", checked.elapsed());
            if is_drained {
                tracing::info!(
                    "inputs drained and idle for {}; stopping",
                    humantime::format_duration(idle)
                );
                return Ok((active(first_input, last_busy), time));
            }
            last_activity = Instant::now();
        }
    }
    Ok((active(first_input, last_busy), time))
}

fn active(first_input: Option<Instant>, last_busy: Instant) -> Duration {
    first_input.map_or(Duration::ZERO, |first| last_busy.saturating_duration_since(first))
}

/// Records gathered in one poll turn, by topic, then partition.
type TurnBatches = HashMap<Arc<str>, HashMap<i32, Vec<InputRecord>>>;

/// Hands what one poll turn gathered to the tasks' partition groups, sends
/// every task the records it may process now (timestamp order across its
/// inputs, see `task::partition_group`), and pauses or resumes fetching of
/// partitions by how much their tasks hold.
fn feed_tasks(consumer: &BaseConsumer<GroupContext>, batches: &mut TurnBatches) {
    let mut manager = consumer.context().manager();
    for (topic, partitions) in batches.iter_mut() {
        for (partition, batch) in partitions.iter_mut().filter(|(_, b)| !b.is_empty()) {
            manager.buffer(topic, *partition, std::mem::take(batch));
        }
    }
    manager.dispatch_ready(&ConsumerMarks(consumer));
    let flow = manager.flow_control();
    let restored = manager.poll_restores();
    drop(manager);
    set_fetching(consumer, &flow.pause, false);
    set_fetching(consumer, &flow.resume, true);
    set_fetching(consumer, &restored, true);
}

/// Pauses or resumes fetching `partitions` (flow control, restores).
fn set_fetching<C: ConsumerContext>(consumer: &BaseConsumer<C>, partitions: &[(String, i32)], fetch: bool) {
    if partitions.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in partitions {
        tpl.add_partition(topic, *partition);
    }
    let result = if fetch {
        consumer.resume(&tpl)
    } else {
        consumer.pause(&tpl)
    };
    match result {
        Ok(()) => tracing::debug!("{} {}", if fetch { "fetching" } else { "paused" }, show(partitions)),
        Err(error) => tracing::warn!("cannot pause/resume {}: {error}", show(partitions)),
    }
}

/// True when every assigned partition has been consumed up to its high
/// watermark.
fn drained(consumer: &BaseConsumer<GroupContext>) -> anyhow::Result<bool> {
    let timeout = Duration::from_secs(10);
    let positions = consumer.position().context("reading consumer positions")?;
    let mut committed = None;
    for element in positions.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        // A paused task's partition cannot drain; it waits for a restart.
        if consumer.context().manager().is_paused(topic, partition) {
            continue;
        }
        let consumed = element.offset().to_raw().filter(|o| *o >= 0);
        let cached = crate::kafka::cached_high_watermark(consumer.client(), topic, partition);
        let (position, high) = match (consumed, cached) {
            (Some(position), Some(high)) => (position, high),
            _ => {
                let (low, high) = consumer
                    .fetch_watermarks(topic, partition, timeout)
                    .context("reading watermarks")?;
                if committed.is_none() {
                    committed = Some(consumer.committed(timeout).context("reading committed offsets")?);
                }
                let committed = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(topic, partition))
                    .and_then(|e| e.offset().to_raw());
                (consumed.or(committed.filter(|o| *o >= 0)).unwrap_or(low), high)
            }
        };
        if position < high {
            tracing::debug!("{topic}/{partition} not drained: at {position} of {high}");
            return Ok(false);
        }
    }
    Ok(true)
}

fn to_input_record(message: &BorrowedMessage<'_>) -> InputRecord {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| Header {
                    key: h.key.to_string(),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect()
        })
        .unwrap_or_default();
    InputRecord {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(0),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// Where the poll loop's time goes, logged at debug level once a second.
#[derive(Default)]
struct LoopStats {
    started: Option<Instant>,
    records: usize,
    turns: usize,
    polling: Duration,
    dispatching: Duration,
}

impl LoopStats {
    fn record(&mut self, records: usize, polling: Duration, dispatching: Duration) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.records += records;
        self.turns += 1;
        self.polling += polling;
        self.dispatching += dispatching;
        if started.elapsed() >= Duration::from_secs(1) {
            tracing::debug!(
                records = self.records,
                turns = self.turns,
                polling_ms = self.polling.as_millis() as u64,
                dispatching_ms = self.dispatching.as_millis() as u64,
                "poll loop, last second"
            );
            *self = LoopStats::default();
        }
    }
}
