//! Foreign-key table-table joins in a task (`[joins.<name>]` with
//! `foreign-key`, design 015). A task holds one partition of both tables
//! and of both internal topics, and plays both sides:
//!
//! - a left table update subscribes its row to the right key its value
//!   names (and unsubscribes it from the old one) on the subscription
//!   topic, keyed by right key, so it reaches the task holding that
//!   right row;
//! - a subscription is kept in the join's subscription store and
//!   answered with the right row on the response topic, keyed by left
//!   key and sent to the left row's partition;
//! - a right table update answers every subscriber of its key;
//! - an answer whose left-value hash still matches goes to the plugin's
//!   `join` (or becomes a tombstone); a stale one is dropped.
//!
//! The rules are `state::fk_join`'s; every send counts against the
//! batch's ack and every store write goes through the task store's overlay
//! (changelogged, rolled back with the batch).

use super::windowing::Run;
use super::{Forwards, InFlight, Pending, StreamTask, TaskError};
use crate::kafka::producer::OutgoingRecord;
use crate::manifest::{ForeignKeyJoinSpec, ForeignKeyRole};
use crate::plugin::JoinResult;
use crate::record::{InputRecord, OutputRecord};
use crate::state::fk_join::{self, Instruction, Local, Outcome, Response, Subscription};
use crate::task::dead_letter::kind;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

/// A result of a run, in the order the run produced it.
enum Emit {
    /// For the plugin's `join`.
    Join { input: usize, result: JoinResult },
    /// The left key's result goes away.
    Tombstone {
        input: usize,
        key: Vec<u8>,
        timestamp: i64,
        output: String,
    },
}

/// An internal record to send: topic, partition (`None`: by key), key,
/// value, the run record behind it.
struct Send {
    topic: String,
    partition: Option<i32>,
    key: Vec<u8>,
    value: Vec<u8>,
    timestamp: i64,
    input: usize,
}

/// What a run did besides its results.
#[derive(Default)]
struct Effects {
    emits: Vec<Emit>,
    sends: Vec<Send>,
    letters: Vec<(usize, String)>,
    dropped: u64,
    stale: u64,
}

/// An internal record's value, decoded; a foreign one is dead-lettered, a
/// null one dropped and counted.
fn decoded<T>(
    spec: &ForeignKeyJoinSpec,
    record: &InputRecord,
    index: usize,
    decode: fn(&[u8]) -> Result<T, fk_join::Malformed>,
    effects: &mut Effects,
) -> Option<T> {
    match record.value.as_deref().map(decode) {
        Some(Ok(value)) => Some(value),
        Some(Err(e)) => {
            effects
                .letters
                .push((index, format!("foreign-key join '{}': {e}", spec.name)));
            None
        }
        None => {
            effects.dropped += 1;
            None
        }
    }
}

impl StreamTask {
    /// Runs `records[run]` (all of them from stage `s`'s foreign-key join
    /// topics) through their joins: applies table updates, sends
    /// subscriptions and answers, hands results to the plugin and routes
    /// its outputs, then runs the stages those feed in memory.
    pub(super) fn run_fk(
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
        let manifest = self.stages[s].spec.manifest();
        let application = self.stages[s]
            .spec
            .state
            .as_ref()
            .map(|c| c.application_id.clone())
            .unwrap_or_default();
        let mut effects = Effects::default();
        for index in run.clone() {
            let record = &records[index];
            let Some((spec, role)) = manifest.fk_join_of(&record.topic, &application) else {
                effects.dropped += 1;
                continue;
            };
            let Some(key) = record.key.as_deref() else {
                // A table row needs a key (Kafka Streams drops keyless
                // table records too); internal records always have one.
                effects.dropped += 1;
                continue;
            };
            self.stages[s].saw(record.timestamp);
            match role {
                ForeignKeyRole::Left => self.fk_left(s, spec, &application, index, record, key, &mut effects)?,
                ForeignKeyRole::Right => self.fk_right(s, spec, &application, index, record, key, &mut effects)?,
                ForeignKeyRole::Subscription => {
                    self.fk_subscription(s, spec, &application, index, record, key, &mut effects)?
                }
                ForeignKeyRole::Response => self.fk_response(s, spec, index, record, key, &mut effects)?,
            }
        }
        let stage = &self.stages[s];
        stage.meters.dropped(effects.dropped + effects.stale);
        if effects.stale > 0 {
            tracing::debug!(task = %self.id, stale = effects.stale, "foreign-key join answers for left values that changed since: dropped");
        }
        for send in &effects.sends {
            let outgoing = OutgoingRecord {
                topic: &send.topic,
                partition: send.partition,
                key: Some(&send.key),
                value: Some(&send.value),
                headers: Vec::new(),
                timestamp: send.timestamp,
                input: Some(ctx.input(send.input)),
                offsets: None,
                listener: None,
            };
            self.producer
                .send(outgoing, &batch.ack)
                .map_err(|source| TaskError::Produce {
                    task: self.id.clone(),
                    topic: send.topic.clone(),
                    source,
                })?;
        }
        for (index, message) in std::mem::take(&mut effects.letters) {
            self.dead_letter(
                s,
                &records[index],
                &sources[index],
                kind::RECORD_ERROR,
                &message,
                &batch.ack,
            )?;
        }
        let mut forwards = Forwards::new();
        self.emit_fk(s, &ctx, effects.emits, batch, &mut forwards)?;
        self.persist_writes(s, &batch.ack)?;
        self.run_forwards(forwards, batch)
    }

