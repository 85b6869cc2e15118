//! Watching a running application from outside: the application state
//! machine, task and restore progress, consumer lag with Burrow's status,
//! Prometheus metrics, and the HTTP server that serves them
//! (`rill run --http`).
//!
//! - [`app_state`]: CREATED → REBALANCING → RUNNING → ... (Kafka Streams'
//!   states), with listeners.
//! - [`lag`]: lag windows and Burrow's rules (also used by `rill lag`).
//! - [`metrics`]: the metric catalog, the recorder and the data plane's
//!   handles.
//! - [`http`]: `/metrics`, `/health`, `/ready`, `/status`, `/lag`,
//!   `/topology`, the status page `/`, and interactive queries
//!   `/stores/...` ([`store_queries`] by key, [`store_scans`] by range,
//!   prefix and window; values read by [`codec`]).
//!
//! The control plane and the data plane report into one process-wide
//! [`Telemetry`] ([`telemetry()`]), as they report into the process-wide
//! metrics recorder: a rill process runs one application, and threading a
//! handle through every task, worker, restore and reload would couple them
//! all to this module for no gain. Reports are cheap (a short lock, at
//! task, commit and restore granularity, never per record).

pub mod app_state;
pub mod auth;
pub mod codec;
pub mod http;
pub mod lag;
pub mod metrics;
pub mod store_queries;
pub mod store_scans;
pub mod tls;

use app_state::{AppState, AppStateCell};
use lag::{LagMonitor, LagStatus, PartitionLag};
use parking_lot::{Mutex, MutexGuard};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A task as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// `<processor>_<partition>`.
    pub id: String,
    /// Its state (Created, Restoring, Running, Suspended).
    pub state: String,
    /// The worker thread running it.
    pub worker: usize,
    /// Input partitions it owns, as `topic-partition`.
    pub partitions: Vec<String>,
    /// Milliseconds since the epoch when it entered its state.
    pub since_ms: i64,
}

/// A restore in progress or finished, as `/status` shows it (Kafka Streams'
/// restore listener: start, batch, end).
#[derive(Debug, Clone, Serialize)]
pub struct RestoreView {
    /// The task restoring.
    pub task: String,
    /// Records to restore when it started.
    pub total: u64,
    /// Records restored so far.
    pub restored: u64,
    /// Records per second so far.
    pub records_per_second: f64,
    /// Whether it finished.
    pub done: bool,
}

/// A standby replica kept warm by this instance, as `/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StandbyView {
    /// The task it replicates.
    pub task: String,
    /// CATCHING_UP or FOLLOWING.
    pub state: String,
    /// Changelog records applied: the sum of its partitions' positions.
    pub position: i64,
    /// Records it lacks behind the changelogs' ends (unknown before the
    /// first fetch).
    pub lag: Option<i64>,
    /// Milliseconds since the epoch when it entered its state.
    pub since_ms: i64,
}

/// Something an operator wants to see on the status page.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// `swap`, `swap-refused`, `dead-letter`, `state`, `worker`.
    pub kind: &'static str,
    /// The processor or task concerned (empty for the application).
    pub subject: String,
    /// One line of detail.
    pub detail: String,
}

/// One second of throughput, for the status page's chart.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// Input records processed in that second.
    pub consumed: u64,
    /// Records produced in that second.
    pub produced: u64,
}

/// Seconds of throughput kept (the chart's width).
const HISTORY: usize = 300;
/// Events kept for the status page.
const EVENTS: usize = 50;

/// What `/status` shows of a processor. The task layer's processor spec
/// implements it, so this module (a leaf every layer reports into) needs
/// nothing of the task layer.
pub trait ProcessorView: Send + Sync {
    /// The manifest name.
    fn name(&self) -> &str;
    /// The running build (`version+hash`).
    fn version(&self) -> String;
    /// Its counters, summed over its tasks.
    fn counts(&self) -> ProcessorCounts;
}

/// A processor's counters as `/status` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProcessorCounts {
    /// Input records processed.
    pub records_in: u64,
    /// Records produced.
    pub records_out: u64,
    /// Inputs that produced nothing.
    pub dropped: u64,
    /// Inputs dead-lettered.
    pub dead_lettered: u64,
    /// Plugin traps.
    pub traps: u64,
    /// Records late for every window.
    pub late: u64,
}

/// A processor's row in `/status`.
#[derive(Serialize)]
struct ProcessorStatus<'a> {
    name: &'a str,
    version: String,
    #[serde(flatten)]
    counts: ProcessorCounts,
}

