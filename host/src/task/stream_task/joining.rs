//! Stream-stream joins in a task (`[joins.<name>]`, design 014): the
//! records of a join's two topics go to the join, never to `process`. Each
//! record runs `rill_sdk::time::join`'s step over the join's buffers in the
//! task store (`state/join.rs`); the results of a whole run go to the
//! plugin's `join` export in one call, and its outputs are routed like
//! `process` outputs. Stream time moving without a record (`idle-advance`,
//! `rill test`'s `advance`) closes what is due the same way.
//!
//! Everything counts against the batch's ack, and every buffer write goes
//! through the task store's overlay, so a join's state is changelogged,
//! restored and rolled back with its batch like any store's.

use super::windowing::Run;
use super::{Forwards, InFlight, Pending, StreamTask, TaskError};
use crate::manifest::{JoinKeyless, JoinSpec};
use crate::plugin::JoinResult;
use crate::record::InputRecord;
use crate::state::join::StoreBuffers;
use crate::task::dead_letter::kind;
use rill_sdk::time::join::{Fate, Input, Join, Joined, Origin, Side};
use std::ops::Range;
use std::sync::Arc;

/// A join result waiting for the plugin: its join (index in the stage's
/// `[joins]`), the run record it is attributed to, and the result.
struct PendingJoin {
    join: usize,
    input: usize,
    joined: Joined,
}

impl StreamTask {
    /// Runs `records[run]` (all of them from stage `s`'s join topics)
    /// through their joins, hands the results to the plugin and routes its
    /// outputs, then runs the stages those feed in memory.
    pub(super) fn run_join(
        &mut self,
        s: usize,
        records: &Arc<Vec<InputRecord>>,
        run: Range<usize>,
        sources: &Arc<Vec<Arc<str>>>,
        batch: &InFlight,
    ) -> Result<(), TaskError> {
        let base = self.register_run(s, records, &run, sources, batch);
        self.stages[s].meters.consumed(run.len() as u64);
        let ctx = Run {
            records,
            sources,
            run: run.clone(),
            base,
        };
        let mut forwards = Forwards::new();
        self.join_stage(s, &ctx, run, None, batch, &mut forwards)?;
        self.run_forwards(forwards, batch)
    }

    /// Steps the records `inputs` of `run` through stage `s`'s joins (or,
    /// with `advance`, moves each join's stream time to `advance[j]`),
    /// then emits the results and makes the buffer writes durable.
    pub(super) fn join_stage(
        &mut self,
        s: usize,
        run: &Run<'_>,
        inputs: Range<usize>,
        advance: Option<&[i64]>,
        batch: &InFlight,
        forwards: &mut Forwards,
    ) -> Result<(), TaskError> {
        let joins = self.stages[s].joins.clone();
        let Some(state) = &self.stages[s].state else {
            tracing::error!(task = %self.id, "joins need local state, which this task has none of; join records are dropped");
            return Ok(());
        };
        let store = state.store();
        let mut pending: Vec<PendingJoin> = Vec::new();
        let mut letters: Vec<(usize, String)> = Vec::new();
        let (mut late, mut dropped, mut saw) = (0u64, 0u64, Vec::new());
        {
            let mut guard = store.lock();
            let mut view = guard.host();
            let mut clocks: Vec<Option<(Join, Option<i64>)>> = vec![None; joins.len()];
            for index in inputs {
                let record = &run.records[index];
                let Some((j, side)) = joins
                    .iter()
                    .enumerate()
                    .find_map(|(j, spec)| Some((j, spec.side_of(&record.topic)?)))
                else {
                    dropped += 1;
                    continue;
                };
                let spec = &joins[j];
                if record.key.is_none() && record.value.is_some() {
                    match spec.keyless {
                        JoinKeyless::Emit => {}
                        JoinKeyless::Drop => {
                            dropped += 1;
                            continue;
                        }
                        JoinKeyless::DeadLetter => {
                            letters.push((index, format!("a record of join '{}' has no key", spec.name)));
                            continue;
                        }
                    }
                }
                let mut buffers = StoreBuffers::new(&mut view, spec);
                let join = loaded(&mut clocks[j], &mut buffers, spec).map_err(|e| self.storage(e))?;
                let input = Input {
                    side,
                    key: record.key.as_deref(),
                    value: record.value.as_deref(),
                    timestamp: record.timestamp,
                    offset: u64::try_from(record.offset).unwrap_or(0),
                };
                let step = join.step(&mut buffers, input).map_err(|e| self.storage(e))?;
                match step.fate {
                    Fate::Buffered => saw.push(record.timestamp),
                    Fate::Late => {
                        late += 1;
                        saw.push(record.timestamp);
                        tracing::debug!(task = %self.id, join = %spec.name, timestamp = record.timestamp, "late join record: matched with what is open, not buffered");
                    }
                    Fate::Dropped => dropped += 1,
                    Fate::Keyless if step.results.is_empty() => dropped += 1,
                    Fate::Keyless => {}
                }
                pending.extend(step.results.into_iter().map(|joined| PendingJoin {
                    join: j,
                    input: index,
                    joined,
                }));
            }
            if let Some(times) = advance {
                let attributed = run.run.end - 1;
                for (j, spec) in joins.iter().enumerate() {
                    if times[j] == i64::MIN {
                        continue;
                    }
                    let mut buffers = StoreBuffers::new(&mut view, spec);
                    let join = loaded(&mut clocks[j], &mut buffers, spec).map_err(|e| self.storage(e))?;
                    let closed = join.advance(&mut buffers, times[j]).map_err(|e| self.storage(e))?;
                    pending.extend(closed.into_iter().map(|joined| PendingJoin {
                        join: j,
                        input: attributed,
                        joined,
                    }));
                }
            }
            for (spec, clock) in joins.iter().zip(clocks) {
                if let Some((join, stored)) = clock
                    && join.stream_time != stored
                    && let Some(time) = join.stream_time
                {
                    StoreBuffers::new(&mut view, spec)
                        .set_stream_time(time)
                        .map_err(|e| self.storage(e))?;
                }
            }
        }
        let stage = &mut self.stages[s];
        stage.meters.late(late);
        stage.meters.dropped(dropped);
        for timestamp in saw {
            stage.saw(timestamp);
        }
        for (index, message) in letters {
            let record = &run.records[index];
            self.dead_letter(s, record, &run.sources[index], kind::RECORD_ERROR, &message, &batch.ack)?;
        }
        self.emit_joined(s, run, &joins, pending, batch, forwards)?;
        self.persist_writes(s, &batch.ack)
    }