    /// The foreign key of a left value, or why it has none it should have
    /// (dead-lettered; the row then counts as one without a key).
    fn foreign_key(
        spec: &ForeignKeyJoinSpec,
        value: Option<&[u8]>,
        index: usize,
        effects: &mut Effects,
    ) -> Option<Option<Vec<u8>>> {
        let value = value?;
        Some(match spec.foreign_key.extract(value) {
            Ok(fk) => fk,
            Err(e) => {
                effects.letters.push((
                    index,
                    format!("foreign-key join '{}': {e}; the row joins nothing", spec.name),
                ));
                None
            }
        })
    }

    /// A left table update: applied, then its subscriptions sent.
    #[allow(clippy::too_many_arguments, reason = "one record's context")]
    fn fk_left(
        &mut self,
        s: usize,
        spec: &ForeignKeyJoinSpec,
        application: &str,
        index: usize,
        record: &InputRecord,
        key: &[u8],
        effects: &mut Effects,
    ) -> Result<(), TaskError> {
        let old = self.fk_lookup(s, &spec.left, key)?;
        self.fk_apply(s, record)?;
        // An old value that was malformed was dead-lettered when it came.
        let old_fk = old.as_deref().map(|v| spec.foreign_key.extract(v).ok().flatten());
        let new_fk = Self::foreign_key(spec, record.value.as_deref(), index, effects);
        let update = fk_join::left_update(spec.kind, old_fk, new_fk);
        let hash = fk_join::hash(record.value.as_deref());
        for (right_key, instruction) in update.send {
            let subscription = Subscription {
                instruction,
                hash,
                partition: self.id.partition,
                left_key: key.to_vec(),
            };
            effects.sends.push(Send {
                topic: spec.subscription_topic(application),
                partition: None,
                key: right_key,
                value: subscription.encode(),
                timestamp: record.timestamp,
                input: index,
            });
        }
        match update.local {
            None => {}
            Some(Local::Unmatched) => effects.emits.push(Emit::Join {
                input: index,
                result: JoinResult {
                    join: spec.name.clone(),
                    key: Some(key.to_vec()),
                    left: record.value.as_deref().map(<[u8]>::to_vec),
                    right: None,
                    timestamp: record.timestamp,
                },
            }),
            Some(Local::Tombstone) => effects.emits.push(Emit::Tombstone {
                input: index,
                key: key.to_vec(),
                timestamp: record.timestamp,
                output: spec.output.clone(),
            }),
        }
        Ok(())
    }

