//! The Prometheus exporter: every metric rill exports, described once
//! ([`CATALOG`], which `docs/observability.md` lists and a test compares
//! with what `/metrics` serves), the recorder (`metrics` +
//! `metrics-exporter-prometheus`, no hand-written exposition), and the
//! handles the data plane records into ([`StageMeters`], which add to the
//! processor's [`ProcessorTotals`] in the same call: the exit report and
//! `/status` read those, so a run without a recorder still counts).
//!
//! Nothing reaches Prometheus until [`install`] runs (`rill run --http`):
//! without a recorder the `metrics` handles are no-ops and the timed paths
//! skip their clocks ([`enabled`]), so a run without `--http` pays nothing
//! beyond the totals' atomic adds.

use super::ProcessorCounts;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What kind of series a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

impl Kind {
    /// The Prometheus `# TYPE` word.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One exported metric: what the docs list and the exporter describes.
#[derive(Debug, Clone, Copy)]
pub struct MetricDoc {
    /// The metric (family) name.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// Its labels.
    pub labels: &'static [&'static str],
    /// What it measures (the `# HELP` text).
    pub help: &'static str,
}

const fn doc(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> MetricDoc {
    MetricDoc {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter as C, Gauge as G, Histogram as H};

/// Every metric rill exports.
pub const CATALOG: &[MetricDoc] = &[
    // Processors, per task.
    doc(
        RECORDS_CONSUMED,
        C,
        &["processor", "task"],
        "Input records a processor processed.",
    ),
    doc(
        RECORDS_PRODUCED,
        C,
        &["processor", "task", "output"],
        "Records a processor produced, per output.",
    ),
    doc(
        RECORDS_DROPPED,
        C,
        &["processor", "task"],
        "Input records that produced nothing and no error.",
    ),
    doc(
        RECORDS_DEAD_LETTERED,
        C,
        &["processor", "task", "reason"],
        "Records sent to the dead-letter topic, per reason (the rill.error.kind header).",
    ),
    doc(
        TOPIC_MISSING,
        C,
        &["processor", "task", "output", "topic"],
        "Records dead-lettered because the topic their topic-pattern output chose does not exist (create = false) or could not be created.",
    ),
    doc(
        RECORDS_LATE,
        C,
        &["processor", "task"],
        "Records that arrived after every window they fell in had closed.",
    ),
    doc(
        PLUGIN_TRAPS,
        C,
        &["processor", "task", "kind"],
        "Plugin instance failures survived: time-limit, memory-limit or trap.",
    ),
    doc(
        PROCESS_LATENCY,
        H,
        &["processor", "task"],
        "Duration of one plugin call (a batch).",
    ),
    doc(BATCH_SIZE, H, &["processor", "task"], "Records per plugin call."),
    doc(
        PLUGIN_MEMORY,
        G,
        &["processor", "task"],
        "Linear memory of the task's plugin instance.",
    ),
    doc(
        GRANT_WRITES_REFUSED,
        C,
        &["processor", "grant"],
        "Plugin writes refused because the grant's directory would pass its max-size.",
    ),
    doc(
        HOT_SWAPS,
        C,
        &["processor", "result"],
        "Plugin files the watcher acted on: swapped or refused.",
    ),
    // Threads.
    doc(
        THREAD_POLL_LATENCY,
        H,
        &["thread"],
        "Duration of one poll turn that returned records.",
    ),
    doc(
        THREAD_PROCESS_LATENCY,
        H,
        &["thread"],
        "Duration of one batch on a worker, through the chain and into the producer.",
    ),
    doc(THREAD_COMMIT_LATENCY, H, &["thread"], "Duration of one offset commit."),
    doc(THREAD_TASKS_CREATED, C, &["thread"], "Tasks started on a worker."),
    doc(THREAD_TASKS_CLOSED, C, &["thread"], "Tasks closed on a worker."),
    doc(
        THREAD_REPLACEMENTS,
        C,
        &["thread"],
        "Workers replaced after a fatal error (--on-fatal replace-worker).",
    ),
    doc(
        TRANSACTIONS,
        C,
        &["result"],
        "Exactly-once transactions that committed or aborted (always 0 at-least-once).",
    ),
    doc(
        REBALANCES,
        C,
        &["kind"],
        "Rebalance callbacks of the group member: partitions assigned, revoked or lost.",
    ),
    doc(
        REDELIVERED,
        C,
        &[],
        "Input records the consumer delivered again below what this member had already processed, skipped so nothing is processed twice.",
    ),
    doc(
        TASK_RESTORES,
        C,
        &["kind"],
        "Tasks this instance started, by what their state needed: full (no local state: the whole changelog), \
         tail (a local checkpoint), standby (promoted from a standby or warm-up: the tail it had not read) \
         or none (stateless).",
    ),
    doc(
        REBALANCE_SECONDS,
        H,
        &["kind"],
        "Time a rebalance callback took (closing revoked tasks, creating assigned ones); nothing is polled meanwhile.",
    ),
    // State stores.
    doc(
        STORE_LATENCY,
        H,
        &["task", "store", "operation"],
        "Duration of a plugin's state call: get, put, delete or range.",
    ),
    doc(
        RESTORE_RECORDS,
        C,
        &["task", "store"],
        "Records restored into a store from its changelog (or a table from its topic).",
    ),
    doc(RESTORE_REMAINING, G, &["task", "store"], "Records left to restore."),
    doc(STORE_DISK, G, &["task"], "Bytes on disk of a task's state directory."),
    // Standby replicas (`--standby-replicas`).
    doc(
        STANDBY_TASKS,
        G,
        &[],
        "Standby tasks this instance keeps warm (catching up or following their changelogs).",
    ),
    doc(
        STANDBY_LAG,
        G,
        &["task"],
        "Changelog records a followed standby task lacks: its changelogs' ends minus its positions.",
    ),
    // The application.
    doc(
        APPLICATION_STATE,
        G,
        &["state"],
        "1 for the application's current state, 0 for the others.",
    ),
    doc(TASKS, G, &["state"], "Tasks of this instance per state."),
    // Consumer lag, under kafka_exporter's names and labels.
    doc(
        LAG,
        G,
        &["consumergroup", "topic", "partition"],
        "Messages the group has not committed: end offset minus committed offset (kafka_exporter's name).",
    ),
    doc(
        CURRENT_OFFSET,
        G,
        &["consumergroup", "topic", "partition"],
        "The group's committed offset (kafka_exporter's name).",
    ),
    doc(
        PARTITION_OFFSET,
        G,
        &["topic", "partition"],
        "The partition's end offset (kafka_exporter's name).",
    ),
    doc(
        LAG_SECONDS,
        G,
        &["consumergroup", "topic", "partition"],
        "How far behind in time: now minus the timestamp of the oldest record not yet committed.",
    ),
    doc(
        LAG_STATUS,
        G,
        &["consumergroup", "topic", "partition", "status"],
        "1 for the partition's Burrow status (OK, WARN, STOP, STALL, REWIND), 0 for the others.",
    ),
    doc(
        GROUP_STATUS,
        G,
        &["consumergroup", "status"],
        "1 for the group's status (its worst partition's), 0 for the others.",
    ),
];

/// Interceptor calls, per interceptor, task and event (consume, commit,
/// send, acknowledgement). The interceptor series exist only when an
/// application declares interceptors, so they are listed in
/// docs/interceptors.md rather than [`CATALOG`] (whose every entry a
/// plain run exports).
pub const INTERCEPTOR_CALLS: &str = "rill_interceptor_calls_total";
/// Interceptor calls whose result was not applied, per interceptor, task,
/// event and kind (error, actions, time-limit, memory-limit, trap, start).
pub const INTERCEPTOR_ERRORS: &str = "rill_interceptor_errors_total";
/// Duration of one interceptor call, per interceptor, task and event.
pub const INTERCEPTOR_LATENCY: &str = "rill_interceptor_call_seconds";

/// See [`CATALOG`].
pub const RECORDS_CONSUMED: &str = "rill_records_consumed_total";
/// See [`CATALOG`].
pub const RECORDS_PRODUCED: &str = "rill_records_produced_total";
/// See [`CATALOG`].
pub const RECORDS_DROPPED: &str = "rill_records_dropped_total";
/// See [`CATALOG`].
pub const RECORDS_DEAD_LETTERED: &str = "rill_records_dead_lettered_total";
/// See [`CATALOG`].
pub const TOPIC_MISSING: &str = "rill_output_topic_missing_total";
/// See [`CATALOG`].
pub const RECORDS_LATE: &str = "rill_records_late_total";
/// See [`CATALOG`].
pub const PLUGIN_TRAPS: &str = "rill_plugin_traps_total";
/// See [`CATALOG`].
pub const PROCESS_LATENCY: &str = "rill_process_latency_seconds";
/// See [`CATALOG`].
pub const BATCH_SIZE: &str = "rill_batch_size_records";
/// See [`CATALOG`].
pub const PLUGIN_MEMORY: &str = "rill_plugin_memory_bytes";
/// See [`CATALOG`].
pub const GRANT_WRITES_REFUSED: &str = "rill_grant_writes_refused_total";
/// See [`CATALOG`].
pub const HOT_SWAPS: &str = "rill_hot_swaps_total";
/// See [`CATALOG`].
pub const THREAD_POLL_LATENCY: &str = "rill_thread_poll_latency_seconds";
/// See [`CATALOG`].
pub const THREAD_PROCESS_LATENCY: &str = "rill_thread_process_latency_seconds";
/// See [`CATALOG`].
pub const THREAD_COMMIT_LATENCY: &str = "rill_thread_commit_latency_seconds";
/// See [`CATALOG`].
pub const THREAD_TASKS_CREATED: &str = "rill_thread_tasks_created_total";
/// See [`CATALOG`].
pub const THREAD_TASKS_CLOSED: &str = "rill_thread_tasks_closed_total";
/// See [`CATALOG`].
pub const THREAD_REPLACEMENTS: &str = "rill_thread_replacements_total";
/// See [`CATALOG`].
pub const TRANSACTIONS: &str = "rill_transactions_total";
/// See [`CATALOG`].
pub const REBALANCES: &str = "rill_rebalances_total";
/// See [`CATALOG`].
pub const REBALANCE_SECONDS: &str = "rill_rebalance_callback_seconds";
/// See [`CATALOG`].
pub const REDELIVERED: &str = "rill_records_redelivered_skipped_total";
/// See [`CATALOG`].
pub const TASK_RESTORES: &str = "rill_task_restores_total";
/// See [`CATALOG`].
pub const STORE_LATENCY: &str = "rill_store_operation_latency_seconds";
/// See [`CATALOG`].
pub const RESTORE_RECORDS: &str = "rill_store_restored_records_total";
/// See [`CATALOG`].
pub const RESTORE_REMAINING: &str = "rill_store_restore_remaining_records";
/// See [`CATALOG`].
pub const STANDBY_TASKS: &str = "rill_standby_tasks";
/// See [`CATALOG`].
pub const STANDBY_LAG: &str = "rill_standby_lag_records";
/// See [`CATALOG`].
pub const STORE_DISK: &str = "rill_store_disk_bytes";
/// See [`CATALOG`].
pub const APPLICATION_STATE: &str = "rill_application_state";
/// See [`CATALOG`].
pub const TASKS: &str = "rill_tasks";
/// See [`CATALOG`].
pub const LAG: &str = "kafka_consumergroup_lag";
/// See [`CATALOG`].
pub const CURRENT_OFFSET: &str = "kafka_consumergroup_current_offset";
/// See [`CATALOG`].
pub const PARTITION_OFFSET: &str = "kafka_topic_partition_current_offset";
/// See [`CATALOG`].
pub const LAG_SECONDS: &str = "rill_consumergroup_lag_seconds";
/// See [`CATALOG`].
pub const LAG_STATUS: &str = "rill_consumergroup_lag_status";
/// See [`CATALOG`].
pub const GROUP_STATUS: &str = "rill_consumergroup_status";

/// Latency buckets, in seconds: 50 us to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Batch-size buckets, in records.
const BATCH_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];

static ENABLED: AtomicBool = AtomicBool::new(false);
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether a recorder is installed: timed paths read their clocks only then.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the process-wide Prometheus recorder (once; later calls return
/// the same handle) and describes every metric of [`CATALOG`].
pub fn install() -> Result<PrometheusHandle, String> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), BATCH_BUCKETS))
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("installing the Prometheus recorder: {e}"))?;
    for m in CATALOG {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
    ENABLED.store(true, Ordering::Relaxed);
    let _ = HANDLE.set(handle.clone());
    Ok(handle)
}

