//! One task's interceptors, in declaration order: an instance of each
//! interceptor covering any of the task's stages, the calls for the events
//! its manifest lists, and the rule that a failing interceptor changes
//! nothing (its error is logged and counted, a trapped instance is
//! replaced, records go on as if it had passed them).

use super::bindings::{
    Acknowledgement, ChangedRecord, ChangedSend, CommittedOffset, ConsumeAction, ConsumedRecord, Header,
    RecordMetadata, SendAction, SendRecord,
};
use super::{CallFailure, Inbox, InterceptorInstance, InterceptorSpec};
use crate::kafka::producer::DeliveryListener;
use crate::manifest::{InterceptEvent, InterceptorManifest};
use crate::observe::metrics;
use crate::record::InputRecord;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A record a stage is about to send to an output topic, held until the
/// chain's `on-send` has seen (and maybe changed) it.
#[derive(Debug, Clone)]
pub struct Sending {
    /// Assigned by [`Chain::send`]; its acknowledgement carries it.
    pub id: u64,
    /// The stage that produced it.
    pub stage: usize,
    /// Its input's index in the batch's refusals registry.
    pub input: u32,
    /// Destination topic.
    pub topic: Arc<str>,
    /// Key; `None` is null.
    pub key: Option<bytes::Bytes>,
    /// Value; `None` is a tombstone.
    pub value: Option<bytes::Bytes>,
    /// Headers.
    pub headers: Vec<crate::record::Header>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// One interceptor in a task's chain.
struct Link {
    spec: Arc<InterceptorSpec>,
    /// The manifest of the build `instance` came from.
    manifest: Arc<InterceptorManifest>,
    /// The spec generation `instance` came from.
    generation: u64,
    /// `None` after a trap or a failed start: started again at its next call.
    instance: Option<InterceptorInstance>,
    /// The task's stages (by index) it covers.
    stages: Vec<usize>,
    /// `<interceptor>/<task>`: its log tag.
    tag: String,
    /// Calls and time per event, in [`InterceptEvent::ALL`]'s order.
    calls: Vec<(::metrics::Counter, ::metrics::Histogram)>,
}

/// The interceptors of one task.
pub struct Chain {
    links: Vec<Link>,
    task: String,
    partition: i32,
    inbox: Arc<Inbox>,
    listener: Arc<dyn DeliveryListener>,
    next_id: u64,
    /// Sends awaiting their acknowledgement: id to the stage that sent it.
    in_flight: HashMap<u64, usize>,
    /// Each source topic of the task and the stage it enters.
    sources: Vec<(Arc<str>, usize)>,
}

impl Chain {
    /// The chain of task `task` (of partition `partition`) whose stage
    /// `s` is covered by `stages[s]`, in order; `sources`: each source
    /// topic and the stage it enters. `None` when no stage has any.
    pub fn new(
        task: &str,
        partition: i32,
        stages: &[Vec<Arc<InterceptorSpec>>],
        sources: Vec<(Arc<str>, usize)>,
    ) -> Option<Chain> {
        let mut links: Vec<Link> = Vec::new();
        for (s, specs) in stages.iter().enumerate() {
            for spec in specs {
                match links.iter_mut().find(|l| Arc::ptr_eq(&l.spec, spec)) {
                    Some(link) => link.stages.push(s),
                    None => links.push(Link {
                        manifest: spec.manifest(),
                        generation: spec.generation(),
                        instance: None,
                        stages: vec![s],
                        tag: format!("{}/{task}", spec.name),
                        calls: InterceptEvent::ALL
                            .iter()
                            .map(|event| {
                                let (name, event) = (spec.name.to_string(), event.name());
                                (
                                    ::metrics::counter!(metrics::INTERCEPTOR_CALLS, "interceptor" => name.clone(), "task" => task.to_string(), "event" => event),
                                    ::metrics::histogram!(metrics::INTERCEPTOR_LATENCY, "interceptor" => name, "task" => task.to_string(), "event" => event),
                                )
                            })
                            .collect(),
                        spec: spec.clone(),
                    }),
                }
            }
        }
        if links.is_empty() {
            return None;
        }
        let inbox = Arc::new(Inbox::default());
        let mut chain = Chain {
            links,
            task: task.to_string(),
            partition,
            listener: inbox.clone(),
            inbox,
            next_id: 0,
            in_flight: HashMap::new(),
            sources,
        };
        // Started now so a task begins with warm instances; one that fails
        // is logged and retried at its first call.
        for link in 0..chain.links.len() {
            chain.instance(link);
        }
        Some(chain)
    }

    /// The interceptors' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.links.iter().map(|l| &*l.spec.name).collect()
    }

    /// Whether stage `s`'s sends go through `on-send` or report to
    /// `on-acknowledgement`: they are then held for [`Self::send`].
    pub fn intercepts_sends(&self, s: usize) -> bool {
        self.links.iter().any(|l| {
            l.stages.contains(&s)
                && (l.manifest.handles(InterceptEvent::Send) || l.manifest.handles(InterceptEvent::Acknowledgement))
        })
    }