    /// A right table update: applied, then every subscriber answered.
    #[allow(clippy::too_many_arguments, reason = "one record's context")]
    fn fk_right(
        &mut self,
        s: usize,
        spec: &ForeignKeyJoinSpec,
        application: &str,
        index: usize,
        record: &InputRecord,
        key: &[u8],
        effects: &mut Effects,
    ) -> Result<(), TaskError> {
        self.fk_apply(s, record)?;
        let subscribers = {
            let store = self.fk_store(s)?;
            let mut guard = store.lock();
            let mut view = guard.host();
            view.range(&spec.store, &fk_join::subscribers(key), &fk_join::subscribers_end(key))
                .map_err(|e| self.storage(e))?
        };
        for (stored_key, stored) in subscribers {
            let (Some(left_key), Ok((hash, partition))) = (
                fk_join::left_key_of(&stored_key, key),
                fk_join::decode_subscriber(&stored),
            ) else {
                return Err(self.storage(crate::state::store::AccessError::Storage(format!(
                    "store {} holds an entry rill did not write",
                    spec.store
                ))));
            };
            let response = Response {
                hash,
                right: record.value.as_deref().map(<[u8]>::to_vec),
            };
            effects.sends.push(Send {
                topic: spec.response_topic(application),
                partition: Some(partition),
                key: left_key.to_vec(),
                value: response.encode(),
                timestamp: record.timestamp,
                input: index,
            });
        }
        Ok(())
    }

    /// A subscription: kept or forgotten, and answered as it asks.
    #[allow(clippy::too_many_arguments, reason = "one record's context")]
    fn fk_subscription(
        &mut self,
        s: usize,
        spec: &ForeignKeyJoinSpec,
        application: &str,
        index: usize,
        record: &InputRecord,
        right_key: &[u8],
        effects: &mut Effects,
    ) -> Result<(), TaskError> {
        let Some(subscription) = decoded(spec, record, index, Subscription::decode, effects) else {
            return Ok(());
        };
        let stored_key = fk_join::subscription_key(right_key, &subscription.left_key);
        {
            let store = self.fk_store(s)?;
            let mut guard = store.lock();
            let mut view = guard.host();
            let written = match subscription.instruction {
                Instruction::DeleteKeyNoPropagate | Instruction::DeleteKeyAndPropagate => {
                    view.delete(&spec.store, stored_key)
                }
                Instruction::PropagateNullIfNoFkValAvailable | Instruction::PropagateOnlyIfFkValAvailable => view.put(
                    &spec.store,
                    stored_key,
                    fk_join::encode_subscriber(&subscription.hash, subscription.partition),
                ),
            };
            written.map_err(|e| self.storage(e))?;
        }
        let right = match subscription.instruction {
            Instruction::DeleteKeyNoPropagate => return Ok(()),
            Instruction::DeleteKeyAndPropagate => None,
            Instruction::PropagateNullIfNoFkValAvailable => self.fk_lookup(s, &spec.right, right_key)?,
            Instruction::PropagateOnlyIfFkValAvailable => match self.fk_lookup(s, &spec.right, right_key)? {
                Some(value) => Some(value),
                None => return Ok(()),
            },
        };
        let response = Response {
            hash: subscription.hash,
            right,
        };
        effects.sends.push(Send {
            topic: spec.response_topic(application),
            partition: Some(subscription.partition),
            key: subscription.left_key,
            value: response.encode(),
            timestamp: record.timestamp,
            input: index,
        });
        Ok(())
    }

    /// An answer: joined with the current left value if it is still the
    /// value asked for.
    fn fk_response(
        &mut self,
        s: usize,
        spec: &ForeignKeyJoinSpec,
        index: usize,
        record: &InputRecord,
        left_key: &[u8],
        effects: &mut Effects,
    ) -> Result<(), TaskError> {
        let Some(response) = decoded(spec, record, index, Response::decode, effects) else {
            return Ok(());
        };
        let current = self.fk_lookup(s, &spec.left, left_key)?;
        let emit = match fk_join::on_response(spec.kind, current.as_deref(), &response) {
            Outcome::Stale => {
                effects.stale += 1;
                return Ok(());
            }
            Outcome::Tombstone => Emit::Tombstone {
                input: index,
                key: left_key.to_vec(),
                timestamp: record.timestamp,
                output: spec.output.clone(),
            },
            Outcome::Join { left, right } => Emit::Join {
                input: index,
                result: JoinResult {
                    join: spec.name.clone(),
                    key: Some(left_key.to_vec()),
                    left: Some(left.to_vec()),
                    right: right.map(<[u8]>::to_vec),
                    timestamp: record.timestamp,
                },
            },
        };
        effects.emits.push(emit);
        Ok(())
    }

    /// Stage `s`'s store; a foreign-key join always has one.
    fn fk_store(&self, s: usize) -> Result<crate::state::store::SharedTaskStore, TaskError> {
        self.stages[s].state.as_ref().map(|state| state.store()).ok_or_else(|| {
            self.storage(crate::state::store::AccessError::Storage(
                "a foreign-key join needs local state, which this task has none of".into(),
            ))
        })
    }