/// The event labels a stage's series are registered with at zero, so a
/// dashboard sees them before the first event: defined by the code that
/// decides them (the task's dead-letter reasons, the plugin host's trap
/// kinds), handed in so this module depends on neither.
#[derive(Debug, Clone, Copy)]
pub struct EventLabels {
    /// Every dead-letter reason (`reason` of [`RECORDS_DEAD_LETTERED`]).
    pub dead_letter: &'static [&'static str],
    /// Every trap kind (`kind` of [`PLUGIN_TRAPS`]).
    pub traps: &'static [&'static str],
}

/// One processor's counters, summed over all its tasks: what the exit
/// report and `/status` show. Kept with or without a recorder (a run
/// without `--http` still prints its summary); only [`StageMeters`] adds to
/// them, in the same call that adds to the Prometheus series, so every
/// event is counted once, in one place. Restores add through
/// [`restored`](Self::restored), the one event counted outside a stage.
#[derive(Debug, Default)]
pub struct ProcessorTotals {
    records_in: AtomicU64,
    records_out: AtomicU64,
    dropped: AtomicU64,
    dead_lettered: AtomicU64,
    traps: AtomicU64,
    late: AtomicU64,
    /// Plugin calls: batches, aggregations, emits and timers (not the
    /// record-by-record replay after a trap).
    calls: AtomicU64,
    plugin_nanos: AtomicU64,
    parse_nanos: AtomicU64,
    produce_nanos: AtomicU64,
    restored: AtomicU64,
    restore_nanos: AtomicU64,
}

