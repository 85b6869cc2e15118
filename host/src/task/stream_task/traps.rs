//! What a trap does: the call's writes are dropped, a host fault stops the
//! task, and a trapped batch is replayed record by record on a fresh
//! instance so only the poison record is dead-lettered.

use super::*;

impl StreamTask {
    /// After a trap nothing of the run has been produced. A fresh instance
    /// replays it one record at a time, so every record before the poison
    /// one is emitted exactly once and each record that traps on its own
    /// goes to the dead-letter topic.
    #[allow(clippy::too_many_arguments, reason = "one run's context")]
    pub(super) fn replay_after_trap(
        &mut self,
        s: usize,
        records: &Arc<Vec<InputRecord>>,
        run: std::ops::Range<usize>,
        sources: &Arc<Vec<Arc<str>>>,
        base: u32,
        trap: anyhow::Error,
        batch: &InFlight,
        pending: &mut Pending,
    ) -> Result<(), TaskError> {
        let name = self.stages[s].spec.name.clone();
        tracing::warn!(task = %self.id, processor = %name, "plugin trapped ({trap:#}); restarting the instance and replaying the batch record by record");
        self.restart(s)?;
        for index in run.clone() {
            if self.shutdown.abandon() {
                // Shutting down: the rest of the batch is left for a
                // restart (the batch is never committed).
                tracing::warn!(task = %self.id, "shutting down: abandoning the replay of a trapped batch");
                self.abandoned = true;
                return Ok(());
            }
            let record = &records[index];
            let input = base + (index - run.start) as u32;
            match self.call_process(s, records, index..index + 1).0 {
                Ok(mut results) => {
                    self.persist_writes(s, &batch.ack)?;
                    if results[0].is_ok() {
                        self.stages[s].saw(record.timestamp);
                    }
                    self.route(
                        s,
                        records,
                        index,
                        &sources[index],
                        input,
                        results.remove(0),
                        batch,
                        pending,
                    )?
                }
                Err(trap) => {
                    self.trapped(s, &trap)?;
                    self.dead_letter(s, record, &sources[index], kind::TRAP, &format!("{trap:#}"), &batch.ack)?;
                    self.restart(s)?;
                }
            }
        }
        Ok(())
    }

    /// A call of stage `s` trapped: its writes are dropped; a host fault
    /// (local storage failed inside the call) stops the task, any other
    /// trap is counted and left to the caller to handle.
    pub(super) fn trapped(&mut self, s: usize, trap: &anyhow::Error) -> Result<(), TaskError> {
        self.stages[s].discard_writes();
        if let Some(fault) = trap.downcast_ref::<crate::plugin::HostFault>() {
            return Err(TaskError::HostFault {
                task: self.id.clone(),
                source: fault.clone(),
            });
        }
        // The instance decided the kind where it caught the trap.
        let kind = trap
            .downcast_ref::<crate::plugin::Trapped>()
            .map_or(crate::plugin::TrapKind::Trap, |t| t.kind);
        self.stages[s].meters.trap(kind.label());
        Ok(())
    }

    pub(super) fn restart(&mut self, s: usize) -> Result<(), TaskError> {
        self.stages[s].restart().map_err(|source| TaskError::Restart {
            task: self.id.clone(),
            source,
        })
    }
}
