//! Where a processor's results go: each output to its topics, to the
//! stages it feeds in memory, or to a windowed store; a record the plugin
//! failed, or whose output the brokers refused for what it is, to the
//! dead-letter topic.

use super::*;
use crate::record::OutputRecord;
use crate::task::routing::{self, Destination, Refusal, RoutedOutput};

impl StreamTask {
    /// Sends one record's outputs (`records[index]`, numbered `input` for
    /// refusals), feeds the stages its outputs reach in memory, or
    /// dead-letters it. An output the producer refuses for what it is (too
    /// large, bad timestamp) dead-letters the record; one refused for its
    /// topic or the cluster stops the task.
    #[allow(clippy::too_many_arguments, reason = "one record's context")]
    pub(super) fn route(
        &self,
        s: usize,
        records: &[InputRecord],
        index: usize,
        source: &Arc<str>,
        input: u32,
        result: RecordResult,
        batch: &InFlight,
        pending: &mut Pending,
    ) -> Result<(), TaskError> {
        let record = &records[index];
        let stage = &self.spec.stages[s];
        let ack = &batch.ack;
        let mut outputs = match result {
            Err(message) => return self.dead_letter(s, record, source, kind::RECORD_ERROR, &message, ack),
            Ok(outputs) => outputs,
        };
        if outputs.is_empty() {
            self.stages[s].meters.dropped(1);
            return Ok(());
        }
        // Outputs to a windowed store are aggregated after the call.
        let windows = &self.stages[s].windows;
        if !windows.is_empty() {
            outputs.retain_mut(|o| match windows.iter().position(|w| w.name == o.output) {
                None => true,
                Some(w) => {
                    pending.windowed.push((
                        w,
                        crate::state::window::Routed {
                            record: InputRecord {
                                topic: record.topic.clone(),
                                partition: record.partition,
                                offset: record.offset,
                                timestamp: o.timestamp.unwrap_or(record.timestamp),
                                key: o.key.take(),
                                value: o.value.take(),
                                headers: std::mem::take(&mut o.headers),
                            },
                            input: index,
                        },
                    ));
                    false
                }
            });
            if outputs.is_empty() {
                return Ok(());
            }
        }
        // Every output is placed before any is sent: a record whose outputs
        // cannot all go is dead-lettered whole.
        let routed = &stage.processor.routed;
        for o in &outputs {
            let refusal = match routing::decide(&o.output, &stage.routes, routed) {
                Ok(Destination::Declared(_)) => None,
                Ok(Destination::Chosen { output, topic }) => self.chosen_topic(s, output, topic)?,
                Err(refusal) => Some(refusal),
            };
            if let Some(refusal) = refusal {
                return self.dead_letter(s, record, source, refusal.kind, &refusal.message, ack);
            }
        }
        for output in outputs {
            let route = match routing::decide(&output.output, &stage.routes, routed).expect("placed above") {
                Destination::Declared(route) => route,
                Destination::Chosen { output: chosen, topic } => {
                    // A chosen topic is only written: an application cannot
                    // connect a topic-pattern output in memory.
                    self.send_output(s, record, source, input, &output, &chosen.name, [topic], ack)?;
                    continue;
                }
            };
            self.send_output(
                s,
                record,
                source,
                input,
                &output,
                &output.output,
                route.topics.iter().map(|t| &**t),
                ack,
            )?;
            // In memory, each downstream stage gets the record as if read
            // back from the output's topic, at the source's position.
            let timestamp = output.timestamp.unwrap_or(record.timestamp);
            let mut output = Some(output);
            for (n, (to, topic)) in route.forward.iter().enumerate() {
                let last = n + 1 == route.forward.len();
                let o = if last {
                    output.take().expect("taken once, last")
                } else {
                    output.clone().expect("present until the last")
                };
                let (fed, fed_sources) = pending.forwards.entry(*to).or_default();
                fed.push(InputRecord {
                    topic: topic.clone(),
                    partition: record.partition,
                    offset: record.offset,
                    timestamp,
                    key: o.key,
                    value: o.value,
                    headers: o.headers,
                });
                fed_sources.push(source.clone());
            }
        }
        Ok(())
    }