/// Everything the endpoints show, reported by the running application.
pub struct Telemetry {
    /// The application state.
    pub state: AppStateCell,
    application: Mutex<String>,
    tasks: Mutex<BTreeMap<String, TaskView>>,
    restores: Mutex<BTreeMap<String, (RestoreView, Instant)>>,
    standbys: Mutex<Vec<StandbyView>>,
    lag: Mutex<LagMonitor>,
    events: Mutex<VecDeque<Event>>,
    history: Mutex<(VecDeque<Sample>, u64, u64)>,
    topology: Mutex<serde_json::Value>,
    processors: Mutex<Vec<Arc<dyn ProcessorView>>>,
    state_dir: Mutex<Option<PathBuf>>,
    threads: Mutex<usize>,
}

static TELEMETRY: LazyLock<Telemetry> = LazyLock::new(|| Telemetry {
    state: AppStateCell::default(),
    application: Mutex::new(String::new()),
    tasks: Mutex::new(BTreeMap::new()),
    restores: Mutex::new(BTreeMap::new()),
    standbys: Mutex::new(Vec::new()),
    lag: Mutex::new(LagMonitor::default()),
    events: Mutex::new(VecDeque::new()),
    history: Mutex::new((VecDeque::new(), 0, 0)),
    topology: Mutex::new(serde_json::Value::Null),
    processors: Mutex::new(Vec::new()),
    state_dir: Mutex::new(None),
    threads: Mutex::new(0),
});

/// The process's telemetry.
pub fn telemetry() -> &'static Telemetry {
    &TELEMETRY
}

impl Telemetry {
    /// Names the application and what it runs, at startup.
    pub fn start(
        &self,
        application: &str,
        topology: serde_json::Value,
        processors: Vec<Arc<dyn ProcessorView>>,
        state_dir: PathBuf,
        threads: usize,
        lag_window: usize,
    ) {
        if self.state.begin_run() {
            self.event("state", "", AppState::Created.name().to_string());
        }
        *self.application.lock() = application.to_string();
        *self.topology.lock() = topology;
        *self.processors.lock() = processors;
        *self.state_dir.lock() = Some(state_dir);
        *self.threads.lock() = threads;
        *self.lag.lock() = LagMonitor::new(lag_window);
    }

    /// Sets the application state (see [`app_state`]) and exports it.
    pub fn set_state(&self, next: AppState) {
        if self.state.set(next) {
            self.event("state", "", next.name().to_string());
        }
    }

    /// Records a task's state by name (the task layer's state machine);
    /// `None`: the task closed, and is removed.
    pub fn task(&self, id: &str, state: Option<&str>, worker: usize, partitions: Vec<String>) {
        let mut tasks = self.tasks.lock();
        let Some(state) = state else {
            tasks.remove(id);
            self.restores.lock().remove(id);
            return;
        };
        tasks.insert(
            id.to_string(),
            TaskView {
                id: id.to_string(),
                state: state.to_string(),
                worker,
                partitions,
                since_ms: now_ms(),
            },
        );
    }

    /// The standbys this instance keeps warm now (replaces the last list).
    pub fn standbys(&self, standbys: Vec<StandbyView>) {
        *self.standbys.lock() = standbys;
    }

    /// A restore's progress: `restored` of `total` records so far.
    pub fn restore(&self, task: &str, total: u64, restored: u64, done: bool) {
        let mut restores = self.restores.lock();
        let entry = restores.entry(task.to_string()).or_insert_with(|| {
            (
                RestoreView {
                    task: task.to_string(),
                    total,
                    restored: 0,
                    records_per_second: 0.0,
                    done: false,
                },
                Instant::now(),
            )
        });
        entry.0.total = total;
        entry.0.restored = restored;
        entry.0.done = done;
        entry.0.records_per_second = restored as f64 / entry.1.elapsed().as_secs_f64().max(1e-3);
    }

    /// Notes an event for the status page.
    pub fn event(&self, kind: &'static str, subject: &str, detail: String) {
        let mut events = self.events.lock();
        events.push_back(Event {
            at_ms: now_ms(),
            kind,
            subject: subject.to_string(),
            detail,
        });
        while events.len() > EVENTS {
            events.pop_front();
        }
    }

