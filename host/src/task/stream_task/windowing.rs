//! Time in a task: windowed stores (routing a stage's windowed outputs
//! through `state::window`, the plugin's `aggregate` or the host's count,
//! and the plugin's `emit`), timers (stream time after the record that
//! makes them due, the wall clock on the worker's tick) and `idle-advance`.
//!
//! Everything here counts against an ack like a batch's outputs do: window
//! results and timer outputs of a batch against the batch's, those of a
//! tick against an ack of their own queued in the task's progress, so the
//! commit order stays the processing order.

use super::{Forwards, InFlight, Pending, StreamTask, TaskError};
use crate::kafka::producer::BatchAck;
use crate::manifest::{Emit, Keyless, Late, WindowAggregate};
use crate::plugin::{Aggregation, Clock, Tick, Window, WindowResult};
use crate::record::{Header, InputRecord};
use crate::state::window::{self, Emission, Routed};
use crate::task::dead_letter::{RefusedOutputs, StageRun, kind};
use rill_sdk::time::WindowKind;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// A stage's run of records as dead letters and refusals see them: window
/// results and timer outputs are attributed to one of these records.
pub(super) struct Run<'a> {
    pub records: &'a Arc<Vec<InputRecord>>,
    pub sources: &'a Arc<Vec<Arc<str>>>,
    pub run: Range<usize>,
    /// The refusal number of `records[run.start]`.
    pub base: u32,
}

impl Run<'_> {
    /// The refusal number of `records[index]`.
    pub(super) fn input(&self, index: usize) -> u32 {
        self.base + (index - self.run.start) as u32
    }
}

/// A window result waiting for `emit`: which store, which input record it
/// is attributed to, and the result.
type PendingResult = (usize, usize, Emission);

/// One window's new aggregates (one per record when running, else the
/// last), or why they could not be folded.
type AggregateResult = Result<Vec<Vec<u8>>, String>;

impl StreamTask {
    /// Applies the timer calls the stage's plugin made during its last call.
    pub(super) fn timer_requests(&mut self, s: usize) {
        let requests = self.stages[s].processor.take_timer_requests();
        if !requests.is_empty() {
            self.stages[s].timers.apply(requests);
        }
    }

    /// A store failure under the host's own access, as the task's fault.
    pub(super) fn storage(&self, error: crate::state::store::AccessError) -> TaskError {
        let message = match error {
            crate::state::store::AccessError::Storage(m) => m,
            crate::state::store::AccessError::Undeclared(name) => format!("windowed store {name} is not open"),
        };
        TaskError::HostFault {
            task: self.id.clone(),
            source: crate::plugin::HostFault(message),
        }
    }

