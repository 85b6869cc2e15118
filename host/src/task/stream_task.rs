//! The data plane of one task: run a batch through the sub-topology's
//! processors, route each result to its output topics, to the processors
//! it feeds in memory, or to the dead-letter topic, and record the batch in
//! the task's progress for committing.
//!
//! One `StreamTask`, one job per file: the chain (a batch through every
//! stage, table updates, changelog writes) here; routing results and dead
//! letters in [`route`]; what a trap does in [`traps`]; one processor's
//! instance, build and state in [`stage`]; windows, timers and
//! idle-advance in [`windowing`].

use super::TaskId;
use super::clock::{Clock, SystemClock};
use super::dead_letter::{DeadLetters, RefusedOutputs, StageRun, kind, refused_message};
use super::progress::{Positions, TaskFailure, TaskProgress};
use super::spec::{ProcessorSpec, TaskSpec};
use crate::kafka::producer::{BatchAck, OutgoingRecord, RecordSink, refuses_record};
use crate::manifest::OnTrap;
use crate::plugin::{PluginError, RecordProcessor};
use crate::record::{InputRecord, RecordResult};
use crate::state::manager::StateManager;
use crate::state::store::TaskStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::dead_letter::headers;
pub use super::error::TaskError;

mod fields;
mod fk_joining;
mod intercepted;
mod joining;
mod route;
mod stage;
mod traps;
mod windowing;
use stage::Stage;
use windowing::Run;

#[cfg(test)]
mod time_tests;

/// One running task: every processor of its sub-topology over one
/// partition number of the sub-topology's sources.
///
/// A batch of source records runs through the chain in order: the stage a
/// source feeds is called with the whole run of its records, its outputs
/// are written to their topics and collected for the stages they feed in
/// memory, which are then called with those, and so on down the chain. All
/// of it (outputs, dead letters and changelog records of every stage)
/// counts against the batch's one ack, so the source offsets commit only
/// after the whole chain's outputs are acknowledged.
pub struct StreamTask {
    id: TaskId,
    spec: Arc<TaskSpec>,
    stages: Vec<Stage>,
    producer: Arc<dyn RecordSink>,
    progress: Arc<TaskProgress>,
    /// Set after a trap under `on-trap = "pause-task"`: nothing more is
    /// processed or committed for this task.
    paused: bool,
    /// Tells a long replay to give up when the process is shutting down.
    shutdown: Arc<super::shutdown::Shutdown>,
    /// Set when a replay gave up for shutdown: the batch is not recorded.
    abandoned: bool,
    /// The sub-topology's sources as batches meet them.
    sources: Vec<Source>,
    /// When the task last processed a batch (the clock's monotonic ms):
    /// where `idle-advance` counts from.
    idle_since: i64,
    /// Wall-clock and idle time (the system's, or `rill test`'s).
    clock: Arc<dyn Clock>,
    /// The stages' `[fields]` as one plan, and the batch's parses.
    fields: fields::TaskFields,
    /// The interceptors of the task's stages; `None` without any.
    chain: Option<crate::intercept::Chain>,
    /// Per stage: whether its sends wait for the chain's `on-send`.
    intercepts_sends: Vec<bool>,
    /// Sends held for `on-send` until the batch (or tick) is sealed.
    outbox: std::cell::RefCell<Vec<crate::intercept::Sending>>,
}

/// A stage's clocks: its own stream time, each windowed store's (in the
/// order of its `[windows]`) and each join's (of its `[joins]`),
/// `i64::MIN` for one that saw no record.
#[derive(Debug, Clone)]
struct Clocks {
    stream_time: i64,
    windows: Vec<i64>,
    joins: Vec<i64>,
}

/// A source topic of the task: the shared name its records are tagged with
/// (for dead-letter headers and commit positions), the stage it enters,
/// what its records are to that stage, and the topic name the stage sees.
struct Source {
    name: Arc<str>,
    stage: usize,
    feeds: Feeds,
    alias: Option<Arc<str>>,
}

/// What a source's records are to the stage they enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feeds {
    /// Records for `process`, in runs.
    Stream,
    /// Table updates, applied to the stage's table store in place.
    Table,
    /// One side of a `[joins.<name>]`: the join's records, in runs.
    Join,
    /// A table or internal topic of a foreign-key join: its records, in
    /// runs.
    ForeignKey,
}