    /// `on-consume`: each interceptor in turn gets the records (not yet
    /// dropped) entering the stages it covers; `enters[i]` is the stage
    /// record `i` enters and whether it is a table update (tables are
    /// state, not consumed records, and are not shown). Changes are
    /// applied in place; the result says which records were dropped.
    pub fn consume(&mut self, records: &mut [InputRecord], enters: &[(usize, bool)]) -> Vec<bool> {
        let mut dropped = vec![false; records.len()];
        for link in 0..self.links.len() {
            if !self.links[link].manifest.handles(InterceptEvent::Consume) {
                continue;
            }
            let stages = &self.links[link].stages;
            let shown: Vec<usize> = (0..records.len())
                .filter(|&i| !dropped[i] && !enters[i].1 && stages.contains(&enters[i].0))
                .collect();
            if shown.is_empty() {
                continue;
            }
            // The records' bytes are lent to the call, not copied: moved out
            // and back.
            let batch: Vec<ConsumedRecord> = shown.iter().map(|&i| lend_consumed(&mut records[i])).collect();
            let outcome = self.call(link, InterceptEvent::Consume, |i| i.on_consume(&batch));
            for (&i, lent) in shown.iter().zip(batch) {
                return_consumed(&mut records[i], lent);
            }
            let Some(actions) = outcome else {
                continue;
            };
            for (i, action) in shown.into_iter().zip(actions) {
                match action {
                    ConsumeAction::Pass => {}
                    ConsumeAction::Drop => dropped[i] = true,
                    ConsumeAction::Change(ChangedRecord {
                        key,
                        value,
                        headers,
                        timestamp,
                    }) => {
                        let record = &mut records[i];
                        record.key = key.map(Into::into);
                        record.value = value.map(Into::into);
                        record.headers = headers.into_iter().map(header_in).collect();
                        record.timestamp = timestamp;
                    }
                }
            }
        }
        dropped
    }

    /// `on-send`: numbers `sends` (their acknowledgements carry the id),
    /// then each interceptor in turn gets those of the stages it covers
    /// and may change them in place.
    pub fn send(&mut self, sends: &mut [Sending]) {
        for sending in sends.iter_mut() {
            sending.id = self.next_id;
            self.next_id += 1;
            if self
                .links
                .iter()
                .any(|l| l.stages.contains(&sending.stage) && l.manifest.handles(InterceptEvent::Acknowledgement))
            {
                self.in_flight.insert(sending.id, sending.stage);
            }
        }
        for link in 0..self.links.len() {
            if !self.links[link].manifest.handles(InterceptEvent::Send) {
                continue;
            }
            let stages = &self.links[link].stages;
            let shown: Vec<usize> = (0..sends.len()).filter(|&i| stages.contains(&sends[i].stage)).collect();
            if shown.is_empty() {
                continue;
            }
            let batch: Vec<SendRecord> = shown.iter().map(|&i| lend_send(&mut sends[i])).collect();
            let outcome = self.call(link, InterceptEvent::Send, |i| i.on_send(&batch));
            for (&i, lent) in shown.iter().zip(batch) {
                return_send(&mut sends[i], lent);
            }
            let Some(actions) = outcome else {
                continue;
            };
            for (i, action) in shown.into_iter().zip(actions) {
                if let SendAction::Change(ChangedSend {
                    key,
                    value,
                    headers,
                    timestamp,
                }) = action
                {
                    let sending = &mut sends[i];
                    sending.key = key.map(Into::into);
                    sending.value = value.map(Into::into);
                    sending.headers = headers.into_iter().map(header_in).collect();
                    if let Some(timestamp) = timestamp {
                        sending.timestamp = timestamp;
                    }
                }
            }
        }
    }

    /// Who the producer tells about `sending`'s delivery, if anyone waits
    /// for it.
    pub fn listener_for(&self, sending: &Sending) -> Option<(&Arc<dyn DeliveryListener>, u64)> {
        self.in_flight
            .contains_key(&sending.id)
            .then_some((&self.listener, sending.id))
    }

    /// The task's turn: delivery reports noted since the last turn go to
    /// `on-acknowledgement`, then `committed` (topic, next offset) of the
    /// task's partition to `on-commit`.
    pub fn turn(&mut self, committed: Vec<(Arc<str>, i64)>) {
        self.acknowledge();
        if committed.is_empty() {
            return;
        }
        for link in 0..self.links.len() {
            if !self.links[link].manifest.handles(InterceptEvent::Commit) {
                continue;
            }
            let stages = &self.links[link].stages;
            let offsets: Vec<CommittedOffset> = committed
                .iter()
                .filter(|(topic, _)| {
                    self.sources
                        .iter()
                        .any(|(source, s)| source == topic && stages.contains(s))
                })
                .map(|(topic, offset)| CommittedOffset {
                    topic: topic.to_string(),
                    partition: self.partition,
                    offset: *offset,
                })
                .collect();
            if !offsets.is_empty() {
                self.call(link, InterceptEvent::Commit, |i| i.on_commit(&offsets));
            }
        }
    }

