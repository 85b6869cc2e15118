//! Whose time each clock of a task follows, driven through the real task
//! code with a native stand-in for the plugin (no broker): a windowed
//! store's own stream time (only keyed records routed to it), a stage's
//! stream time for its timers (only records it processed without an
//! error), and `idle-advance` moving each from where it stood.

use super::*;
use crate::kafka::memory_sink::MemorySink;
use crate::manifest::Manifest;
use crate::plugin::{Aggregation, ProcessorFactory, SharedTaskStore, Tick, WindowResult};
use crate::record::OutputRecord;
use crate::state::store::TaskStore;
use crate::state::window::counts;
use crate::task::testing::values;

const MIN: i64 = 60_000;
/// A multiple of 10 minutes: record times are minutes after it.
const T0: i64 = 1_700_000_400_000;
/// Far in the future of every valid record (minutes after T0).
const FAR: i64 = 500;

/// The gate of `plugins/fixture-window-gate`, natively: value `malformed`
/// is rejected, `skip` filtered out, anything else (keyless included) goes
/// to the windowed store `counts`; a count per window; results as
/// `key:start:end:count`; a timer firing emits `tick:<time>`.
#[derive(Clone, Copy)]
struct Gate;

impl RecordProcessor for Gate {
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
        Ok(batch
            .iter()
            .map(|r| match r.value.as_deref() {
                Some(b"malformed") => Err("a malformed order".to_string()),
                Some(b"skip") => Ok(Vec::new()),
                _ => Ok(vec![OutputRecord {
                    output: "counts".into(),
                    key: r.key.clone(),
                    value: r.value.clone(),
                    headers: Vec::new(),
                    timestamp: None,
                }]),
            })
            .collect())
    }

    fn aggregate(&mut self, batch: &[Aggregation]) -> Result<Vec<Result<Vec<Vec<u8>>, String>>, anyhow::Error> {
        Ok(batch
            .iter()
            .map(|a| {
                counts(
                    a.current.as_deref(),
                    a.merged.iter().map(Vec::as_slice),
                    a.records.len(),
                    a.running,
                )
            })
            .collect())
    }

    fn emit(&mut self, results: &[WindowResult]) -> Result<Vec<Result<Vec<OutputRecord>, String>>, anyhow::Error> {
        Ok(results
            .iter()
            .map(|r| {
                let value = r.value.as_ref().map(|v| {
                    let key = String::from_utf8_lossy(&r.key);
                    let count = String::from_utf8_lossy(v);
                    format!(
                        "{key}:{}:{}:{count}",
                        (r.window.start - T0) / MIN,
                        (r.window.end - T0) / MIN
                    )
                    .into_bytes()
                    .into()
                });
                Ok(vec![OutputRecord {
                    output: "count".into(),
                    key: Some(r.key.clone().into()),
                    value,
                    headers: Vec::new(),
                    timestamp: None,
                }])
            })
            .collect())
    }

    fn on_timer(&mut self, tick: &Tick) -> Result<Result<Vec<OutputRecord>, String>, anyhow::Error> {
        Ok(Ok(vec![OutputRecord {
            output: "count".into(),
            key: None,
            value: Some(format!("tick:{}", (tick.time - T0) / MIN).into_bytes().into()),
            headers: Vec::new(),
            timestamp: None,
        }]))
    }
}

impl ProcessorFactory for Gate {
    fn version(&self) -> String {
        "gate".into()
    }
    fn instantiate(&self, _: &str, _: Option<SharedTaskStore>) -> Result<Box<dyn RecordProcessor>, PluginError> {
        Ok(Box::new(*self))
    }
}

/// A gate task over `window` (the `[windows.counts]` body), writing to a
/// fresh sink; `extra` is appended to the manifest.
struct Harness {
    dir: tempfile::TempDir,
    spec: Arc<ProcessorSpec>,
    sink: Arc<MemorySink>,
    task: Option<StreamTask>,
    next_offset: i64,
}

impl Harness {
    fn new(window: &str, extra: &str) -> Self {
        let text = format!(
            "manifest-version = 1\nname = \"gate\"\nversion = \"0.1.0\"\ncomponent = \"gate.wasm\"\n\
             dead-letter = \"dlq\"\n{extra}\n[[inputs]]\ntopic = \"in\"\n[outputs]\ncount = \"out\"\n\
             [windows.counts]\n{window}\noutput = \"count\"\nlate = \"dead-letter\"\n"
        );
        let manifest = Manifest::parse(std::path::Path::new("gate.toml"), &text).unwrap();
        let spec = Arc::new(ProcessorSpec::new(&manifest, Arc::new(Gate), None));
        let mut harness = Harness {
            dir: tempfile::tempdir().unwrap(),
            spec,
            sink: Arc::new(MemorySink::default()),
            task: None,
            next_offset: 0,
        };
        harness.start();
        harness
    }