    /// The current row of `key` in table `topic` (this batch's updates
    /// included).
    fn fk_lookup(&self, s: usize, topic: &str, key: &[u8]) -> Result<Option<Vec<u8>>, TaskError> {
        let store = self.fk_store(s)?;
        let guard = store.lock();
        guard.lookup(topic, key).map_err(|e| self.storage(e))
    }

    /// Applies a table row to the stage's table store.
    fn fk_apply(&mut self, s: usize, record: &InputRecord) -> Result<(), TaskError> {
        let Some(state) = &mut self.stages[s].state else {
            return Ok(());
        };
        state.apply_table(record).map_err(|source| TaskError::State {
            task: self.id.clone(),
            source,
        })
    }

    /// Calls the plugin's `join` for the run's join results (one call) and
    /// routes every result, tombstones included, in the run's order.
    fn emit_fk(
        &mut self,
        s: usize,
        run: &Run<'_>,
        emits: Vec<Emit>,
        batch: &InFlight,
        forwards: &mut Forwards,
    ) -> Result<(), TaskError> {
        if emits.is_empty() {
            return Ok(());
        }
        let results: Vec<JoinResult> = emits
            .iter()
            .filter_map(|e| match e {
                Emit::Join { result, .. } => Some(result.clone()),
                Emit::Tombstone { .. } => None,
            })
            .collect();
        let (mut outputs, failure) = if results.is_empty() {
            (Vec::new().into_iter(), kind::JOIN_ERROR)
        } else {
            let (outputs, failure) = self.call_join(s, &results)?;
            (outputs.into_iter(), failure)
        };
        let mut scratch = Pending {
            forwards: std::mem::take(forwards),
            windowed: Vec::new(),
        };
        for emit in emits {
            let (input, result) = match emit {
                Emit::Tombstone {
                    input,
                    key,
                    timestamp,
                    output,
                } => (
                    input,
                    Ok(vec![OutputRecord {
                        output,
                        key: Some(key.into()),
                        value: None,
                        headers: Vec::new(),
                        timestamp: Some(timestamp),
                    }]),
                ),
                Emit::Join { input, result, .. } => {
                    let output = outputs.next().expect("one per join result");
                    let output = output.map(|mut records| {
                        for o in &mut records {
                            o.timestamp.get_or_insert(result.timestamp);
                        }
                        records
                    });
                    if let Err(message) = &output {
                        self.dead_letter(
                            s,
                            &run.records[input],
                            &run.sources[input],
                            failure,
                            message,
                            &batch.ack,
                        )?;
                        continue;
                    }
                    (input, output)
                }
            };
            self.route(
                s,
                run.records,
                input,
                &run.sources[input],
                run.input(input),
                result,
                batch,
                &mut scratch,
            )?;
            if let Some((_, r)) = scratch.windowed.pop() {
                scratch.windowed.clear();
                self.dead_letter(
                    s,
                    &r.record,
                    &run.sources[input],
                    kind::JOIN_ERROR,
                    "join returned an output to a window store; join results go to outputs",
                    &batch.ack,
                )?;
            }
        }
        *forwards = scratch.forwards;
        Ok(())
    }

    /// Calls stage `s`'s `join` with `results`: one outcome per result (an
    /// error message to dead-letter with), and the dead-letter kind errors
    /// get (`join-error`, or `trap` when the plugin trapped).
    pub(super) fn call_join(
        &mut self,
        s: usize,
        results: &[JoinResult],
    ) -> Result<(Vec<Result<Vec<OutputRecord>, String>>, &'static str), TaskError> {
        let started = Instant::now();
        let outcome = self.stages[s].processor.join(results);
        self.stages[s].meters.call(started.elapsed());
        Ok(match outcome {
            Ok(outputs) if outputs.len() == results.len() => (outputs, kind::JOIN_ERROR),
            Ok(outputs) => {
                let message = format!(
                    "join returned {} results for {} join results",
                    outputs.len(),
                    results.len()
                );
                (vec![Err(message); results.len()], kind::JOIN_ERROR)
            }
            Err(trap) => {
                self.after_trap(s, &trap)?;
                (vec![Err(format!("join trapped: {trap:#}")); results.len()], kind::TRAP)
            }
        })
    }
}
