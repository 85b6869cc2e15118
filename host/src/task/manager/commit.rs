//! The commit paths: at-least-once (consumer offsets of what every task's
//! acknowledged progress allows), exactly-once (one transaction per
//! commit interval: workers stop at a barrier, the producer flushes, the
//! offsets go into the transaction, then held state writes are applied),
//! and the roll-back of every task to its last commit when a transaction
//! aborts.

use super::*;
use crate::kafka::member::{SourceError, TopicPartition};

impl TaskManager {
    /// Commits every task's acknowledged progress. A task whose outputs
    /// could not be delivered is stopped instead (see [`Self::collect`]).
    pub fn commit(&mut self, committer: &dyn OffsetCommitter) {
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.commit_tasks(&ids, committer);
    }

    /// Takes each task's committable positions. A task with an undelivered
    /// output (refused for its topic or the cluster, or timed out) fails:
    /// it stops, loudly, and nothing past the failure is ever committed.
    pub(super) fn collect(&mut self, ids: &[TaskId]) {
        for id in ids {
            let Some(entry) = self.tasks.get(id) else { continue };
            match entry.progress.take_committable() {
                Ok(reached) => {
                    for (topic, offset) in reached {
                        self.positions.of(&TopicPartition::new(&*topic, id.partition)).reached = Some(offset);
                    }
                }
                Err(failure) => {
                    if entry.progress.failure().is_none() {
                        tracing::error!(
                            task = %id,
                            "{failure}; stopping the task without committing past it (a restart reprocesses from the last commit)"
                        );
                        entry.progress.fail(failure.into());
                    }
                }
            }
        }
    }

    pub(super) fn commit_tasks(&mut self, ids: &[TaskId], committer: &dyn OffsetCommitter) {
        if self.transactions.is_some() {
            // One transaction holds every task's work: it commits whole.
            self.commit_transaction(committer);
            return;
        }
        self.collect(ids);
        let due = self.positions.due();
        if due.is_empty() {
            return;
        }
        match committer.commit(&due) {
            Ok(()) => {
                self.refused_by_rebalance = false;
                self.tell_committed(&due);
                self.positions.committed(due);
            }
            Err(error @ CommitError::Rebalancing(_)) => {
                if !self.refused_by_rebalance {
                    if self.incremental {
                        tracing::info!(
                            "offset commit refused: {error}; processing goes on and the commit is retried each \
                             commit interval (only partitions that move are revoked)"
                        );
                    } else {
                        tracing::info!(
                            "offset commit refused: {error}; processing holds and the commit is retried each commit \
                             interval until the rebalance reaches this member (a revoked partition's next owner \
                             resumes from the last commit)"
                        );
                    }
                }
                self.refused_by_rebalance = true;
            }
            Err(error) => tracing::warn!("offset commit failed (will retry): {error}"),
        }
    }

    /// Exactly-once commit (Kafka Streams' EOS v2, one transaction for the
    /// whole process): every worker stops after the batches it was given,
    /// the producer's deliveries settle, the input positions those batches
    /// reached go into the transaction with the group metadata, and it
    /// commits; then the workers apply their tasks' held writes to RocksDB
    /// and go on in the next transaction. Any failure aborts instead, and
    /// the poll loop rolls every task back ([`Self::roll_back`]); a fatal
    /// producer error (fenced) stops the application.
    ///
    /// ```text
    /// workers: ... batch batch │stopped│ ........ apply held writes │ next txn
    /// manager:                  flush, offsets, commit ──► begin ──►│
    ///                           (failure: abort ──► begin, workers drop nothing yet,
    ///                            poll loop: roll_back)
    /// ```
    pub(super) fn commit_transaction(&mut self, committer: &dyn OffsetCommitter) {
        let Some(txn) = self.transactions.clone() else { return };
        if self.aborted.is_some() {
            // Aborted already; nothing may commit until the roll-back.
            return;
        }
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        self.collect(&ids);
        let due = self.due_offsets();
        if due.is_empty() && self.tasks.values().all(|t| t.progress.is_idle()) && !self.sent_since_commit() {
            return;
        }
        let barriers = self.stop_workers();
        let outcome = self.finish_transaction(&*txn, committer, &ids);
        let committed = outcome.is_ok();
        let outcome = outcome.and_then(|due| {
            tracing::debug!(offsets = due.len(), "transaction committed");
            self.tell_committed(&due);
            self.positions.committed(due);
            txn.begin()
        });
        self.resume_workers(barriers, committed);
        if let Err(error) = outcome {
            self.abandon_transaction(&*txn, error);
        }
    }