    /// (Re)starts the task on the same state directory.
    fn start(&mut self) {
        if let Some(task) = self.task.take() {
            task.close().unwrap();
        }
        let store = TaskStore::open(self.dir.path(), &["counts".into()], &[], None).unwrap();
        let id = TaskId {
            processor: "gate".into(),
            partition: 0,
        };
        let task = StreamTask::with_store(
            id,
            self.spec.clone(),
            self.sink.clone(),
            Arc::new(TaskProgress::default()),
            store,
            self.dir.path().to_path_buf(),
        )
        .unwrap();
        self.task = Some(task);
    }

    /// One batch of (key, value, minutes) records.
    fn batch(&mut self, records: &[(Option<&str>, &str, i64)]) {
        let records = records
            .iter()
            .map(|(key, value, minutes)| {
                self.next_offset += 1;
                InputRecord {
                    topic: "in".into(),
                    partition: 0,
                    offset: self.next_offset - 1,
                    timestamp: T0 + minutes * MIN,
                    key: key.map(|k| k.as_bytes().to_vec().into()),
                    value: Some(value.as_bytes().to_vec().into()),
                    headers: Vec::new(),
                }
            })
            .collect();
        self.task.as_mut().unwrap().process_batch(records).unwrap();
    }

    fn each(&mut self, records: &[(Option<&str>, &str, i64)]) {
        for r in records {
            self.batch(std::slice::from_ref(r));
        }
    }

    fn out(&self) -> Vec<String> {
        values(&self.sink, "out")
    }

    /// (source offset, kind) of every dead letter.
    fn dead(&self) -> Vec<(String, String)> {
        self.sink
            .records()
            .iter()
            .filter(|r| r.topic == "dlq")
            .map(|r| {
                let header = |name| crate::task::testing::header(r, name).unwrap();
                (header(headers::SOURCE_OFFSET), header(headers::ERROR_KIND))
            })
            .collect()
    }
}

/// Every valid order on time; between them a far-future order that is
/// rejected, one without a key and one filtered out; then `z` closes.
const INPUT: [(Option<&str>, &str, i64); 8] = [
    (Some("a"), "order", 1),
    (Some("a"), "malformed", FAR),
    (Some("a"), "order", 2),
    (None, "order", FAR),
    (Some("a"), "order", 3),
    (Some("a"), "skip", FAR),
    (Some("a"), "order", 4),
    (Some("z"), "order", 30),
];

const TUMBLING: &str = "kind = \"tumbling\"\nsize = \"10m\"\ngrace = \"1m\"";
const HOPPING: &str = "kind = \"hopping\"\nsize = \"10m\"\nadvance = \"5m\"\ngrace = \"1m\"";
const SESSION: &str = "kind = \"session\"\ngap = \"5m\"\ngrace = \"1m\"";

/// The Kafka Streams results of [`INPUT`] for each window kind (final
/// mode, and the last update of each window in update mode).
fn expected(window: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    match window {
        TUMBLING => (vec!["a:0:10:4"], vec!["a:0:10:4", "z:30:40:1"]),
        HOPPING => (
            vec!["a:-5:5:4", "a:0:10:4"],
            vec!["a:-5:5:4", "a:0:10:4", "z:25:35:1", "z:30:40:1"],
        ),
        _ => (vec!["a:1:4:4"], vec!["a:1:4:4", "z:30:30:1"]),
    }
}

/// The last result per window (key and start) in output order.
fn last_per_window(out: &[String]) -> Vec<String> {
    let mut last: std::collections::BTreeMap<(String, i64), String> = Default::default();
    // Tombstones (a session merged away) come out as empty values.
    for o in out.iter().filter(|o| !o.is_empty()) {
        let f: Vec<&str> = o.split(':').collect();
        last.insert((f[0].to_string(), f[1].parse().unwrap()), o.clone());
    }
    last.into_values().collect()
}