    /// Aggregates what stage `s` routed to its windowed stores in `run`,
    /// closes the windows each store's own new stream time closes, emits
    /// the results (to topics and, in `forwards`, to the stages downstream)
    /// and makes the store writes durable. Each store's time moves only
    /// with the keyed records routed to it, or, for an `idle-advance`, to
    /// `advance[w]` (one time per windowed store of the stage).
    pub(super) fn window_stage(
        &mut self,
        s: usize,
        run: &Run<'_>,
        windowed: Vec<(usize, Routed)>,
        advance: Option<&[i64]>,
        batch: &InFlight,
        forwards: &mut Forwards,
    ) -> Result<(), TaskError> {
        let windows = self.stages[s].windows.clone();
        let Some(state) = &self.stages[s].state else {
            tracing::error!(task = %self.id, "windowed stores need local state, which this task has none of; window records are dropped");
            return Ok(());
        };
        let store = state.store();
        let mut routed: Vec<Vec<Routed>> = vec![Vec::new(); windows.len()];
        for (w, r) in windowed {
            routed[w].push(r);
        }

        let plans = {
            let mut guard = store.lock();
            let mut view = guard.host();
            let mut plans = Vec::with_capacity(windows.len());
            for (spec, routed) in windows.iter().zip(&routed) {
                plans.push(window::plan(&mut view, spec, routed).map_err(|e| self.storage(e))?);
            }
            plans
        };

        // Each live group's aggregates: a counting store's from the host at
        // once (`Some`), the others' from one plugin call for all (`None`:
        // the next result, in `aggregations` order).
        let mut aggregations = Vec::new();
        let mut owners: Vec<(usize, usize, Option<AggregateResult>)> = Vec::new();
        for (w, (spec, plan)) in windows.iter().zip(&plans).enumerate() {
            let session = matches!(spec.kind, WindowKind::Session { .. });
            let running = spec.emit == Emit::Update && !session;
            for (g, group) in plan.groups.iter().enumerate().filter(|(_, g)| g.is_live()) {
                if group.records.is_empty() {
                    // A sliding window copied from another, with nothing
                    // to fold: it keeps the copied aggregate.
                    owners.push((w, g, Some(Ok(Vec::new()))));
                    continue;
                }
                if spec.aggregate == WindowAggregate::Count {
                    let current = group.current.as_ref().map(|(v, _)| v.as_slice());
                    let merged = group.merged.iter().map(|(_, v, _)| v.as_slice());
                    let counted = window::counts(current, merged, group.records.len(), running);
                    owners.push((w, g, Some(counted)));
                    continue;
                }
                aggregations.push(Aggregation {
                    store: spec.name.clone(),
                    key: group.key.clone(),
                    window: Window {
                        start: group.window.start,
                        end: group.window.end,
                    },
                    current: group.current.as_ref().map(|(v, _)| v.clone()),
                    merged: group.merged.iter().map(|(_, v, _)| v.clone()).collect(),
                    records: group.records.iter().map(|&r| routed[w][r].record.clone()).collect(),
                    running,
                });
                owners.push((w, g, None));
            }
        }
        let mut results = if aggregations.is_empty() {
            Vec::new()
        } else {
            let started = Instant::now();
            let outcome = self.stages[s].processor.aggregate(&aggregations);
            self.stages[s].meters.call(started.elapsed());
            match outcome {
                Ok(results) => results,
                Err(trap) => {
                    // Nothing of the windows was written: dead-letter every
                    // record routed to them, on a fresh instance.
                    self.after_trap(s, &trap)?;
                    let mut inputs: Vec<usize> = routed.iter().flatten().map(|r| r.input).collect();
                    inputs.dedup();
                    for input in inputs {
                        self.dead_letter(
                            s,
                            &run.records[input],
                            &run.sources[input],
                            kind::TRAP,
                            &format!("aggregate trapped: {trap:#}"),
                            &batch.ack,
                        )?;
                    }
                    return Ok(());
                }
            }
        }
        .into_iter();

        let mut pending: Vec<PendingResult> = Vec::new();
        let mut letters: Vec<(usize, &'static str, String)> = Vec::new();
        {
            let mut guard = store.lock();
            let mut view = guard.host();
            for (w, g, host) in owners {
                let result = match host {
                    Some(result) => result,
                    None => results.next().expect("the plugin returns one result per aggregation"),
                };
                let group = &plans[w].groups[g];
                match result {
                    Ok(values) if !values.is_empty() || group.records.is_empty() => {
                        for e in window::apply(&mut view, &windows[w], group, &routed[w], &values)
                            .map_err(|e| self.storage(e))?
                        {
                            let input = e.routed.map_or(run.run.end - 1, |r| routed[w][r].input);
                            pending.push((w, input, e));
                        }
                    }
                    Ok(_) => {
                        for &r in &group.records {
                            letters.push((
                                routed[w][r].input,
                                kind::AGGREGATE_ERROR,
                                "aggregate returned no aggregate".into(),
                            ));
                        }
                    }
                    Err(message) => {
                        for &r in &group.records {
                            letters.push((routed[w][r].input, kind::AGGREGATE_ERROR, message.clone()));
                        }
                    }
                }
            }
            // Updates in the order of the records that made them (and, for
            // sliding windows, in Kafka Streams' order among one record's).
            pending.sort_by_key(|(_, input, e)| (*input, e.order));
            for (w, (spec, plan)) in windows.iter().zip(&plans).enumerate() {
                self.stages[s].meters.late(plan.late.len() as u64);
                for &(r, stream_time) in &plan.late {
                    let record = &routed[w][r];
                    if spec.late == Late::DeadLetter {
                        letters.push((
                            record.input,
                            kind::LATE,
                            format!(
                                "late for window store '{}': every window of timestamp {} closed (stream time {}, grace {} ms)",
                                spec.name, record.record.timestamp, stream_time, spec.grace
                            ),
                        ));
                    } else {
                        tracing::debug!(task = %self.id, store = %spec.name, timestamp = record.record.timestamp, "dropping a late record");
                    }
                }
                match spec.keyless {
                    Keyless::DeadLetter => {
                        for &r in &plan.keyless {
                            letters.push((
                                routed[w][r].input,
                                kind::RECORD_ERROR,
                                format!("a record emitted to window store '{}' has no key", spec.name),
                            ));
                        }
                    }
                    Keyless::Drop => {
                        let n = plan.keyless.len() as u64;
                        self.stages[s].meters.dropped(n);
                    }
                }
                let now = match advance {
                    Some(times) => plan.stream_time.max(times[w]),
                    None => plan.stream_time,
                };
                for e in window::close(&mut view, spec, now, advance.is_none()).map_err(|e| self.storage(e))? {
                    pending.push((w, run.run.end - 1, e));
                }
            }
        }
        letters.sort_by_key(|(input, _, _)| *input);
        letters.dedup_by_key(|(input, kind, _)| (*input, *kind));
        for (input, kind, message) in letters {
            self.dead_letter(s, &run.records[input], &run.sources[input], kind, &message, &batch.ack)?;
        }
        self.emit_results(s, run, pending, batch, forwards)?;
        self.persist_writes(s, &batch.ack)
    }

    /// Calls the plugin's `emit` for `pending` window results and routes
    /// their outputs (an output without a timestamp gets the result's).
    fn emit_results(
        &mut self,
        s: usize,
        run: &Run<'_>,
        pending: Vec<PendingResult>,
        batch: &InFlight,
        forwards: &mut Forwards,
    ) -> Result<(), TaskError> {
        if pending.is_empty() {
            return Ok(());
        }
        let windows = &self.stages[s].windows;
        let results: Vec<WindowResult> = pending
            .iter()
            .map(|(w, _, e)| WindowResult {
                store: windows[*w].name.clone(),
                key: e.key.clone(),
                window: Window {
                    start: e.window.start,
                    end: e.window.end,
                },
                value: e.value.clone(),
                timestamp: e.timestamp,
            })
            .collect();
        let started = Instant::now();
        let outcome = self.stages[s].processor.emit(&results);
        self.stages[s].meters.call(started.elapsed());
        let outputs = match outcome {
            Ok(outputs) => outputs,
            Err(trap) => {
                self.after_trap(s, &trap)?;
                let message = format!("emit trapped: {trap:#}");
                vec![Err(message); results.len()]
            }
        };
        let mut scratch = Pending {
            forwards: std::mem::take(forwards),
            windowed: Vec::new(),
        };
        for ((_, input, _), (result, output)) in pending.iter().zip(results.iter().zip(outputs)) {
            match output {
                Ok(mut outputs) => {
                    for o in &mut outputs {
                        o.timestamp.get_or_insert(result.timestamp);
                    }
                    self.route(
                        s,
                        run.records,
                        *input,
                        &run.sources[*input],
                        run.input(*input),
                        Ok(outputs),
                        batch,
                        &mut scratch,
                    )?;
                    if let Some((_, r)) = scratch.windowed.pop() {
                        scratch.windowed.clear();
                        self.dead_letter(
                            s,
                            &r.record,
                            &run.sources[*input],
                            kind::EMIT_ERROR,
                            "emit returned an output to a window store; window results go to outputs",
                            &batch.ack,
                        )?;
                    }
                }
                Err(message) => {
                    let record = result_record(result, run.records[*input].partition);
                    self.dead_letter(s, &record, &run.sources[*input], kind::EMIT_ERROR, &message, &batch.ack)?;
                }
            }
        }
        *forwards = scratch.forwards;
        Ok(())
    }

    /// After a trap in a window or timer call: a host fault stops the task;
    /// otherwise the trap is counted and the instance replaced.
    pub(super) fn after_trap(&mut self, s: usize, trap: &anyhow::Error) -> Result<(), TaskError> {
        self.trapped(s, trap)?;
        tracing::warn!(task = %self.id, processor = %self.stages[s].spec.name, "plugin trapped ({trap:#}); restarting the instance");
        self.restart(s)
    }

    /// Fires every timer of `clock` due, stage by stage: stream-time
    /// timers at the stage's own stream time, wall-clock ones at
    /// `wall_now`. Outputs are routed like `process` outputs and count
    /// against `batch`.
    pub(super) fn fire_timers(&mut self, clock: Clock, wall_now: i64, batch: &InFlight) -> Result<(), TaskError> {
        for s in 0..self.stages.len() {
            self.fire_stage_timers(s, clock, wall_now, batch)?;
            if self.paused || self.abandoned {
                break;
            }
        }
        Ok(())
    }

    /// [`Self::fire_timers`] for stage `s` alone.
    fn fire_stage_timers(&mut self, s: usize, clock: Clock, wall_now: i64, batch: &InFlight) -> Result<(), TaskError> {
        let now = match clock {
            Clock::StreamTime => self.stages[s].stream_time,
            Clock::WallClock => wall_now,
        };
        if now == i64::MIN {
            return Ok(());
        }
        for (name, time) in self.stages[s].timers.due(clock, now) {
            self.fire(s, clock, name, time, batch)?;
            if self.paused || self.abandoned {
                break;
            }
        }
        Ok(())
    }

    fn fire(&mut self, s: usize, clock: Clock, name: String, time: i64, batch: &InFlight) -> Result<(), TaskError> {
        let record = InputRecord {
            topic: format!("timer:{name}").into(),
            partition: self.id.partition,
            offset: -1,
            timestamp: time,
            key: None,
            value: None,
            headers: Vec::new(),
        };
        let (records, sources, base) = self.synthetic_run(s, record, batch);
        let tick = Tick { name, clock, time };
        let started = Instant::now();
        let outcome = self.stages[s].processor.on_timer(&tick);
        self.stages[s].meters.call(started.elapsed());
        let result = match outcome {
            Ok(Ok(mut outputs)) => {
                self.persist_writes(s, &batch.ack)?;
                for o in &mut outputs {
                    o.timestamp.get_or_insert(time);
                }
                Ok(outputs)
            }
            Ok(Err(message)) => {
                self.stages[s].discard_writes();
                return self.dead_letter(s, &records[0], &sources[0], kind::TIMER_ERROR, &message, &batch.ack);
            }
            Err(trap) => {
                self.after_trap(s, &trap)?;
                let message = format!("on-timer trapped: {trap:#}");
                return self.dead_letter(s, &records[0], &sources[0], kind::TRAP, &message, &batch.ack);
            }
        };
        self.timer_requests(s);
        let mut pending = Pending::default();
        self.route(s, &records, 0, &sources[0], base, result, batch, &mut pending)?;
        let run = Run {
            records: &records,
            sources: &sources,
            run: 0..1,
            base,
        };
        if !pending.windowed.is_empty() || !self.stages[s].windows.is_empty() {
            let windowed = std::mem::take(&mut pending.windowed);
            self.window_stage(s, &run, windowed, None, batch, &mut pending.forwards)?;
        }
        self.run_forwards(pending.forwards, batch)
    }

    /// Runs the stages downstream over what a timer or window fed them.
    pub(super) fn run_forwards(&mut self, forwards: Forwards, batch: &InFlight) -> Result<(), TaskError> {
        for (stage, (fed, fed_sources)) in forwards {
            if fed.is_empty() {
                continue;
            }
            let len = fed.len();
            self.run_stage(stage, &Arc::new(fed), 0..len, &Arc::new(fed_sources), batch)?;
            if self.paused || self.abandoned {
                break;
            }
        }
        Ok(())
    }

    /// One made-up record standing for a timer firing or a stream-time
    /// advance, registered so refusals of its outputs can dead-letter it.
    fn synthetic_run(
        &self,
        s: usize,
        record: InputRecord,
        batch: &InFlight,
    ) -> (Arc<Vec<InputRecord>>, Arc<Vec<Arc<str>>>, u32) {
        let sources: Arc<Vec<Arc<str>>> = Arc::new(vec![record.topic.clone()]);
        let records = Arc::new(vec![record]);
        let base = batch.refusals.register(StageRun {
            letters: self.stages[s].letters.clone(),
            meters: self.stages[s].meters.clone(),
            records: records.clone(),
            start: 0,
            len: 1,
            sources: sources.clone(),
        });
        (records, sources, base)
    }

    /// The worker's periodic call (every ~100 ms, records or not): fires
    /// wall-clock timers due at `now_ms` (epoch ms) and, for each stage
    /// idle for its `idle-advance`, moves its clocks on with the wall clock
    /// (closing windows and firing stream-time timers).
    pub fn tick(&mut self, now_ms: i64) -> Result<(), TaskError> {
        self.intercept_turn();
        if self.paused {
            return Ok(());
        }
        let elapsed = self.clock.monotonic_ms().saturating_sub(self.idle_since).max(0);
        let advancing: Vec<usize> = (0..self.stages.len())
            .filter(|&s| {
                self.stages[s]
                    .idle_advance
                    .is_some_and(|d| elapsed >= i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            })
            .collect();
        let wall = self.stages.iter().any(|s| s.timers.any(Clock::WallClock));
        if !wall && advancing.is_empty() {
            return Ok(());
        }
        self.outside_batch(|task, batch| {
            for s in advancing {
                if task.paused {
                    break;
                }
                task.idle_advance(s, elapsed, batch)?;
            }
            if wall && !task.paused {
                task.fire_timers(Clock::WallClock, now_ms, batch)?;
            }
            Ok(())
        })
    }

    /// Moves every clock of every stage (its stream time for timers and
    /// each windowed store's own time) to `to`, as a record with that
    /// timestamp reaching all of them would: windows close and stream-time
    /// timers fire. A clock already past `to` stays. For `rill test`'s
    /// `advance = "stream-time"` steps (Kafka Streams moves stream time
    /// only with records; a test needs to move it without one).
    pub fn advance_stream_time(&mut self, to: i64) -> Result<(), TaskError> {
        if self.paused {
            return Ok(());
        }
        self.outside_batch(|task, batch| {
            for s in 0..task.stages.len() {
                if task.paused {
                    break;
                }
                let times = vec![to; task.stages[s].windows.len()];
                let joins = vec![to; task.stages[s].joins.len()];
                task.move_clocks(s, to, (times, joins), "advance", batch)?;
            }
            Ok(())
        })
    }

    /// Runs `work` (a tick or an advance: no input records) with an ack of
    /// its own, queued in the task's progress so the commit order stays
    /// the processing order.
    fn outside_batch(
        &mut self,
        work: impl FnOnce(&mut Self, &InFlight) -> Result<(), TaskError>,
    ) -> Result<(), TaskError> {
        let refusals = Arc::new(RefusedOutputs::new(Arc::downgrade(&self.producer)));
        let batch = InFlight {
            ack: BatchAck::with_refusals(refusals.clone()),
            refusals,
        };
        work(self, &batch)?;
        self.flush_outbox(&batch)?;
        batch.ack.seal();
        // Outputs still in flight (or refused) hold back later commits;
        // work that sent nothing, or whose outputs are already
        // acknowledged, leaves nothing to wait for.
        let settled = batch.ack.is_complete() && batch.ack.failure().is_none();
        if !self.paused && !settled {
            self.progress.push(Vec::new(), batch.ack);
        }
        Ok(())
    }

    /// `idle-advance` of stage `s`, `elapsed` ms after the task's last
    /// record: each of its clocks (its stream time for timers, each
    /// windowed store's own time) moves to where it stood then plus the
    /// time elapsed. A clock that never saw a record stays where it is.
    fn idle_advance(&mut self, s: usize, elapsed: i64, batch: &InFlight) -> Result<(), TaskError> {
        let base = match self.stages[s].idle_base.clone() {
            Some(base) => base,
            None => {
                let base = self.stages[s].clocks().map_err(|e| self.storage(e))?;
                self.stages[s].idle_base = Some(base.clone());
                base
            }
        };
        let later = |t: i64| if t == i64::MIN { t } else { t.saturating_add(elapsed) };
        let times: Vec<i64> = base.windows.iter().map(|&t| later(t)).collect();
        let joins: Vec<i64> = base.joins.iter().map(|&t| later(t)).collect();
        self.move_clocks(s, later(base.stream_time), (times, joins), "idle-advance", batch)
    }

    /// Moves stage `s`'s stream time to `stream_time` (firing its
    /// stream-time timers), each windowed store's time to `times[w]`
    /// (closing windows, emitting final results) and each join's to
    /// `joins[j]` (emitting the null results of what closes); no clock goes
    /// back, and `i64::MIN` leaves a clock where it is. `why` names the
    /// move in the dead letters of refused results (their source "topic").
    fn move_clocks(
        &mut self,
        s: usize,
        stream_time: i64,
        (times, joins): (Vec<i64>, Vec<i64>),
        why: &str,
        batch: &InFlight,
    ) -> Result<(), TaskError> {
        if stream_time > self.stages[s].stream_time {
            self.stages[s].stream_time = stream_time;
            self.fire_stage_timers(s, Clock::StreamTime, i64::MIN, batch)?;
        }
        let windows = !self.stages[s].windows.is_empty() && times.iter().any(|&t| t != i64::MIN);
        let joined = !self.stages[s].joins.is_empty() && joins.iter().any(|&t| t != i64::MIN);
        if self.paused || !(windows || joined) {
            return Ok(());
        }
        let record = InputRecord {
            topic: why.into(),
            partition: self.id.partition,
            offset: -1,
            timestamp: times.iter().chain(&joins).copied().max().unwrap_or(i64::MIN),
            key: None,
            value: None,
            headers: Vec::new(),
        };
        let (records, sources, base) = self.synthetic_run(s, record, batch);
        let run = Run {
            records: &records,
            sources: &sources,
            run: 0..1,
            base,
        };
        let mut forwards = Forwards::new();
        if windows {
            self.window_stage(s, &run, Vec::new(), Some(&times), batch, &mut forwards)?;
        }
        if joined && !self.paused {
            self.join_stage(s, &run, 0..0, Some(&joins), batch, &mut forwards)?;
        }
        self.run_forwards(forwards, batch)
    }
}

/// A window result as a record, for a dead letter: the window's key and
/// aggregate, its bounds in headers.
fn result_record(result: &WindowResult, partition: i32) -> InputRecord {
    InputRecord {
        topic: result.store.as_str().into(),
        partition,
        offset: -1,
        timestamp: result.timestamp,
        key: Some(result.key.clone().into()),
        value: result.value.clone().map(Into::into),
        headers: vec![
            Header {
                key: "rill.window.start".into(),
                value: Some(result.window.start.to_string().into_bytes()),
            },
            Header {
                key: "rill.window.end".into(),
                value: Some(result.window.end.to_string().into_bytes()),
            },
        ],
    }
}