    /// Produces `output` (of declared output `name`) to each of `topics`,
    /// counted against `ack`. A topic the producer refuses the record for
    /// (too large, bad timestamp) dead-letters the input; one refused for
    /// the topic or the cluster stops the task.
    #[allow(clippy::too_many_arguments, reason = "one output's context")]
    fn send_output<'t>(
        &self,
        s: usize,
        record: &InputRecord,
        source: &str,
        input: u32,
        output: &OutputRecord,
        name: &str,
        topics: impl IntoIterator<Item = &'t str>,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        let timestamp = output.timestamp.unwrap_or(record.timestamp);
        let mut sent = 0;
        for topic in topics {
            if self.intercepts_sends[s] {
                // Held for the interceptors' `on-send`, sent when the batch
                // is sealed (`flush_outbox`).
                self.outbox.borrow_mut().push(crate::intercept::Sending {
                    id: 0,
                    stage: s,
                    input,
                    topic: Arc::from(topic),
                    key: output.key.clone(),
                    value: output.value.clone(),
                    headers: output.headers.clone(),
                    timestamp,
                });
                sent += 1;
                continue;
            }
            let outgoing = OutgoingRecord {
                topic,
                partition: None,
                key: output.key.as_deref(),
                value: output.value.as_deref(),
                headers: output
                    .headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_deref()))
                    .collect(),
                timestamp,
                input: Some(input),
                offsets: None,
                listener: None,
            };
            match self.producer.send(outgoing, ack) {
                Ok(()) => sent += 1,
                Err(error) if error.rdkafka_error_code().is_some_and(refuses_record) => {
                    let message = refused_message(name, topic, &error.to_string());
                    tracing::warn!(task = %self.id, "{message}; dead-lettering the input {source}/{}@{}", record.partition, record.offset);
                    self.dead_letter(s, record, source, kind::OUTPUT_REFUSED, &message, ack)?;
                }
                Err(source) => {
                    return Err(TaskError::Produce {
                        task: self.id.clone(),
                        topic: topic.to_string(),
                        source,
                    });
                }
            }
        }
        if sent > 0 {
            self.stages[s].meters.produced(name, sent);
        }
        Ok(())
    }

    /// Whether `topic`, chosen for a record of `output`, can be written:
    /// `None` when it exists (or was just created, `create = true`), else
    /// why the record is dead-lettered. A missing topic is warned about
    /// once per topic and counted per record. The cluster not answering
    /// stops the task.
    fn chosen_topic(&self, s: usize, output: &RoutedOutput, topic: &str) -> Result<Option<Refusal>, TaskError> {
        let topics = &self.spec.stages[s].processor.topics;
        let lookup = |source| TaskError::TopicLookup {
            task: self.id.clone(),
            topic: topic.to_string(),
            source,
        };
        if topics.exists(topic).map_err(lookup)? {
            return Ok(None);
        }
        let name = &output.name;
        if output.spec.create {
            return Ok(match topics.create(topic, output.partitions) {
                Ok(()) => {
                    tracing::info!(task = %self.id, "created topic {topic} ({} partitions) for output '{name}' (create = true)", output.partitions);
                    None
                }
                Err(error) => {
                    let message = format!(
                        "output '{name}' chose topic '{topic}', which does not exist and could not be created: {error}"
                    );
                    if output.first_miss(topic) {
                        tracing::warn!(task = %self.id, "{message}; its records are dead-lettered");
                    }
                    self.stages[s].meters.topic_missing(name, topic);
                    Some(Refusal {
                        kind: kind::TOPIC_MISSING,
                        message,
                    })
                }
            });
        }
        if output.first_miss(topic) {
            tracing::warn!(
                task = %self.id,
                "output '{name}' chose topic '{topic}', which does not exist; its records are dead-lettered (create it, or set create = true on outputs.{name})"
            );
        }
        self.stages[s].meters.topic_missing(name, topic);
        Ok(Some(Refusal {
            kind: kind::TOPIC_MISSING,
            message: format!(
                "output '{name}' chose topic '{topic}', which does not exist; rill does not create it (create = false)"
            ),
        }))
    }

    pub(super) fn dead_letter(
        &self,
        s: usize,
        record: &InputRecord,
        source: &str,
        kind: &str,
        message: &str,
        ack: &Arc<BatchAck>,
    ) -> Result<(), TaskError> {
        let stage = &self.stages[s];
        stage.meters.dead_lettered(kind);
        crate::observe::telemetry().event("dead-letter", &stage.letters.task, format!("{kind}: {message}"));
        stage
            .letters
            .send(&*self.producer, record, source, kind, message, ack)
            .map_err(|error| TaskError::Produce {
                task: self.id.clone(),
                topic: stage.spec.dead_letter.clone(),
                source: error,
            })
    }

    pub(super) fn send(&self, record: OutgoingRecord<'_>, ack: &Arc<BatchAck>) -> Result<(), TaskError> {
        let topic = record.topic;
        self.producer.send(record, ack).map_err(|source| TaskError::Produce {
            task: self.id.clone(),
            topic: topic.to_string(),
            source,
        })
    }
}