/// Adds `n` to `counter` (counters only order against themselves).
fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads `counter`.
fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Nanoseconds of `d`, saturating (a run does not last 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl ProcessorTotals {
    /// Records in and out, dropped, dead-lettered, traps and late records:
    /// the row `/status` and the exit report show.
    pub fn counts(&self) -> ProcessorCounts {
        ProcessorCounts {
            records_in: get(&self.records_in),
            records_out: get(&self.records_out),
            dropped: get(&self.dropped),
            dead_lettered: get(&self.dead_lettered),
            traps: get(&self.traps),
            late: get(&self.late),
        }
    }

    /// Plugin calls made (records in / calls is the mean batch size).
    pub fn calls(&self) -> u64 {
        get(&self.calls)
    }

    /// Nanoseconds spent inside plugin calls.
    pub fn plugin_nanos(&self) -> u64 {
        get(&self.plugin_nanos)
    }

    /// Nanoseconds the host spent parsing values for `[fields]`.
    pub fn parse_nanos(&self) -> u64 {
        get(&self.parse_nanos)
    }

    /// Nanoseconds spent routing and producing outputs.
    pub fn produce_nanos(&self) -> u64 {
        get(&self.produce_nanos)
    }

    /// Records restored into the processor's task state.
    pub fn restored_records(&self) -> u64 {
        get(&self.restored)
    }

    /// Nanoseconds spent restoring (tasks restore one after another).
    pub fn restore_nanos(&self) -> u64 {
        get(&self.restore_nanos)
    }

    /// One task's state was restored: `records` in `took`. (The state
    /// layer exports the same records per store, as the restore goes.)
    pub fn restored(&self, records: u64, took: Duration) {
        add(&self.restored, records);
        add(&self.restore_nanos, nanos(took));
    }
}

/// The handles one processor of one task records into: registered when
/// the task starts (every series at zero), incremented per batch. Each
/// method counts its event in both places at once: the task's Prometheus
/// series and the processor's [`ProcessorTotals`].
pub struct StageMeters {
    processor: String,
    task: String,
    /// The processor's totals, shared by all its tasks.
    totals: Arc<ProcessorTotals>,
    consumed: Counter,
    dropped: Counter,
    late: Counter,
    latency: Histogram,
    batch: Histogram,
    memory: Gauge,
    produced: Vec<(String, Counter)>,
    dead_lettered: Vec<(&'static str, Counter)>,
}

impl StageMeters {
    /// Registers `processor`'s series for `task`, with its `outputs` and
    /// every event label; events also add to `totals`.
    pub fn new<'a>(
        processor: &str,
        task: &str,
        outputs: impl Iterator<Item = &'a String>,
        events: EventLabels,
        totals: Arc<ProcessorTotals>,
    ) -> Self {
        let labels = [("processor", processor.to_string()), ("task", task.to_string())];
        let with = |key: &'static str, value: &str| {
            let mut l = labels.to_vec();
            l.push((key, value.to_string()));
            l
        };
        for kind in events.traps {
            counter!(PLUGIN_TRAPS, &with("kind", kind)).increment(0);
        }
        StageMeters {
            processor: processor.to_string(),
            task: task.to_string(),
            totals,
            consumed: counter!(RECORDS_CONSUMED, &labels),
            dropped: counter!(RECORDS_DROPPED, &labels),
            late: counter!(RECORDS_LATE, &labels),
            latency: histogram!(PROCESS_LATENCY, &labels),
            batch: histogram!(BATCH_SIZE, &labels),
            memory: gauge!(PLUGIN_MEMORY, &labels),
            produced: outputs
                .map(|o| (o.clone(), counter!(RECORDS_PRODUCED, &with("output", o))))
                .collect(),
            dead_lettered: events
                .dead_letter
                .iter()
                .map(|r| (*r, counter!(RECORDS_DEAD_LETTERED, &with("reason", r))))
                .collect(),
        }
    }

    /// Counts `n` input records processed (a run of stream records, or one
    /// table record).
    pub fn consumed(&self, n: u64) {
        add(&self.totals.records_in, n);
        self.consumed.increment(n);
    }

    /// Counts `n` inputs that produced nothing and no error.
    pub fn dropped(&self, n: u64) {
        add(&self.totals.dropped, n);
        self.dropped.increment(n);
    }

    /// Counts `n` records late for every window they fell in.
    pub fn late(&self, n: u64) {
        add(&self.totals.late, n);
        self.late.increment(n);
    }

    /// Counts `n` records produced to `output`.
    pub fn produced(&self, output: &str, n: u64) {
        add(&self.totals.records_out, n);
        match self.produced.iter().find(|(o, _)| o == output) {
            Some((_, c)) => c.increment(n),
            None => counter!(RECORDS_PRODUCED, "processor" => self.processor.clone(), "task" => self.task.clone(), "output" => output.to_string()).increment(n),
        }
    }

    /// Counts one dead letter of `reason`.
    pub fn dead_lettered(&self, reason: &str) {
        add(&self.totals.dead_lettered, 1);
        match self.dead_lettered.iter().find(|(r, _)| *r == reason) {
            Some((_, c)) => c.increment(1),
            None => counter!(RECORDS_DEAD_LETTERED, "processor" => self.processor.clone(), "task" => self.task.clone(), "reason" => reason.to_string()).increment(1),
        }
    }

    /// Counts one record whose `output` chose `topic`, which the brokers do
    /// not have (it is also counted as a dead letter).
    pub fn topic_missing(&self, output: &str, topic: &str) {
        counter!(TOPIC_MISSING, "processor" => self.processor.clone(), "task" => self.task.clone(), "output" => output.to_string(), "topic" => topic.to_string()).increment(1);
    }

    /// Counts one trap of `kind` (one of [`EventLabels::traps`], decided
    /// by the plugin host where it caught the trap).
    pub fn trap(&self, kind: &'static str) {
        add(&self.totals.traps, 1);
        counter!(PLUGIN_TRAPS, "processor" => self.processor.clone(), "task" => self.task.clone(), "kind" => kind)
            .increment(1);
    }

    /// Counts one plugin call that took `took` that is not over a batch of
    /// input records (an aggregation, an emit, a timer).
    pub fn call(&self, took: Duration) {
        add(&self.totals.calls, 1);
        add(&self.totals.plugin_nanos, nanos(took));
    }

    /// Counts one call over a batch of `records` that took `took`: a
    /// [`call`](Self::call), and with a recorder its latency, its size and
    /// the instance's memory (`memory` is only asked then).
    pub fn batch_call(&self, took: Duration, records: usize, memory: impl FnOnce() -> u64) {
        self.call(took);
        if enabled() {
            self.latency.record(took.as_secs_f64());
            self.batch.record(records as f64);
            self.memory.set(memory() as f64);
        }
    }

    /// Counts `took` spent parsing a call's values for their fields.
    pub fn parsed(&self, took: Duration) {
        add(&self.totals.parse_nanos, nanos(took));
    }

    /// Counts `took` spent routing and producing a call's outputs.
    pub fn routed(&self, took: Duration) {
        add(&self.totals.produce_nanos, nanos(took));
    }
}