    /// Tells each task the offsets of its partitions that just committed,
    /// for its interceptors' `on-commit` (delivered at its next turn).
    pub(super) fn tell_committed(&self, due: &[Offset]) {
        for (id, entry) in &self.tasks {
            let topics = self.topics_of(id);
            for (topic, partition, offset) in due {
                if *partition == id.partition && topics.contains(topic) {
                    entry.progress.note_committed(topic.as_str().into(), *offset);
                }
            }
        }
    }

    /// Offsets reached and not yet committed.
    pub(super) fn due_offsets(&self) -> Vec<Offset> {
        self.positions.due()
    }

    /// Whether the open transaction may hold records no input offset
    /// accounts for (timers, a batch still in flight).
    pub(super) fn sent_since_commit(&self) -> bool {
        self.transactions.as_ref().is_some_and(|t| t.has_records())
            || self.tasks.values().any(|t| !t.progress.is_committed())
    }

    /// With every worker stopped: settles deliveries, refuses to commit a
    /// transaction holding part of a failed batch, commits. Returns the
    /// offsets committed.
    pub(super) fn finish_transaction(
        &mut self,
        txn: &dyn Transactions,
        committer: &dyn OffsetCommitter,
        ids: &[TaskId],
    ) -> Result<Vec<Offset>, TxnError> {
        if let Some(fatal) = self.fatal() {
            // A batch the failed worker dropped half-way may be in it.
            return Err(TxnError::Abortable(fatal.to_string()));
        }
        if let Some(worker) = self.dead_worker() {
            return Err(TxnError::Abortable(WorkerFailure::Gone { worker }.to_string()));
        }
        txn.flush()?;
        self.collect(ids);
        if let Some((id, failure)) = self
            .tasks
            .iter()
            .find_map(|(id, t)| Some((id.clone(), t.progress.failure()?)))
        {
            // Part of the failed batch may be in the transaction.
            return Err(TxnError::Abortable(format!("task {id} failed: {failure}")));
        }
        let due = self.due_offsets();
        let lost = || {
            TxnError::Abortable(
                "this member lost its partitions (its session expired), so its transaction must not commit".into(),
            )
        };
        let group = committer.group_metadata();
        if committer.lost() {
            return Err(lost());
        }
        txn.send_offsets(&due, group.as_ref())?;
        // The session may have expired while the offsets were on their way.
        if committer.lost() {
            return Err(lost());
        }
        txn.commit()?;
        Ok(due)
    }

    /// The transaction could not commit: abort it (a fatal error, or an
    /// abort that fails, stops the application) and have the poll loop
    /// roll every task back.
    pub(super) fn abandon_transaction(&mut self, txn: &dyn Transactions, error: TxnError) {
        let why = error.to_string();
        crate::observe::telemetry().event("transaction", "aborted", why.clone());
        metrics::counter!(crate::observe::metrics::TRANSACTIONS, "result" => "aborted").increment(1);
        if let TxnError::Fatal(message) = &error {
            tracing::error!("{message}; stopping (another instance may own this application's transactional.id)");
            set_fatal(&self.fatal, None, message.clone());
            return;
        }
        tracing::warn!("{why}; aborting it and rolling every task back to the last commit");
        if let Err(error) = txn.abort().and_then(|()| txn.begin()) {
            set_fatal(&self.fatal, None, format!("{why}; then {error}"));
            return;
        }
        self.aborted = Some(Aborted::Transaction(error));
    }