/// Records one stage feeds to the stages downstream, by stage: the
/// records and their source topics.
type Forwards = std::collections::BTreeMap<usize, (Vec<InputRecord>, Vec<Arc<str>>)>;

/// What routing a stage's results leaves to do after the call: records for
/// the stages downstream, and records for the stage's windowed stores.
#[derive(Default)]
struct Pending {
    forwards: Forwards,
    /// (window index in the stage, the record as routed).
    windowed: Vec<(usize, crate::state::window::Routed)>,
}

/// A batch in flight through the chain: its ack and the refusals
/// registry every stage's runs are added to.
struct InFlight {
    ack: Arc<BatchAck>,
    refusals: Arc<RefusedOutputs>,
}

impl StreamTask {
    /// Starts a plugin instance per stage of `id`'s sub-topology. `states`
    /// holds each stage's state, already opened and restored by the state
    /// updater (`None` for a stateless stage; empty when all are).
    pub fn start(
        id: TaskId,
        spec: Arc<TaskSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
        states: Vec<Option<StateManager>>,
        shutdown: Arc<super::shutdown::Shutdown>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PluginError> {
        let mut states = states.into_iter();
        let stages = spec
            .processors()
            .map(|processor| {
                let tag = TaskId {
                    processor: processor.name.clone(),
                    partition: id.partition,
                }
                .to_string();
                Stage::start(processor.clone(), tag, id.to_string(), states.next().flatten())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut stages = stages;
        let (fields, views) = fields::TaskFields::new(&stages);
        for (stage, view) in stages.iter_mut().zip(views) {
            stage.fields = view;
        }
        let sources: Vec<Source> = spec
            .sources
            .iter()
            .map(|s| Source {
                name: s.topic.as_str().into(),
                stage: s.stage,
                feeds: if spec.stages[s.stage]
                    .processor
                    .state
                    .as_ref()
                    .and_then(|state| {
                        let manifest = spec.stages[s.stage].processor.manifest();
                        manifest
                            .fk_join_of(s.alias.as_deref().unwrap_or(&s.topic), &state.application_id)
                            .map(|_| ())
                    })
                    .is_some()
                {
                    Feeds::ForeignKey
                } else if s.table {
                    Feeds::Table
                } else if spec.stages[s.stage]
                    .processor
                    .manifest()
                    .join_of(s.alias.as_deref().unwrap_or(&s.topic))
                    .is_some()
                {
                    Feeds::Join
                } else {
                    Feeds::Stream
                },
                alias: s.alias.clone(),
            })
            .collect();
        let covered: Vec<Vec<_>> = spec.processors().map(|p| p.interceptors.clone()).collect();
        let chain = crate::intercept::Chain::new(
            &id.to_string(),
            id.partition,
            &covered,
            sources.iter().map(|s| (s.name.clone(), s.stage)).collect(),
        );
        let intercepts_sends = (0..stages.len())
            .map(|s| chain.as_ref().is_some_and(|c| c.intercepts_sends(s)))
            .collect();
        Ok(StreamTask {
            chain,
            intercepts_sends,
            outbox: Default::default(),
            id,
            spec,
            stages,
            producer,
            progress,
            paused: false,
            shutdown,
            abandoned: false,
            sources,
            idle_since: clock.monotonic_ms(),
            clock,
            fields,
        })
    }

    /// A one-processor task over an already open store, without restoring:
    /// for driving a task directly (tests, tools). Table positions start at 0.
    pub fn with_store(
        id: TaskId,
        spec: Arc<ProcessorSpec>,
        producer: Arc<dyn RecordSink>,
        progress: Arc<TaskProgress>,
        store: TaskStore,
        dir: PathBuf,
    ) -> Result<Self, PluginError> {
        let state = StateManager::from_store(store, dir, id.partition, &spec.changelogs, &spec.table_topics);
        let spec = Arc::new(TaskSpec::single(spec));
        Self::start(
            id,
            spec,
            producer,
            progress,
            vec![Some(state)],
            Arc::default(),
            Arc::new(SystemClock),
        )
    }

    /// Writes each stage's checkpoint after the task's outputs and
    /// changelog records are acknowledged, so a clean restart restores
    /// nothing.
    pub fn close(mut self) -> Result<(), TaskError> {
        if self.chain.is_some() {
            // The interceptors see the last acknowledgements and commits.
            if let Err(e) = self.producer.flush(Duration::from_secs(60)) {
                tracing::warn!(task = %self.id, "flushing before closing the interceptors: {e}");
            }
            self.intercept_turn();
        }
        if self.stages.iter().all(|s| s.state.is_none()) {
            return Ok(());
        }
        if let Err(e) = self.producer.flush(Duration::from_secs(60)) {
            tracing::warn!(task = %self.id, "flushing before checkpoint: {e}");
            return Ok(());
        }
        for state in self.stages.iter().filter_map(|s| s.state.as_ref()) {
            state.checkpoint().map_err(|source| TaskError::State {
                task: self.id.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Exactly-once: the transaction carrying this task's changelog records
    /// committed, so each stage's held writes go to RocksDB and its
    /// checkpoint moves to the committed changelog ends. Returns how many
    /// writes were applied.
    pub fn commit_held(&mut self) -> Result<usize, TaskError> {
        let mut written = 0;
        for state in self.stages.iter().filter_map(|s| s.state.as_ref()) {
            written += state.commit_held().map_err(|source| TaskError::State {
                task: self.id.clone(),
                source,
            })?;
        }
        Ok(written)
    }

    /// Stops the task after `error`: nothing more is processed or
    /// committed until a restart (nothing is lost: the restart reprocesses
    /// from the last commit).
    pub fn halt(&mut self, error: TaskError) {
        self.paused = true;
        self.progress.fail(TaskFailure::Halted(Arc::new(error)));
    }

    /// Where the task records what it processed.
    pub fn progress(&self) -> &TaskProgress {
        &self.progress
    }

    /// Processes `records` (in timestamp order across the task's sources,
    /// offset order within each) through the chain and queues their
    /// outputs. Table records update their stage's table store in place;
    /// runs of stream records for one stage go to its plugin in one call.
    pub fn process_batch(&mut self, mut records: Vec<InputRecord>) -> Result<(), TaskError> {
        if records.is_empty() || self.paused {
            return Ok(());
        }
        let mut switched = false;
        for stage in &mut self.stages {
            if stage.generation != stage.spec.generation() {
                stage.switch_version();
                switched = true;
            }
        }
        if switched {
            // A new build may declare other fields.
            let (fields, views) = fields::TaskFields::new(&self.stages);
            self.fields = fields;
            for (stage, view) in self.stages.iter_mut().zip(views) {
                stage.fields = view;
            }
        }
        self.fields.clear();
        self.intercept_turn();
        let dropped = self.intercept_consume(&mut records);
        // Where each record enters the chain, worked out on the topic it
        // was read from (before a repartition topic takes its alias). A
        // partition's records come in runs, so the previous record's source
        // is tried first.
        let mut ends: Vec<Option<i64>> = vec![None; self.sources.len()];
        let mut sources: Vec<Arc<str>> = Vec::with_capacity(records.len());
        let mut entries: Vec<(usize, Feeds)> = Vec::with_capacity(records.len());
        let mut last = 0;
        for record in &mut records {
            if self.sources.get(last).is_none_or(|s| *s.name != *record.topic) {
                last = self
                    .sources
                    .iter()
                    .position(|s| *s.name == *record.topic)
                    .unwrap_or_else(|| {
                        // Not a source of this task (never assigned one):
                        // treat it as a stream into the first stage.
                        self.sources.push(Source {
                            name: record.topic.clone(),
                            stage: 0,
                            feeds: Feeds::Stream,
                            alias: None,
                        });
                        ends.push(None);
                        self.sources.len() - 1
                    });
            }
            let source = &self.sources[last];
            ends[last] = Some(ends[last].map_or(record.offset + 1, |end| end.max(record.offset + 1)));
            entries.push((source.stage, source.feeds));
            sources.push(source.name.clone());
            if let Some(alias) = &source.alias {
                record.topic = alias.clone();
            }
        }
        let positions: Positions = self
            .sources
            .iter()
            .zip(ends)
            .filter_map(|(source, end)| Some((source.name.clone(), end?)))
            .collect();
        if let Some(dropped) = dropped {
            // Consumed (their offsets count above), never processed.
            let mut keep = dropped.iter().map(|d| !d);
            records.retain(|_| keep.next().unwrap_or(true));
            let mut keep = dropped.iter().map(|d| !d);
            entries.retain(|_| keep.next().unwrap_or(true));
            let mut keep = dropped.iter().map(|d| !d);
            sources.retain(|_| keep.next().unwrap_or(true));
        }
        // The batch's inputs (and every stage's) stay alive until its
        // outputs are acknowledged, so an output the brokers refuse later
        // can dead-letter its input.
        let records = Arc::new(records);
        let sources = Arc::new(sources);
        let refusals = Arc::new(RefusedOutputs::new(Arc::downgrade(&self.producer)));
        let batch = InFlight {
            ack: BatchAck::with_refusals(refusals.clone()),
            refusals,
        };

        let mut at = 0;
        while at < records.len() {
            let (stage, feeds) = entries[at];
            if feeds == Feeds::Table {
                self.apply_table(stage, &records[at])?;
                at += 1;
                continue;
            }
            let mut run = entries[at..].iter().take_while(|e| **e == (stage, feeds)).count();
            // A stream-time timer fires right after the record that makes
            // it due (as Kafka Streams punctuates), so a run ends there.
            let due = self.stages.iter().filter_map(|s| s.timers.next_stream_due()).min();
            if let Some(due) = due {
                let mut time = self.stages[stage].stream_time;
                if let Some(n) = records[at..at + run].iter().position(|r| {
                    time = time.max(r.timestamp);
                    time >= due
                }) {
                    run = n + 1;
                }
            }
            if feeds == Feeds::Join {
                self.run_join(stage, &records, at..at + run, &sources, &batch)?;
            } else if feeds == Feeds::ForeignKey {
                self.run_fk(stage, &records, at..at + run, &sources, &batch)?;
            } else {
                self.run_stage(stage, &records, at..at + run, &sources, &batch)?;
            }
            if std::mem::take(&mut self.abandoned) || self.paused {
                // Nothing of this batch counts as processed; its offsets
                // are never committed.
                self.flush_outbox(&batch)?;
                batch.ack.seal();
                return Ok(());
            }
            if due.is_some() {
                self.fire_timers(crate::plugin::Clock::StreamTime, i64::MIN, &batch)?;
            }
            at += run;
        }
        self.idle_since = self.clock.monotonic_ms();
        for stage in &mut self.stages {
            stage.idle_base = None;
        }
        self.flush_outbox(&batch)?;
        batch.ack.seal();
        self.progress.push(positions, batch.ack);
        Ok(())
    }

    /// A table record: the latest value per key; a null value deletes it.
    fn apply_table(&mut self, stage: usize, record: &InputRecord) -> Result<(), TaskError> {
        self.stages[stage].meters.consumed(1);
        let Some(state) = &mut self.stages[stage].state else {
            return Ok(());
        };
        state.apply_table(record).map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })
    }

    /// Runs stage `s` over `records[run]` (stream records only), routes the
    /// results, then runs the stages its outputs feed in memory over what
    /// it fed them. `sources[i]` is the source topic of `records[i]`.
    fn run_stage(
        &mut self,
        s: usize,
        records: &Arc<Vec<InputRecord>>,
        run: std::ops::Range<usize>,
        sources: &Arc<Vec<Arc<str>>>,
        batch: &InFlight,
    ) -> Result<(), TaskError> {
        let spec = self.stages[s].spec.clone();
        let base = self.register_run(s, records, &run, sources, batch);
        let mut pending = Pending::default();
        let (outcome, took) = self.call_process(s, records, run.clone());
        let stage = &self.stages[s];
        let memory = || stage.processor.memory_bytes();
        stage.meters.batch_call(took, run.len(), memory);
        let routed = Instant::now();
        match outcome {
            Ok(results) => {
                self.persist_writes(s, &batch.ack)?;
                for (index, result) in run.clone().zip(results) {
                    if result.is_ok() {
                        self.stages[s].saw(records[index].timestamp);
                    }
                    let input = base + (index - run.start) as u32;
                    self.route(s, records, index, &sources[index], input, result, batch, &mut pending)?;
                }
            }
            Err(trap) => {
                self.trapped(s, &trap)?;
                match spec.manifest().limits.on_trap {
                    OnTrap::Continue => {
                        self.replay_after_trap(s, records, run.clone(), sources, base, trap, batch, &mut pending)?
                    }
                    OnTrap::Fail => {
                        return Err(TaskError::Trapped {
                            task: self.id.clone(),
                            message: format!("{} ({}): {trap:#}", spec.name, self.stages[s].version),
                        });
                    }
                    OnTrap::PauseTask => {
                        tracing::error!(task = %self.id, processor = %spec.name, "plugin trapped; pausing the task (limits.on-trap = \"pause-task\"), its offsets stay uncommitted: {trap:#}");
                        self.paused = true;
                        self.progress.pause();
                    }
                }
            }
        }
        self.stages[s].meters.routed(routed.elapsed());
        if self.paused || self.abandoned {
            return Ok(());
        }
        self.stages[s].meters.consumed(run.len() as u64);
        self.timer_requests(s);
        if !self.stages[s].windows.is_empty() {
            let run_ctx = Run {
                records,
                sources,
                run: run.clone(),
                base,
            };
            self.window_stage(
                s,
                &run_ctx,
                std::mem::take(&mut pending.windowed),
                None,
                batch,
                &mut pending.forwards,
            )?;
            if self.paused || self.abandoned {
                return Ok(());
            }
        }
        for (stage, (fed, fed_sources)) in pending.forwards {
            if fed.is_empty() {
                continue;
            }
            let len = fed.len();
            self.run_stage(stage, &Arc::new(fed), 0..len, &Arc::new(fed_sources), batch)?;
            if self.paused || self.abandoned {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Registers stage `s`'s run of `records[run]` with the batch's
    /// refusals (an output the brokers refuse later dead-letters its input);
    /// returns the refusal number of `records[run.start]`.
    fn register_run(
        &self,
        s: usize,
        records: &Arc<Vec<InputRecord>>,
        run: &std::ops::Range<usize>,
        sources: &Arc<Vec<Arc<str>>>,
        batch: &InFlight,
    ) -> u32 {
        batch.refusals.register(StageRun {
            letters: self.stages[s].letters.clone(),
            meters: self.stages[s].meters.clone(),
            records: records.clone(),
            start: run.start,
            len: run.len(),
            sources: sources.clone(),
        })
    }

    /// Makes stage `s`'s writes of its last call durable: one RocksDB
    /// write batch, and one changelog record per write on the task's
    /// changelog partition, counted in the batch's ack (their delivery
    /// reports move the changelog's checkpoint position).
    fn persist_writes(&mut self, s: usize, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let Some(state) = &mut self.stages[s].state else {
            return Ok(());
        };
        let records = state.take_writes().map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })?;
        let state = self.stages[s].state.as_ref().expect("checked above");
        for record in &records {
            self.send(
                OutgoingRecord {
                    topic: &record.topic,
                    partition: Some(self.id.partition),
                    key: Some(&record.key),
                    value: record.value.as_deref(),
                    headers: Vec::new(),
                    timestamp: 0,
                    input: None,
                    offsets: Some(state.changelog_end(&record.topic)),
                    listener: None,
                },
                ack,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::memory_sink::MemorySink;
    use crate::manifest::Manifest;
    use crate::task::testing::{ECHO, Trapping, chain as chain_spec, chain_with, header, records, values};

    /// A task of [`chain_spec`] on partition 3 writing to `sink`.
    fn chain(sink: Arc<MemorySink>, write: bool) -> (StreamTask, Arc<TaskProgress>) {
        chain_task(chain_spec(write), sink)
    }

    fn inputs(values: &[&str]) -> Vec<InputRecord> {
        records(3, 100, values)
    }

    #[test]
    fn an_output_refused_in_its_delivery_report_dead_letters_exactly_its_input() {
        let text = "manifest-version = 1\nname = \"echo\"\nversion = \"0.1.0\"\ncomponent = \"echo.wasm\"\n\
                    dead-letter = \"dlq\"\n[[inputs]]\ntopic = \"in\"\n[outputs]\nout = \"out\"\n";
        let manifest = Manifest::parse(std::path::Path::new("echo.toml"), text).unwrap();
        let spec = Arc::new(ProcessorSpec::new(&manifest, Arc::new(ECHO), None));
        // The brokers take 8 bytes: "bbbb" becomes a 12-byte output, refused.
        let sink = Arc::new(MemorySink::refusing_over(8));
        let progress = Arc::new(TaskProgress::default());
        let id = TaskId {
            processor: "echo".into(),
            partition: 0,
        };
        let spec = Arc::new(TaskSpec::single(spec));
        let mut task = StreamTask::start(
            id,
            spec,
            sink.clone(),
            progress.clone(),
            Vec::new(),
            Arc::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let records = ["a", "bbbb", "cc"]
            .iter()
            .enumerate()
            .map(|(offset, value)| InputRecord {
                topic: "in".into(),
                partition: 0,
                offset: offset as i64,
                timestamp: 1000,
                key: None,
                value: Some(value.as_bytes().to_vec().into()),
                headers: Vec::new(),
            })
            .collect();
        task.process_batch(records).unwrap();

        let sent = sink.records();
        let values = |topic: &str| -> Vec<Vec<u8>> {
            sent.iter()
                .filter(|r| r.topic == topic)
                .filter_map(|r| r.value.clone())
                .collect()
        };
        assert_eq!(values("out"), [b"aaa".to_vec(), b"cccccc".to_vec()]);
        assert_eq!(values("dlq"), [b"bbbb".to_vec()], "the refused output's own input");
        let letter = sent.iter().find(|r| r.topic == "dlq").unwrap();
        let header = |name: &str| header(letter, name);
        assert_eq!(header(headers::ERROR_KIND).as_deref(), Some("output-refused"));
        assert_eq!(header(headers::SOURCE_OFFSET).as_deref(), Some("1"));
        // The batch completes once the dead letter is acknowledged: all of it commits.
        assert_eq!(progress.take_committable().unwrap()[&Arc::<str>::from("in")], 3);
    }

    #[test]
    fn a_chain_runs_in_order_and_commits_only_after_every_stage_is_acknowledged() {
        let sink = Arc::new(MemorySink::holding());
        let (mut task, progress) = chain(sink.clone(), true);
        task.process_batch(inputs(&["a", "b", "c"])).unwrap();
        task.process_batch(inputs(&["d"])).unwrap();

        assert_eq!(values(&sink, "mid"), ["aaa", "bbb", "ccc", "ddd"]);
        assert_eq!(
            values(&sink, "final"),
            ["AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD"],
            "in order, once each"
        );
        let keys: Vec<_> = sink
            .records()
            .iter()
            .filter(|r| r.topic == "final")
            .map(|r| r.key.clone())
            .collect();
        assert_eq!(keys[0].as_deref(), Some(&b"k0"[..]), "keys travel through the chain");
        // The first stage's outputs acknowledged is not enough.
        sink.deliver(Some("mid"));
        assert!(progress.take_committable().unwrap().is_empty());
        sink.deliver(Some("final"));
        assert_eq!(progress.take_committable().unwrap()[&Arc::<str>::from("in")], 101);
        assert!(progress.is_committed());
    }

    #[test]
    fn a_record_the_second_stage_refuses_dead_letters_there_with_the_source_position() {
        let sink = Arc::new(MemorySink::default());
        let (mut task, progress) = chain(sink.clone(), false);
        task.process_batch(inputs(&["x", "bad", "y"])).unwrap();

        assert!(
            values(&sink, "mid").is_empty(),
            "write = false keeps the connection internal"
        );
        assert_eq!(values(&sink, "final"), ["XXXXXX", "YYYYYY"]);
        assert!(values(&sink, "first.dlq").is_empty());
        let letters: Vec<_> = sink.records().into_iter().filter(|r| r.topic == "second.dlq").collect();
        assert_eq!(letters.len(), 1);
        let letter = &letters[0];
        assert_eq!(
            letter.value.as_deref(),
            Some(&b"badbadbad"[..]),
            "what the second stage was given"
        );
        assert_eq!(letter.key.as_deref(), Some(&b"k1"[..]));
        let header = |name: &str| header(letter, name);
        assert_eq!(header(headers::PROCESSOR).as_deref(), Some("second"));
        assert_eq!(header(headers::ERROR_KIND).as_deref(), Some("record-error"));
        assert_eq!(header(headers::SOURCE_TOPIC).as_deref(), Some("in"));
        assert_eq!(header(headers::SOURCE_PARTITION).as_deref(), Some("3"));
        assert_eq!(header(headers::SOURCE_OFFSET).as_deref(), Some("101"));
        assert_eq!(header(headers::INPUT_TOPIC).as_deref(), Some("mid"));
        assert_eq!(header(headers::TASK).as_deref(), Some("first_3"));
        assert_eq!(progress.take_committable().unwrap()[&Arc::<str>::from("in")], 103);
    }

    #[test]
    fn an_output_of_the_second_stage_refused_by_the_brokers_dead_letters_its_own_input() {
        // The brokers take 8 bytes: "AAAAAA" passes, "BBBBBBBBBBBB" (from
        // "bb", fed as "bbbbbb") is refused.
        let sink = Arc::new(MemorySink::refusing_over(8));
        let (mut task, progress) = chain(sink.clone(), false);
        task.process_batch(inputs(&["a", "bb"])).unwrap();
        assert_eq!(values(&sink, "final"), ["AAAAAA"]);
        assert_eq!(
            values(&sink, "second.dlq"),
            ["bbbbbb"],
            "the second stage's input, not the source"
        );
        assert_eq!(progress.take_committable().unwrap()[&Arc::<str>::from("in")], 102);
    }

    fn chain_task(spec: TaskSpec, sink: Arc<MemorySink>) -> (StreamTask, Arc<TaskProgress>) {
        let progress = Arc::new(TaskProgress::default());
        let id = TaskId {
            processor: "first".into(),
            partition: 3,
        };
        let task = StreamTask::start(
            id,
            Arc::new(spec),
            sink,
            progress.clone(),
            Vec::new(),
            Arc::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        (task, progress)
    }

    #[test]
    fn a_trap_in_the_second_stage_replays_only_that_stage_and_dead_letters_the_poison_record() {
        let sink = Arc::new(MemorySink::default());
        let (mut task, progress) = chain_task(chain_with(Arc::new(Trapping), "continue", true), sink.clone());
        task.process_batch(inputs(&["a", "boom", "c"])).unwrap();
        assert_eq!(
            values(&sink, "mid"),
            ["aaa", "boomboomboom", "ccc"],
            "the first stage ran once"
        );
        assert_eq!(values(&sink, "final"), ["AAAAAA", "CCCCCC"]);
        let letters: Vec<_> = sink.records().into_iter().filter(|r| r.topic == "second.dlq").collect();
        assert_eq!(letters.len(), 1);
        assert_eq!(header(&letters[0], headers::ERROR_KIND).as_deref(), Some("trap"));
        assert_eq!(header(&letters[0], headers::SOURCE_OFFSET).as_deref(), Some("101"));
        assert_eq!(progress.take_committable().unwrap()[&Arc::<str>::from("in")], 103);
    }

    #[test]
    fn pause_task_in_the_second_stage_commits_nothing_of_the_batch() {
        let sink = Arc::new(MemorySink::default());
        let (mut task, progress) = chain_task(chain_with(Arc::new(Trapping), "pause-task", false), sink.clone());
        task.process_batch(inputs(&["a"])).unwrap();
        task.process_batch(records(3, 101, &["boom"])).unwrap();
        assert!(progress.is_paused());
        task.process_batch(records(3, 102, &["c"])).unwrap();
        assert_eq!(values(&sink, "final"), ["AAAAAA"], "nothing after the pause");
        assert_eq!(
            progress.take_committable().unwrap()[&Arc::<str>::from("in")],
            101,
            "only the batch before the trap"
        );
    }
}
