//! Plugin manifests (`plugin.toml`): the schema, its version, and validation.
//!
//! Loading happens in two steps, as in Spin: the `manifest-version` key is
//! read first (so a future format gets a clear "unsupported version" rather
//! than a confusing field error), then the whole file is parsed into typed
//! structs that reject unknown keys, then every value is checked. Each error
//! names the file, the field, what is wrong and what to write instead.
//!
//! ```toml
//! manifest-version = 1
//! name = "cpu-alert"
//! version = "0.1.0"
//! component = "cpu-alert.wasm"         # relative to this file
//! dead-letter = "metric.cpu.dlq"
//!
//! [[inputs]]
//! topic = "metric.cpu"                  # kind = "stream" (default)
//!
//! [outputs]
//! alert = "metric.cpu.alert"            # or { topic = "...", partitions = 6 }
//! by-host = { topic-pattern = "alerts\\.[a-z0-9-]+", create = false }  # topic per record
//!
//! [config]
//! threshold = 0.5
//! ```
//!
//! A stateful processor adds `kind = "table"` or `kind = "global-table"` to
//! inputs it only looks values up in, and `stores = ["name", ...]` for
//! key-value stores it writes. Time (docs/time.md) adds `[windows.<name>]`
//! (windowed stores the plugin emits records to), `[[timers]]` and
//! `idle-advance`. `[[grants]]` gives the sandbox directories
//! (docs/manifest.md "Grants").

mod codecs;
mod error;
mod fk_joins;
mod grants;
mod interceptor;
mod joins;
mod pattern;
mod problems;
mod raw;
mod validate;

pub(crate) use error::render;
pub use error::{ManifestError, ManifestErrors};
pub use fk_joins::{ForeignKey, ForeignKeyError, ForeignKeyJoinKind, ForeignKeyJoinSpec, ForeignKeyRole};
pub use grants::{GrantAccess, GrantSpec, lexical};
pub use interceptor::{InterceptEvent, InterceptorManifest};
pub use joins::{JoinKeyless, JoinSpec};
pub use pattern::TopicPattern;
pub use rill_sdk::TOPIC_SEPARATOR;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest format this build of rill reads.
pub const MANIFEST_VERSION: i64 = 1;

/// A validated plugin manifest: one processor, its topics and its config.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file this was loaded from, for messages and for hot reload.
    pub path: PathBuf,
    /// Processor name; prefixes task ids (`<name>_<partition>`).
    pub name: String,
    /// The plugin's own version, reported in logs and dead-letter headers.
    pub version: String,
    /// Optional one-line description for `rill describe`-style listings.
    pub description: Option<String>,
    /// The component file, resolved against the manifest's directory.
    pub component: PathBuf,
    /// Input topics; at least one is a stream.
    pub inputs: Vec<Input>,
    /// Output name (as used by the plugin) to topic.
    pub outputs: BTreeMap<String, TopicSpec>,
    /// Outputs whose topic the plugin chooses per record
    /// (`{ topic-pattern = "..." }`), by name; never in `outputs`.
    pub routed: BTreeMap<String, RoutedSpec>,
    /// Where records that fail go, with headers saying why.
    pub dead_letter: TopicSpec,
    /// Sandbox limits and what to do when the plugin traps.
    pub limits: Limits,
    /// Key-value stores the plugin may use, each backed by RocksDB and the
    /// changelog topic `<application-id>-<store>-changelog`.
    pub stores: Vec<String>,
    /// Windowed stores (`[windows.<name>]`), by name: outputs of that name
    /// are aggregated into windows instead of written to a topic.
    pub windows: Vec<WindowSpec>,
    /// `[store-codecs]`: how a store's values read in query answers, by
    /// store (key-value or windowed); a store not named reads as base64.
    pub store_codecs: BTreeMap<String, crate::observe::codec::Codec>,
    /// Stream-stream windowed joins (`[joins.<name>]`), in name order: the
    /// records of their two topics go to the join, whose results go to the
    /// plugin's `join` export.
    pub joins: Vec<JoinSpec>,
    /// Foreign-key table-table joins (`[joins.<name>]` with `foreign-key`),
    /// in name order: the host keeps their results right through internal
    /// topics, the plugin's `join` export makes each result's records.
    pub fk_joins: Vec<ForeignKeyJoinSpec>,
    /// Timers the host schedules for every task (`[[timers]]`).
    pub timers: Vec<TimerSpec>,
    /// Interceptor manifests for this processor (`[[interceptors]]`),
    /// resolved against this file's directory, in declaration order (after
    /// an application file's own, see docs/interceptors.md).
    pub interceptors: Vec<PathBuf>,
    /// After this long with nothing to process, a task's stream time follows
    /// the wall clock (so quiet streams still close windows and fire
    /// stream-time timers).
    pub idle_advance: Option<std::time::Duration>,
    /// The `[config]` table as a JSON object, handed to the plugin's `init`.
    pub config: serde_json::Value,
    /// `[fields]`, in declaration order: paths into each input value the
    /// host reads for the plugin (WIT 0.3.0 `process-fields`). Empty: the
    /// plugin gets whole values through `process`.
    pub fields: Vec<FieldSpec>,
    /// Whether `process-fields` copies each value's bytes into the instance
    /// too (`input-value = "bytes"`); without it only the fields go in.
    pub input_value: InputValue,
    /// `[[grants]]`: the only directories the plugin's sandbox reaches
    /// (none when empty), each with its access and size bound.
    pub grants: Vec<GrantSpec>,
}

