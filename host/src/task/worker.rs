//! Worker threads (Kafka Streams' `num.stream.threads`): each owns the
//! plugin instances of its tasks and runs their batches in arrival order,
//! so a partition's records are always processed in offset order.

use super::TaskId;
use super::clock::Clock;
use super::progress::TaskProgress;
use super::shutdown::Shutdown;
use super::spec::TaskSpec;
use super::stream_task::{StreamTask, TaskError};
use crate::kafka::producer::RecordSink;
use crate::record::InputRecord;
use crate::state::manager::StateManager;
use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// The first fatal error any worker hit: the poll loop stops on it, or
/// (`--on-fatal replace-worker`) replaces the worker it names.
pub type FatalSlot = Arc<Mutex<Option<Fatal>>>;

/// A fatal error, and the worker it happened on (`None`: not on a worker,
/// e.g. a restore that failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Fatal {
    /// The worker, if the error belongs to one.
    pub worker: Option<usize>,
    /// What happened.
    pub message: String,
}

/// Records `message` as the fatal error of `worker`, unless one is there.
pub fn set_fatal(slot: &FatalSlot, worker: Option<usize>, message: String) {
    slot.lock().get_or_insert(Fatal { worker, message });
}

/// What the control plane asks of a worker.
pub enum Command {
    /// Start a plugin instance for a task (a failure stops the
    /// application, as a task that cannot start must).
    Start {
        /// The task.
        id: TaskId,
        /// Its sub-topology.
        spec: Arc<TaskSpec>,
        /// Where the task records processed batches.
        progress: Arc<TaskProgress>,
        /// Each stage's state, opened and restored (`None` when stateless;
        /// empty when every stage is).
        states: Vec<Option<StateManager>>,
    },
    /// Process a batch of one task.
    Batch {
        /// The task.
        id: TaskId,
        /// Records in offset order.
        records: Vec<InputRecord>,
    },
    /// Exactly-once: stop here (every batch queued before is processed),
    /// say so on `stopped`, and wait on `outcome` for the transaction's
    /// end: `true` (committed) applies each task's held writes to RocksDB,
    /// `false` (aborted) leaves them to be dropped with the tasks. Then
    /// reply on `done` and go on. Nothing is produced while stopped, so
    /// the transaction can be committed.
    Barrier {
        /// Told once every earlier command is done.
        stopped: Sender<()>,
        /// Whether the transaction committed.
        outcome: Receiver<bool>,
        /// Told once the held writes are applied (or not).
        done: Sender<()>,
    },
    /// Tick every task now (a clock that does not tick on its own, e.g.
    /// `rill test`'s); reply when done.
    Tick {
        /// Signalled once every task has ticked.
        reply: Sender<()>,
    },
    /// Move the stream time of every task (of `partition`, when given) to
    /// `to`, as if a record with that timestamp had reached every clock:
    /// windows close and stream-time timers fire (`rill test`'s
    /// `advance` steps). Reply when done.
    AdvanceStreamTime {
        /// The new stream time, ms.
        to: i64,
        /// Only the tasks of this partition number.
        partition: Option<i32>,
        /// Signalled once every task has advanced.
        reply: Sender<()>,
    },
    /// Drop a task once its queued batches are done; reply when dropped.
    Close {
        /// The task.
        id: TaskId,
        /// Signalled when the task is gone.
        reply: Sender<()>,
    },
}

