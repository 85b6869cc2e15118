//! Where a processor's results go: each output to its topics, to the
//! stages it feeds in memory, or to a windowed store; a record the plugin
//! failed, or whose output the brokers refused for what it is, to the
//! dead-letter topic.

use super::*;

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
        if let Some(undeclared) = outputs.iter().find(|o| stage.route(&o.output).is_none()) {
            let mut declared: Vec<&str> = stage.routes.iter().map(|(name, _)| name.as_str()).collect();
            declared.sort_unstable();
            let message = format!(
                "emitted to output '{}', which the manifest does not declare (declared: {})",
                undeclared.output,
                declared.join(", ")
            );
            return self.dead_letter(s, record, source, kind::UNDECLARED_OUTPUT, &message, ack);
        }
        let mut sent = 0;
        for output in outputs {
            let route = stage.route(&output.output).expect("checked above");
            let before = sent;
            let timestamp = output.timestamp.unwrap_or(record.timestamp);
            if self.intercepts_sends[s] {
                // Held for the interceptors' `on-send`, sent when the
                // batch is sealed (`flush_outbox`).
                let mut outbox = self.outbox.borrow_mut();
                for topic in &route.topics {
                    outbox.push(crate::intercept::Sending {
                        id: 0,
                        stage: s,
                        input,
                        topic: topic.clone(),
                        key: output.key.clone(),
                        value: output.value.clone(),
                        headers: output.headers.clone(),
                        timestamp,
                    });
                    sent += 1;
                }
            }
            for topic in route.topics.iter().filter(|_| !self.intercepts_sends[s]) {
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
                        let message = refused_message(&output.output, topic, &error.to_string());
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
            if sent > before {
                self.stages[s].meters.produced(&output.output, sent - before);
            }
            // In memory, each downstream stage gets the record as if read
            // back from the output's topic, at the source's position.
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
                    topic: topic.to_string(),
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