    /// Calls the plugin's `join` for `pending` results and routes their
    /// outputs (an output without a timestamp gets the result's).
    fn emit_joined(
        &mut self,
        s: usize,
        run: &Run<'_>,
        joins: &[JoinSpec],
        pending: Vec<PendingJoin>,
        batch: &InFlight,
        forwards: &mut Forwards,
    ) -> Result<(), TaskError> {
        if pending.is_empty() {
            return Ok(());
        }
        let results: Vec<JoinResult> = pending
            .iter()
            .map(|p| JoinResult {
                join: joins[p.join].name.clone(),
                key: p.joined.key.clone(),
                left: p.joined.left.clone(),
                right: p.joined.right.clone(),
                timestamp: p.joined.timestamp,
            })
            .collect();
        let (outputs, failure) = self.call_join(s, &results)?;
        let mut scratch = Pending {
            forwards: std::mem::take(forwards),
            windowed: Vec::new(),
        };
        for (p, output) in pending.iter().zip(outputs) {
            match output {
                Ok(mut outputs) => {
                    for o in &mut outputs {
                        o.timestamp.get_or_insert(p.joined.timestamp);
                    }
                    self.route(
                        s,
                        run.records,
                        p.input,
                        &run.sources[p.input],
                        run.input(p.input),
                        Ok(outputs),
                        batch,
                        &mut scratch,
                    )?;
                    if let Some((_, r)) = scratch.windowed.pop() {
                        scratch.windowed.clear();
                        self.dead_letter(
                            s,
                            &r.record,
                            &run.sources[p.input],
                            kind::JOIN_ERROR,
                            "join returned an output to a window store; join results go to outputs",
                            &batch.ack,
                        )?;
                    }
                }
                Err(message) => {
                    let record = match &p.joined.origin {
                        Origin::Input => run.records[p.input].clone(),
                        Origin::Closed { side, offset } => {
                            closed_record(&joins[p.join], *side, *offset, &p.joined, self.id.partition)
                        }
                    };
                    let source: Arc<str> = match &p.joined.origin {
                        Origin::Input => run.sources[p.input].clone(),
                        Origin::Closed { .. } => record.topic.clone(),
                    };
                    self.dead_letter(s, &record, &source, failure, &message, &batch.ack)?;
                }
            }
        }
        *forwards = scratch.forwards;
        Ok(())
    }
}

/// A join's clock for this run: loaded from its store on first use, with
/// the stream time it had there (to write it back only when it moved).
fn loaded<'c>(
    slot: &'c mut Option<(Join, Option<i64>)>,
    buffers: &mut StoreBuffers<'_, '_>,
    spec: &JoinSpec,
) -> Result<&'c mut Join, crate::state::store::AccessError> {
    if slot.is_none() {
        let stored = buffers.stream_time()?;
        let join = Join {
            window: spec.window,
            stream_time: stored,
        };
        *slot = Some((join, stored));
    }
    Ok(&mut slot.as_mut().expect("just set").0)
}

/// The buffered record behind a null result that stream time closed, as
/// its dead letter: its topic, offset, key, value and timestamp.
fn closed_record(spec: &JoinSpec, side: Side, offset: u64, joined: &Joined, partition: i32) -> InputRecord {
    let (topic, value) = match side {
        Side::Left => (&spec.left, &joined.left),
        Side::Right => (&spec.right, &joined.right),
    };
    InputRecord {
        topic: topic.as_str().into(),
        partition,
        offset: i64::try_from(offset).unwrap_or(-1),
        timestamp: joined.timestamp,
        key: joined.key.clone().map(Into::into),
        value: value.clone().map(Into::into),
        headers: Vec::new(),
    }
}