impl std::fmt::Debug for StageMeters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageMeters")
            .field("processor", &self.processor)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event counted once shows in both views: the task's Prometheus
    /// series and the processor's totals (what `/status` and the exit
    /// report read), which sum the processor's tasks.
    #[test]
    fn an_event_counted_once_shows_in_prometheus_and_in_the_totals() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let totals = Arc::new(ProcessorTotals::default());
        let outputs = ["out".to_string()];
        let events = EventLabels {
            dead_letter: &["record-error", "output-refused"],
            traps: &["trap", "time-limit"],
        };
        metrics::with_local_recorder(&recorder, || {
            let a = StageMeters::new("p", "p_0", outputs.iter(), events, totals.clone());
            let b = StageMeters::new("p", "p_1", outputs.iter(), events, totals.clone());
            a.consumed(3);
            b.consumed(2);
            a.produced("out", 2);
            a.dropped(1);
            b.late(4);
            b.dead_lettered("output-refused");
            a.trap("time-limit");
            a.call(Duration::from_nanos(5));
            b.batch_call(Duration::from_nanos(7), 2, || 0);
            a.routed(Duration::from_nanos(11));
        });
        totals.restored(9, Duration::from_nanos(13));
        assert_eq!(
            totals.counts(),
            ProcessorCounts {
                records_in: 5,
                records_out: 2,
                dropped: 1,
                dead_lettered: 1,
                traps: 1,
                late: 4,
            }
        );
        assert_eq!(
            [
                totals.calls(),
                totals.plugin_nanos(),
                totals.produce_nanos(),
                totals.restored_records(),
                totals.restore_nanos()
            ],
            [2, 12, 11, 9, 13]
        );
        let text = recorder.handle().render();
        for series in [
            r#"rill_records_consumed_total{processor="p",task="p_0"} 3"#,
            r#"rill_records_consumed_total{processor="p",task="p_1"} 2"#,
            r#"rill_records_produced_total{processor="p",task="p_0",output="out"} 2"#,
            r#"rill_records_produced_total{processor="p",task="p_1",output="out"} 0"#,
            r#"rill_records_dropped_total{processor="p",task="p_0"} 1"#,
            r#"rill_records_late_total{processor="p",task="p_1"} 4"#,
            r#"rill_records_dead_lettered_total{processor="p",task="p_1",reason="output-refused"} 1"#,
            r#"rill_records_dead_lettered_total{processor="p",task="p_1",reason="record-error"} 0"#,
            r#"rill_plugin_traps_total{processor="p",task="p_0",kind="time-limit"} 1"#,
            r#"rill_plugin_traps_total{processor="p",task="p_0",kind="trap"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == series), "{series} missing from\n{text}");
        }
    }

    #[test]
    fn every_catalog_entry_is_documented_with_its_kind_and_labels() {
        let doc = include_str!("../../../docs/observability.md");
        for m in CATALOG {
            let row = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", m.name)))
                .unwrap_or_else(|| panic!("{} is missing from docs/observability.md's metric tables", m.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let kind = match m.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            assert_eq!(cells[2], kind, "{}: its kind in the docs", m.name);
            assert_eq!(cells[3], m.labels.join(", "), "{}: its labels in the docs", m.name);
        }
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for m in CATALOG {
            assert!(seen.insert(m.name), "{} is listed twice", m.name);
            assert!(
                m.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}: snake_case",
                m.name
            );
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters end in _total",
                m.name
            );
            if m.kind == Kind::Histogram {
                assert!(
                    m.name.ends_with("_seconds") || m.name.ends_with("_records"),
                    "{}: a histogram names its unit",
                    m.name
                );
            }
            assert!(
                m.name.starts_with("rill_") || m.name.starts_with("kafka_"),
                "{}",
                m.name
            );
            assert!(m.help.ends_with('.'), "{}: help is a sentence", m.name);
        }
    }
}