/// One `[fields]` entry: a name the plugin reads the field by, the path
/// into the value, and whether it comes as raw JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    /// The key in `[fields]`.
    pub name: String,
    /// Where the field is in the value.
    pub path: crate::fields::FieldPath,
    /// `as = "raw"`: always the value's JSON text, never a typed scalar.
    pub raw: bool,
}

/// Whether `process-fields` copies a record's value into the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputValue {
    /// Only the declared fields go in (the default): the value stays in the
    /// host, and an output can still forward it.
    #[default]
    Omitted,
    /// The bytes go in as well (`input-value = "bytes"`).
    Bytes,
}

/// How a windowed store cuts time (the manifest's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowShape {
    /// `size`.
    Tumbling,
    /// `size` and `advance`.
    Hopping,
    /// `gap`.
    Session,
    /// `time-difference` (KIP-450 sliding windows).
    Sliding,
}

/// When a windowed store emits (the manifest's `emit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Emit {
    /// Every update of a window.
    Update,
    /// Once per window, when it closes.
    Final,
}

/// What happens to a record whose windows have all closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Late {
    /// Dropped and counted (Kafka Streams' behaviour).
    #[default]
    Drop,
    /// Sent to the dead-letter topic with kind `late`.
    DeadLetter,
}

/// What happens to a record without a key emitted to a windowed store:
/// either way it moves no window's stream time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keyless {
    /// Sent to the dead-letter topic with kind `record-error` (a window
    /// counts per key, so a keyless record is usually a producer's bug).
    #[default]
    DeadLetter,
    /// Ignored and counted in `rill_records_dropped_total` (Kafka Streams'
    /// behaviour: "records with null key are ignored").
    Drop,
}

/// The clock a manifest timer follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimerClock {
    /// The processor's stream time (see docs/time.md).
    StreamTime,
    /// The wall clock.
    WallClock,
}