    /// The lag monitor, for the task manager to feed.
    pub fn lag(&self) -> MutexGuard<'_, LagMonitor> {
        self.lag.lock()
    }

    /// Takes this second's throughput sample (the HTTP server calls it once
    /// a second).
    pub fn sample(&self) {
        let (consumed, produced) = self.processors.lock().iter().fold((0u64, 0u64), |(c, p), spec| {
            let counts = spec.counts();
            (c + counts.records_in, p + counts.records_out)
        });
        let mut history = self.history.lock();
        let (samples, last_consumed, last_produced) = &mut *history;
        samples.push_back(Sample {
            at_ms: now_ms(),
            consumed: consumed.saturating_sub(*last_consumed),
            produced: produced.saturating_sub(*last_produced),
        });
        (*last_consumed, *last_produced) = (consumed, produced);
        while samples.len() > HISTORY {
            samples.pop_front();
        }
    }

    /// Every partition's lag now, and the group's status.
    pub fn lag_report(&self) -> (Vec<PartitionLag>, LagStatus) {
        let partitions = self.lag().snapshot(now_ms());
        let status = lag::group_status(&partitions);
        (partitions, status)
    }

    /// `/status`: Kafka Streams' `localThreadsMetadata` and more.
    pub fn status_json(&self) -> serde_json::Value {
        let (state, age) = self.state.get_with_age();
        let tasks: Vec<TaskView> = self.tasks.lock().values().cloned().collect();
        let threads = *self.threads.lock();
        let workers: Vec<serde_json::Value> = (0..threads)
            .map(|w| {
                let mine: Vec<&str> = tasks.iter().filter(|t| t.worker == w).map(|t| t.id.as_str()).collect();
                serde_json::json!({"name": format!("rill-worker-{w}"), "tasks": mine})
            })
            .collect();
        let processors: Vec<serde_json::Value> = self
            .processors
            .lock()
            .iter()
            .map(|spec| {
                serde_json::json!(ProcessorStatus {
                    name: spec.name(),
                    version: spec.version(),
                    counts: spec.counts(),
                })
            })
            .collect();
        let restores: Vec<RestoreView> = self.restores.lock().values().map(|(r, _)| r.clone()).collect();
        let (lags, group) = self.lag_report();
        serde_json::json!({
            "application_id": &*self.application.lock(),
            "state": state,
            "state_for_seconds": age.as_secs_f64(),
            "threads": workers,
            "tasks": tasks,
            "processors": processors,
            "restores": restores,
            "standbys": &*self.standbys.lock(),
            "lag_status": group,
            "lag_total": lags.iter().filter_map(|l| l.lag).sum::<i64>(),
        })
    }

    /// `/lag`: per partition, with the group's status.
    pub fn lag_json(&self) -> serde_json::Value {
        let (partitions, status) = self.lag_report();
        serde_json::json!({
            "consumergroup": &*self.application.lock(),
            "status": status,
            "partitions": partitions,
        })
    }

    /// `/topology`: what `rill describe --format json` prints.
    pub fn topology_json(&self) -> serde_json::Value {
        self.topology.lock().clone()
    }

    /// What the status page draws besides `/status` and `/lag`.
    pub fn page_json(&self) -> serde_json::Value {
        let history: Vec<Sample> = self.history.lock().0.iter().copied().collect();
        let events: Vec<Event> = self.events.lock().iter().rev().cloned().collect();
        serde_json::json!({"history": history, "events": events})
    }

    /// Sets the gauges that are read at scrape time: application and task
    /// states, lag, restore progress and state on disk.
    pub fn refresh_gauges(&self) {
        use ::metrics::gauge;
        use metrics as m;
        let state = self.state.get();
        for s in AppState::ALL {
            gauge!(m::APPLICATION_STATE, "state" => s.name()).set(f64::from(u8::from(s == state)));
        }
        let mut per_state: BTreeMap<&str, usize> = ["Created", "Restoring", "Running", "Suspended"]
            .into_iter()
            .map(|s| (s, 0))
            .collect();
        for task in self.tasks.lock().values() {
            if let Some(n) = per_state.get_mut(task.state.as_str()) {
                *n += 1;
            }
        }
        for (s, n) in per_state {
            gauge!(m::TASKS, "state" => s).set(n as f64);
        }
        let group = self.application.lock().clone();
        let (lags, status) = self.lag_report();
        for l in &lags {
            let labels = [
                ("consumergroup", group.clone()),
                ("topic", l.topic.clone()),
                ("partition", l.partition.to_string()),
            ];
            if let Some(lag) = l.lag {
                gauge!(m::LAG, &labels).set(lag as f64);
            }
            if let Some(offset) = l.committed_offset {
                gauge!(m::CURRENT_OFFSET, &labels).set(offset as f64);
            }
            if let Some(end) = l.end_offset {
                gauge!(m::PARTITION_OFFSET, "topic" => l.topic.clone(), "partition" => l.partition.to_string())
                    .set(end as f64);
            }
            if let Some(seconds) = l.lag_seconds {
                gauge!(m::LAG_SECONDS, &labels).set(seconds);
            }
            for s in LagStatus::ALL {
                let mut with = labels.to_vec();
                with.push(("status", s.name().to_string()));
                gauge!(m::LAG_STATUS, &with).set(f64::from(u8::from(s == l.status)));
            }
        }
        for s in LagStatus::ALL {
            gauge!(m::GROUP_STATUS, "consumergroup" => group.clone(), "status" => s.name())
                .set(f64::from(u8::from(s == status)));
        }
        if let Some(root) = self.state_dir.lock().clone() {
            for task in self.tasks.lock().keys() {
                gauge!(m::STORE_DISK, "task" => task.clone()).set(dir_size(&root.join(task)) as f64);
            }
        }
    }
}

/// Bytes of the files under `dir` (0 when it does not exist).
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