/// A handle on one worker thread.
pub struct Worker {
    /// Commands, bounded so a slow plugin slows the poll loop (backpressure).
    pub commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

/// Batches a worker may have queued before the poll loop waits (4 keep
/// the workers as busy as 8 and 32 did, with less memory held in queues;
/// 2 left them waiting).
const QUEUE_DEPTH: usize = 4;

impl Worker {
    /// Spawns worker `index`.
    pub fn spawn(
        index: usize,
        producer: Arc<dyn RecordSink>,
        fatal: FatalSlot,
        shutdown: Arc<Shutdown>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Worker> {
        let (commands, inbox) = bounded(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name(format!("rill-worker-{index}"))
            .spawn(move || run(index, inbox, producer, fatal, shutdown, clock))?;
        Ok(Worker {
            commands,
            thread: Some(thread),
        })
    }

    /// Whether its thread has ended (it only ends on its own by panicking).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (closed, _) = bounded(0);
        self.commands = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    index: usize,
    inbox: Receiver<Command>,
    producer: Arc<dyn RecordSink>,
    fatal: FatalSlot,
    shutdown: Arc<Shutdown>,
    clock: Arc<dyn Clock>,
) {
    let mut tasks: HashMap<TaskId, StreamTask> = HashMap::new();
    let process_latency = metrics::histogram!(
        crate::observe::metrics::THREAD_PROCESS_LATENCY,
        "thread" => format!("rill-worker-{index}")
    );
    let metered = crate::observe::metrics::enabled();
    let mut ticked = std::time::Instant::now();
    let every = clock.tick_every();
    loop {
        // Wall-clock timers and idle-advance need a call even when no
        // batch comes: every tick, between commands or instead of one (a
        // clock that does not tick on its own is ticked by `Tick`).
        let command = match every {
            Some(every) => match inbox.recv_timeout(every) {
                Ok(command) => Some(command),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            },
            None => match inbox.recv() {
                Ok(command) => Some(command),
                Err(_) => break,
            },
        };
        if every.is_some_and(|every| ticked.elapsed() >= every) {
            ticked = std::time::Instant::now();
            tick(index, &mut tasks, clock.wall_ms(), &shutdown, &fatal);
        }
        let Some(command) = command else { continue };
        match command {
            Command::Tick { reply } => {
                tick(index, &mut tasks, clock.wall_ms(), &shutdown, &fatal);
                let _ = reply.send(());
            }
            Command::AdvanceStreamTime { to, partition, reply } => {
                let mut failed = Vec::new();
                for (id, task) in &mut tasks {
                    if partition.is_none_or(|p| p == id.partition)
                        && let Err(error) = task.advance_stream_time(to)
                    {
                        failed.push((id.clone(), error));
                    }
                }
                for (id, error) in failed {
                    fail(index, &mut tasks, id, error, &fatal);
                }
                let _ = reply.send(());
            }
            Command::Start {
                id,
                spec,
                progress,
                states,
            } => match StreamTask::start(id.clone(), spec, producer.clone(), progress, states, shutdown.clone(), clock.clone()) {
                Ok(task) => {
                    tasks.insert(id, task);
                }
                Err(error) => {
                    let error = format!("task {id} cannot start: {error}");
                    tracing::error!("{error}");
                    set_fatal(&fatal, Some(index), error);
                }
            },
            Command::Batch { id, records } => {
                // A task that could not start has stopped the application.
                let Some(task) = tasks.get_mut(&id) else { continue };
                if shutdown.abandon() {
                    // Not processed, so never committed: a restart
                    // reprocesses it.
                    task.progress().dequeue();
                    continue;
                }
                let started = metered.then(Instant::now);
                let result = task.process_batch(records);
                if let Some(started) = started {
                    process_latency.record(started.elapsed().as_secs_f64());
                }
                task.progress().dequeue();
                if let Err(error) = result {
                    fail(index, &mut tasks, id, error, &fatal);
                }
            }
            Command::Barrier { stopped, outcome, done } => {
                let _ = stopped.send(());
                // A manager that went away decided nothing: an abort.
                if outcome.recv().unwrap_or(false) {
                    let mut failed = Vec::new();
                    for (id, task) in &mut tasks {
                        if let Err(error) = task.commit_held() {
                            failed.push((id.clone(), error));
                        }
                    }
                    for (id, error) in failed {
                        fail(index, &mut tasks, id, error, &fatal);
                    }
                }
                let _ = done.send(());
            }
            Command::Close { id, reply } => {
                if let Some(task) = tasks.remove(&id)
                    && let Err(error) = task.close()
                {
                    tracing::warn!("{error}; the next start restores from the previous checkpoint");
                }
                let _ = reply.send(());
            }
        }
    }
}

/// Ticks every task of the worker at wall-clock time `now`
/// ([`StreamTask::tick`]: wall-clock timers, `idle-advance`).
fn tick(index: usize, tasks: &mut HashMap<TaskId, StreamTask>, now: i64, shutdown: &Shutdown, fatal: &FatalSlot) {
    let mut failed = Vec::new();
    for (id, task) in tasks.iter_mut() {
        if shutdown.abandon() {
            break;
        }
        if let Err(error) = task.tick(now) {
            failed.push((id.clone(), error));
        }
    }
    for (id, error) in failed {
        fail(index, tasks, id, error, fatal);
    }
}

/// A task failed: output refusals and storage faults stop only that task
/// (nothing past it is committed); anything else stops the application.
fn fail(worker: usize, tasks: &mut HashMap<TaskId, StreamTask>, id: TaskId, error: TaskError, fatal: &FatalSlot) {
    match error {
        TaskError::Produce { .. } | TaskError::TopicLookup { .. } | TaskError::HostFault { .. } => {
            tracing::error!(
                "{error}; stopping the task without committing past it (a restart reprocesses from the last commit)"
            );
            if let Some(task) = tasks.get_mut(&id) {
                task.halt(error);
            }
        }
        error => {
            tracing::error!("{error}");
            set_fatal(fatal, Some(worker), error.to_string());
            tasks.remove(&id);
        }
    }
}