/// A windowed store: `[windows.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// The store's name; the plugin emits records to the output of this
    /// name, and it names the changelog `<application-id>-<name>-changelog`.
    pub name: String,
    /// Window shape and sizes, in milliseconds.
    pub kind: rill_sdk::time::WindowKind,
    /// How long after a window ends records are still accepted (ms).
    pub grace: i64,
    /// How long a window is kept (ms, Kafka Streams' retention: from the
    /// window's start for time and sliding windows, from its end for
    /// sessions; at least size + grace, gap + grace, or 2 * time-difference
    /// + grace).
    pub retention: i64,
    /// Every update or final results only.
    pub emit: Emit,
    /// The declared output window results go to.
    pub output: String,
    /// What a late record becomes.
    pub late: Late,
    /// What a record without a key becomes.
    pub keyless: Keyless,
    /// Who folds records into the windows' aggregates.
    pub aggregate: WindowAggregate,
}

/// Who folds a windowed store's records (the manifest's `aggregate`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WindowAggregate {
    /// The plugin's `aggregate` (and `merge`, for sessions) exports.
    #[default]
    Plugin,
    /// The host counts records per window (`aggregate = "count"`, Kafka
    /// Streams' `count()`), without calling the plugin: the aggregate is
    /// the count as JSON text (`"3"`), as the SDKs' `count_one` writes it,
    /// and sessions' counts add up when they merge.
    Count,
}

impl WindowSpec {
    /// How long past its close a window is kept (0: dropped when it
    /// closes, after its final result is emitted).
    pub fn kept_after_close(&self) -> i64 {
        self.kind.kept_after_close(self.retention, self.grace)
    }
}

/// A manifest timer: `[[timers]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerSpec {
    /// The name the plugin's `on-timer` sees.
    pub name: String,
    /// Stream time or wall clock.
    pub clock: TimerClock,
    /// Milliseconds between firings.
    pub interval: i64,
    /// Fire at multiples of the interval since the epoch.
    pub aligned: bool,
}

/// One input topic and how the processor reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Kafka topic name.
    pub topic: String,
    /// Stream, table or global table.
    pub kind: InputKind,
}

/// How an input topic is read (Kafka Streams' KStream / KTable / GlobalKTable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// Every record is processed.
    Stream,
    /// Materialized: latest value per key, co-partitioned with the streams.
    Table,
    /// Materialized from every partition on every instance.
    GlobalTable,
}

/// What one plugin instance may use, and what happens when it traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap per instance, in bytes (`memory = "64MiB"`).
    pub memory: usize,
    /// CPU time one plugin call (one batch) may take (`time-per-batch = "1s"`).
    pub time_per_batch: std::time::Duration,
    /// What a trap does to the task.
    pub on_trap: OnTrap,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 64 << 20,
            time_per_batch: std::time::Duration::from_secs(1),
            on_trap: OnTrap::Continue,
        }
    }
}

/// What a trap (panic, `unreachable`, out of memory, out of time) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnTrap {
    /// Start a fresh instance, replay the batch record by record, send the
    /// record that traps to the dead-letter topic, and go on.
    Continue,
    /// Stop processing the task (its offsets stay uncommitted) and keep the
    /// other tasks running; a restart resumes it from the last commit.
    PauseTask,
    /// Stop the application with an error, committing nothing past the batch.
    Fail,
}

/// An output whose topic is chosen per record (`[outputs] name = {
/// topic-pattern = "...", create = false }`): the plugin emits to
/// `<name>:<topic>` ([`TOPIC_SEPARATOR`]), and the topic must fully match
/// the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedSpec {
    /// The topics the output may write to.
    pub pattern: TopicPattern,
    /// Whether the host creates a matching topic the brokers do not have
    /// (else the record is dead-lettered as `topic-missing`).
    pub create: bool,
    /// Partitions to create a topic with (`create = true` only); `None`:
    /// as many as the processor's input.
    pub partitions: Option<i32>,
}

/// A topic the host writes to, with the partition count to create it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Kafka topic name.
    pub topic: String,
    /// Partitions to create the topic with if it is missing; `None` means
    /// "as many as the processor's input".
    pub partitions: Option<i32>,
}