    fn acknowledge(&mut self) {
        let reports = self.inbox.take();
        if reports.is_empty() {
            return;
        }
        let acks: Vec<(usize, Acknowledgement)> = reports
            .into_iter()
            .filter_map(|(id, topic, result)| {
                let stage = self.in_flight.remove(&id)?;
                let outcome = result.map(|(partition, offset, timestamp)| RecordMetadata {
                    partition,
                    offset,
                    timestamp,
                });
                Some((stage, Acknowledgement { id, topic, outcome }))
            })
            .collect();
        for link in 0..self.links.len() {
            if !self.links[link].manifest.handles(InterceptEvent::Acknowledgement) {
                continue;
            }
            let stages = &self.links[link].stages;
            let shown: Vec<Acknowledgement> = acks
                .iter()
                .filter(|(s, _)| stages.contains(s))
                .map(|(_, ack)| ack.clone())
                .collect();
            if !shown.is_empty() {
                self.call(link, InterceptEvent::Acknowledgement, |i| i.on_acknowledgement(&shown));
            }
        }
    }

    /// Link `link`'s instance, started (or switched to a new build) if
    /// needed; `None` when it cannot start (logged and counted).
    fn instance(&mut self, link: usize) -> Option<&mut InterceptorInstance> {
        let l = &mut self.links[link];
        let generation = l.spec.generation();
        if l.generation != generation {
            l.instance = None;
            l.generation = generation;
            l.manifest = l.spec.manifest();
        }
        if l.instance.is_none() {
            match l.spec.current().start(&l.tag) {
                Ok(instance) => l.instance = Some(instance),
                Err(error) => {
                    tracing::error!(interceptor = %l.spec.name, task = %self.task, "cannot start an instance; records go on without it: {error}");
                    l.spec.note_start_error();
                    count_error(&l.spec.name, &self.task, "start", "start");
                    return None;
                }
            }
        }
        l.instance.as_mut()
    }

    /// One call of `event` on link `link`: counted and timed; a failure is
    /// logged and counted, a trapped instance dropped, and `None` returned
    /// (the caller applies nothing).
    fn call<T>(
        &mut self,
        link: usize,
        event: InterceptEvent,
        call: impl FnOnce(&mut InterceptorInstance) -> Result<T, CallFailure>,
    ) -> Option<T> {
        let task = self.task.clone();
        let instance = self.instance(link)?;
        let started = Instant::now();
        let outcome = call(instance);
        let l = &mut self.links[link];
        let (calls, seconds) = &l.calls[event as usize];
        calls.increment(1);
        seconds.record(started.elapsed().as_secs_f64());
        l.spec.note_call(event, outcome.is_err());
        match outcome {
            Ok(value) => Some(value),
            Err(failure) => {
                tracing::warn!(interceptor = %l.spec.name, task = %task, event = event.name(), "interceptor failed; its change is not applied and records go on: {failure}");
                count_error(&l.spec.name, &task, event.name(), failure.label());
                if failure.is_trap() {
                    l.instance = None;
                }
                None
            }
        }
    }
}

fn count_error(interceptor: &str, task: &str, event: &'static str, kind: &'static str) {
    ::metrics::counter!(
        metrics::INTERCEPTOR_ERRORS,
        "interceptor" => interceptor.to_string(),
        "task" => task.to_string(),
        "event" => event,
        "kind" => kind
    )
    .increment(1);
}

fn header_out(h: crate::record::Header) -> Header {
    Header {
        key: h.key,
        value: h.value,
    }
}

fn header_in(h: Header) -> crate::record::Header {
    crate::record::Header {
        key: h.key,
        value: h.value,
    }
}

/// `record` as the world shows it, its key, value and headers moved out
/// (not copied) for one call; [`return_consumed`] puts them back.
fn lend_consumed(record: &mut InputRecord) -> ConsumedRecord {
    ConsumedRecord {
        // The topic is shared by the partition's records: shown as a copy.
        topic: record.topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        // A buffer held only here moves out and back without a copy.
        key: record.key.take().map(Vec::from),
        value: record.value.take().map(Vec::from),
        headers: std::mem::take(&mut record.headers)
            .into_iter()
            .map(header_out)
            .collect(),
    }
}

fn return_consumed(record: &mut InputRecord, lent: ConsumedRecord) {
    record.key = lent.key.map(Into::into);
    record.value = lent.value.map(Into::into);
    record.headers = lent.headers.into_iter().map(header_in).collect();
}

/// `sending` as the world shows it, its key, value and headers moved out
/// for one call; [`return_send`] puts them back.
fn lend_send(sending: &mut Sending) -> SendRecord {
    SendRecord {
        id: sending.id,
        topic: sending.topic.to_string(),
        partition: None,
        key: sending.key.take().map(Vec::from),
        value: sending.value.take().map(Vec::from),
        headers: std::mem::take(&mut sending.headers)
            .into_iter()
            .map(header_out)
            .collect(),
        timestamp: Some(sending.timestamp),
    }
}

fn return_send(sending: &mut Sending, lent: SendRecord) {
    sending.key = lent.key.map(Into::into);
    sending.value = lent.value.map(Into::into);
    sending.headers = lent.headers.into_iter().map(header_in).collect();
}
