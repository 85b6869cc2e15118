//! Where a task meets its interceptors (`crate::intercept::Chain`):
//! `on-consume` before the first stage, the held sends of a batch through
//! `on-send` before they are produced, and at each turn (a batch, a tick,
//! the close) the delivery reports and commits noted since the last one.

use super::*;

impl StreamTask {
    /// Acknowledgements and commits noted since the last turn go to the
    /// interceptors (commits noted for a task without any are dropped).
    pub(super) fn intercept_turn(&mut self) {
        let committed = self.progress.take_committed();
        if let Some(chain) = &mut self.chain {
            chain.turn(committed);
        }
    }

    /// `on-consume` over the batch's records as read: changes applied in
    /// place; the records dropped, when any interceptor dropped one.
    pub(super) fn intercept_consume(&mut self, records: &mut [InputRecord]) -> Option<Vec<bool>> {
        let chain = self.chain.as_mut()?;
        let enters: Vec<(usize, bool)> = records
            .iter()
            .map(|r| {
                self.sources
                    .iter()
                    .find(|s| *s.name == *r.topic)
                    .map_or((0, false), |s| (s.stage, s.feeds == super::Feeds::Table))
            })
            .collect();
        let dropped = chain.consume(records, &enters);
        dropped.contains(&true).then_some(dropped)
    }

    /// Sends what the stages held for `on-send`, after the chain has seen
    /// (and maybe changed) it, under the batch's ack. A record the producer
    /// refuses for what it is dead-letters its input, as `route` does; one
    /// refused for its topic or the cluster stops the task.
    pub(super) fn flush_outbox(&mut self, batch: &InFlight) -> Result<(), TaskError> {
        let mut sends = std::mem::take(&mut *self.outbox.borrow_mut());
        if sends.is_empty() {
            return Ok(());
        }
        let Some(chain) = &mut self.chain else {
            return Ok(());
        };
        chain.send(&mut sends);
        let chain = self.chain.as_ref().expect("checked above");
        for sending in &sends {
            let outgoing = OutgoingRecord {
                topic: &sending.topic,
                partition: None,
                key: sending.key.as_deref(),
                value: sending.value.as_deref(),
                headers: sending
                    .headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_deref()))
                    .collect(),
                timestamp: sending.timestamp,
                input: Some(sending.input),
                offsets: None,
                listener: chain.listener_for(sending),
            };
            match self.producer.send(outgoing, &batch.ack) {
                Ok(()) => {}
                Err(error) if error.rdkafka_error_code().is_some_and(refuses_record) => {
                    use crate::kafka::producer::Refusals as _;
                    batch
                        .refusals
                        .refused(sending.input, &sending.topic, &error, &batch.ack)
                        .map_err(|refusal| TaskError::Produce {
                            task: self.id.clone(),
                            topic: sending.topic.to_string(),
                            source: match refusal {
                                crate::kafka::producer::RefusalError::Send { source } => source,
                                _ => error.clone(),
                            },
                        })?;
                }
                Err(source) => {
                    return Err(TaskError::Produce {
                        task: self.id.clone(),
                        topic: sending.topic.to_string(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}