impl Manifest {
    /// Reads and validates the manifest at `path`, naming every problem.
    pub fn load(path: &Path) -> Result<Manifest, ManifestErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(path, &text)
    }

    /// Validates manifest `text`; `path` names it in messages and anchors the
    /// relative component path. A file that does not parse is one problem;
    /// one that parses is checked in full.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestErrors> {
        let raw = raw::parse(path, text)?;
        validate::validate(path, raw)
    }

    /// The topics this processor reads as streams.
    pub fn stream_topics(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .filter(|i| i.kind == InputKind::Stream)
            .map(|i| i.topic.as_str())
    }

    /// The topics this processor reads as co-partitioned tables.
    pub fn table_topics(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .filter(|i| i.kind == InputKind::Table)
            .map(|i| i.topic.as_str())
    }

    /// The topics this processor reads as global tables.
    pub fn global_topics(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .filter(|i| i.kind == InputKind::GlobalTable)
            .map(|i| i.topic.as_str())
    }

    /// Stream and table topics: what the consumer group assigns by partition.
    pub fn partitioned_topics(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .filter(|i| i.kind != InputKind::GlobalTable)
            .map(|i| i.topic.as_str())
    }

    /// The changelog topic of `store` in application `application_id`.
    pub fn changelog_topic(application_id: &str, store: &str) -> String {
        format!("{application_id}-{store}-changelog")
    }

    /// The windowed store `name`, if declared.
    pub fn window(&self, name: &str) -> Option<&WindowSpec> {
        self.windows.iter().find(|w| w.name == name)
    }

    /// Every store with a changelog: key-value stores, windowed ones, then
    /// joins' buffers.
    pub fn all_stores(&self) -> impl Iterator<Item = &str> {
        self.stores
            .iter()
            .map(String::as_str)
            .chain(self.windows.iter().map(|w| w.name.as_str()))
            .chain(self.joins.iter().flat_map(|j| j.stores.iter().map(String::as_str)))
            .chain(self.fk_joins.iter().map(|j| j.store.as_str()))
    }

    /// The foreign-key join `topic` belongs to in application
    /// `application_id`, and what it is to it.
    pub fn fk_join_of(&self, topic: &str, application_id: &str) -> Option<(&ForeignKeyJoinSpec, ForeignKeyRole)> {
        self.fk_joins
            .iter()
            .find_map(|j| j.role_of(topic, application_id).map(|role| (j, role)))
    }

    /// Whether the plugin must export `join` (rill:processor@0.4.0).
    pub fn uses_joins(&self) -> bool {
        !self.joins.is_empty() || !self.fk_joins.is_empty()
    }

    /// The join `topic` feeds, and its side, if any.
    pub fn join_of(&self, topic: &str) -> Option<(&JoinSpec, rill_sdk::time::join::Side)> {
        self.joins.iter().find_map(|j| j.side_of(topic).map(|side| (j, side)))
    }

    /// Whether the plugin must be built against rill:processor@0.2.0.
    pub fn uses_time(&self) -> bool {
        !self.windows.is_empty() || !self.timers.is_empty()
    }

    /// The topic an output name maps to, if it is declared with a topic.
    pub fn output_topic(&self, output: &str) -> Option<&str> {
        self.outputs.get(output).map(|spec| spec.topic.as_str())
    }

    /// Every declared output's name: fixed-topic ones, then those whose
    /// topic is chosen per record.
    pub fn output_names(&self) -> impl Iterator<Item = &String> {
        self.outputs.keys().chain(self.routed.keys())
    }
}

/// Checks a topic name by Kafka's rule (letters, digits, '.', '_', '-', at
/// most 249); `Err((problem, fix))`. A topic chosen per record is checked
/// with it before anything is produced.
pub fn check_topic_name(topic: &str) -> Result<(), (String, String)> {
    validate::check_topic(topic)
}

/// Checks a processor name by the manifest's rule; `Err((problem, fix))`,
/// where a proposed name passes this same check.
pub fn check_processor_name(name: &str) -> Result<(), (String, String)> {
    validate::check_name(name)
}

#[cfg(test)]
mod tests;
