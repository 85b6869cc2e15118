//! What a run did: per-processor counters and where the poll loop's time
//! went, for the exit summary and the benchmark.

use crate::task::spec::ProcessorSpec;
use std::time::Duration;

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
    /// The part of `dispatch_nanos` spent blocked on a full worker queue:
    /// waiting for the workers, not work of the poll loop.
    pub dispatch_wait_nanos: u64,
    /// Nanoseconds committing offsets.
    pub commit_nanos: u64,
}

/// Counters of one processor at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessorSummary {
    /// Manifest name.
    pub name: String,
    /// Records in and out, dropped, dead-lettered, traps, late (what
    /// `/status` shows too).
    pub counts: crate::observe::ProcessorCounts,
    /// Plugin calls made (records_in / calls is the mean batch size).
    pub calls: u64,
    /// Nanoseconds inside plugin calls.
    pub plugin_nanos: u64,
    /// Nanoseconds the host spent parsing values for `[fields]`.
    pub parse_nanos: u64,
    /// Nanoseconds routing and producing.
    pub produce_nanos: u64,
    /// Records restored into task state.
    pub restored: u64,
    /// Nanoseconds spent restoring.
    pub restore_nanos: u64,
}

impl ProcessorSummary {
    pub(crate) fn of(spec: &ProcessorSpec) -> Self {
        let t = &spec.totals;
        ProcessorSummary {
            name: spec.name.to_string(),
            counts: t.counts(),
            calls: t.calls(),
            plugin_nanos: t.plugin_nanos(),
            parse_nanos: t.parse_nanos(),
            produce_nanos: t.produce_nanos(),
            restored: t.restored_records(),
            restore_nanos: t.restore_nanos(),
        }
    }
}