#[test]
fn records_that_never_reach_a_window_leave_its_time_in_every_kind_and_mode() {
    for window in [TUMBLING, HOPPING, SESSION] {
        for emit in ["final", "update"] {
            // In one batch, one record at a time, and across a restart.
            for shape in ["batch", "each", "restart"] {
                let label = format!("{window:?} {emit} {shape}");
                let mut h = Harness::new(&format!("{window}\nemit = \"{emit}\""), "");
                match shape {
                    "batch" => h.batch(&INPUT),
                    "each" => h.each(&INPUT),
                    _ => {
                        h.batch(&INPUT[..6]);
                        h.start();
                        h.batch(&INPUT[6..]);
                    }
                }
                let (finals, updates) = expected(window);
                if emit == "final" {
                    assert_eq!(h.out(), finals, "{label}");
                } else {
                    let mut want: Vec<String> = updates.iter().map(|s| s.to_string()).collect();
                    want.sort();
                    let mut got = last_per_window(&h.out());
                    got.sort();
                    assert_eq!(got, want, "{label}: {:?}", h.out());
                }
                // The malformed and the keyless order, and nothing late.
                let dead = h.dead();
                let kinds: Vec<(&str, &str)> = dead.iter().map(|(o, k)| (o.as_str(), k.as_str())).collect();
                assert_eq!(kinds, [("1", "record-error"), ("3", "record-error")], "{label}");
            }
        }
    }
}

#[test]
fn keyless_drop_ignores_the_record_and_counts_it() {
    let mut h = Harness::new(&format!("{TUMBLING}\nemit = \"final\"\nkeyless = \"drop\""), "");
    h.batch(&INPUT);
    assert_eq!(h.out(), ["a:0:10:4"]);
    assert_eq!(
        h.dead(),
        [("1".to_string(), "record-error".to_string())],
        "only the malformed one"
    );
    assert_eq!(h.spec.totals.counts().dropped, 2, "the keyless and the filtered order");
}

/// Without the poison records, the same input gives the same results:
/// they changed nothing (the check that the test above can fail is that
/// the poison records, judged by the task's time, would close `[0,10)` at
/// once and make orders 2..4 late).
#[test]
fn the_results_are_those_of_the_input_without_the_records_that_never_reached_the_window() {
    for window in [TUMBLING, HOPPING, SESSION] {
        let mut clean = Harness::new(&format!("{window}\nemit = \"update\""), "");
        let valid: Vec<_> = INPUT
            .iter()
            .copied()
            .filter(|(k, v, _)| k.is_some() && *v == "order")
            .collect();
        clean.each(&valid);
        let mut poisoned = Harness::new(&format!("{window}\nemit = \"update\""), "");
        poisoned.each(&INPUT);
        assert_eq!(poisoned.out(), clean.out(), "{window:?}");
    }
}

/// A stage's stream-time timers follow the records it processed without an
/// error: a rejected far-future record fires nothing (the firings are those
/// of the input without it); a filtered one was processed, and fires.
#[test]
fn stream_time_timers_follow_the_records_the_processor_accepted() {
    let timer = "[[timers]]\nname = \"flush\"\nclock = \"stream-time\"\ninterval = \"10m\"\naligned = true";
    let ticks = |h: &Harness| -> Vec<String> { h.out().into_iter().filter(|o| o.starts_with("tick:")).collect() };
    let window = format!("{TUMBLING}\nemit = \"final\"");
    let mut rejected = Harness::new(&window, timer);
    rejected.each(&[
        (Some("a"), "order", 1),
        (Some("a"), "malformed", FAR),
        (Some("a"), "order", 12),
    ]);
    let mut clean = Harness::new(&window, timer);
    clean.each(&[(Some("a"), "order", 1), (Some("a"), "order", 12)]);
    assert_eq!(ticks(&rejected), ticks(&clean), "a rejected record fires no timer");
    assert!(!ticks(&clean).iter().any(|t| t == &format!("tick:{FAR}")));
    let mut filtered = Harness::new(&window, timer);
    filtered.each(&[(Some("a"), "order", 1), (Some("a"), "skip", FAR)]);
    assert!(
        ticks(&filtered).contains(&format!("tick:{FAR}")),
        "the processor saw the filtered record: {:?}",
        filtered.out()
    );
}

/// `idle-advance` moves each clock from where it stood: the window's own
/// time (not the far-future time a filtered record gave the processor).
#[test]
fn idle_advance_moves_the_window_from_its_own_time() {
    let window = format!("{TUMBLING}\nemit = \"final\"");
    let mut h = Harness::new(&window, "idle-advance = \"10ms\"");
    h.batch(&[(Some("a"), "order", 1), (Some("a"), "skip", FAR)]);
    std::thread::sleep(std::time::Duration::from_millis(30));
    h.task.as_mut().unwrap().tick(0).unwrap();
    assert!(
        h.out().is_empty(),
        "30 ms of idleness does not close [0,10): {:?}",
        h.out()
    );
    // More orders still count in the open window.
    h.batch(&[(Some("a"), "order", 2)]);
    h.batch(&[(Some("z"), "order", 30)]);
    assert_eq!(h.out(), ["a:0:10:2"]);
}