    /// Stops every worker after the commands it was given (see
    /// [`Command::Barrier`]); returns how to resume each.
    pub(super) fn stop_workers(&self) -> Vec<(crossbeam_channel::Sender<bool>, crossbeam_channel::Receiver<()>)> {
        let mut barriers = Vec::new();
        let mut stops = Vec::new();
        for worker in 0..self.workers.len() {
            let (stopped_tx, stopped) = bounded(1);
            let (outcome, outcome_rx) = bounded(1);
            let (done_tx, done) = bounded(1);
            self.send(
                worker,
                Command::Barrier {
                    stopped: stopped_tx,
                    outcome: outcome_rx,
                    done: done_tx,
                },
            );
            stops.push(stopped);
            barriers.push((outcome, done));
        }
        for stopped in stops {
            // A worker that died drops the command: nothing to wait for.
            let _ = stopped.recv();
        }
        barriers
    }

    /// Tells every stopped worker how the transaction ended and waits until
    /// each has applied (`committed`) its tasks' held writes.
    pub(super) fn resume_workers(
        &self,
        barriers: Vec<(crossbeam_channel::Sender<bool>, crossbeam_channel::Receiver<()>)>,
        committed: bool,
    ) {
        if committed {
            metrics::counter!(crate::observe::metrics::TRANSACTIONS, "result" => "committed").increment(1);
        }
        for (outcome, _) in &barriers {
            let _ = outcome.send(committed);
        }
        for (_, done) in barriers {
            let _ = done.recv();
        }
    }

    /// Exactly-once: why the transaction was aborted, once, for the poll
    /// loop to [`Self::roll_back`].
    pub fn take_aborted(&mut self) -> Option<Aborted> {
        self.aborted.take()
    }

    /// Exactly-once, after an aborted transaction (`why`): every task is
    /// dropped without committing or keeping its held writes, and created
    /// again from its checkpoint (which never includes uncommitted writes)
    /// with its partitions read again from the committed offsets (`rewind`
    /// moves the consumer there and returns the partitions still assigned,
    /// with their committed offsets; a lost one is left to the next
    /// rebalance). Returns the partitions and those to keep
    /// paused while the tasks restore. Refuses (the caller stops) the
    /// [`MAX_REPLACEMENTS`]th roll-back within [`REPLACEMENT_WINDOW`]: an
    /// abort that repeats is not transient.
    pub fn roll_back(
        &mut self,
        why: &Aborted,
        rewind: &dyn Fn(&[TopicPartition]) -> Result<(Vec<TopicPartition>, HashMap<TopicPartition, i64>), SourceError>,
    ) -> Result<(Vec<TopicPartition>, Vec<TopicPartition>), RecoveryError> {
        let now = Instant::now();
        self.rollbacks.retain(|at| now.duration_since(*at) < REPLACEMENT_WINDOW);
        if self.rollbacks.len() >= MAX_REPLACEMENTS {
            return Err(RecoveryError::RolledBackTooOften { why: why.to_string() });
        }
        self.rollbacks.push(now);
        // Whatever the workers did since the abort is void too.
        if let Some(txn) = self.transactions.clone() {
            let barriers = self.stop_workers();
            let outcome = txn.abort().and_then(|()| txn.begin());
            self.resume_workers(barriers, false);
            outcome.map_err(|source| RecoveryError::Transaction {
                why: why.to_string(),
                source,
            })?;
        }
        let ids: Vec<TaskId> = self.tasks.keys().cloned().collect();
        let mut partitions: Vec<TopicPartition> = ids
            .iter()
            .flat_map(|id| {
                self.topics_of(id)
                    .into_iter()
                    .map(|t| TopicPartition::new(t, id.partition))
            })
            .collect();
        partitions.sort();
        self.close_tasks(&ids, None);
        let (partitions, committed) = rewind(&partitions).map_err(|source| RecoveryError::Rewind {
            why: why.to_string(),
            source,
        })?;
        let restoring = self.handle_assignment(&partitions, &committed);
        tracing::info!("rolled back to the last commit: {} task(s) restarted", ids.len());
        Ok((partitions, restoring))
    }

    /// True when everything processed is committed: no batch awaits its
    /// acknowledgements and the last commit of every position succeeded.
    pub fn is_committed(&self) -> bool {
        self.tasks
            .values()
            .all(|t| t.progress.is_committed() || t.progress.is_paused())
            && self.positions.all_committed()
    }
}
