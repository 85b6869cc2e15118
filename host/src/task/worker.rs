//! Worker threads (Kafka Streams' `num.stream.threads`): each owns the
//! plugin instances of its tasks and runs their batches in arrival order,
//! so a partition's records are always processed in offset order.

use super::TaskId;
use super::progress::TaskProgress;
use super::spec::ProcessorSpec;
use super::stream_task::{StartError, StreamTask};
use crate::kafka::producer::RecordSink;
use crate::plugin::InputRecord;
use crossbeam_channel::{Receiver, Sender, bounded};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The first fatal error any worker hit; the poll loop stops on it.
pub type FatalSlot = Arc<Mutex<Option<String>>>;

/// What the control plane asks of a worker.
pub enum Command {
    /// Start a plugin instance for a task and reply whether it started.
    Start {
        /// The task.
        id: TaskId,
        /// Its processor.
        spec: Arc<ProcessorSpec>,
        /// Where the task records processed batches.
        progress: Arc<TaskProgress>,
        /// The answer.
        reply: Sender<Result<(), StartError>>,
    },
    /// Process a batch of one task.
    Batch {
        /// The task.
        id: TaskId,
        /// Records in offset order.
        records: Vec<InputRecord>,
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

/// Batches a worker may have queued before the poll loop waits.
const QUEUE_DEPTH: usize = 32;

impl Worker {
    /// Spawns worker `index`.
    pub fn spawn(index: usize, producer: Arc<dyn RecordSink>, fatal: FatalSlot) -> std::io::Result<Worker> {
        let (commands, inbox) = bounded(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name(format!("rill-worker-{index}"))
            .spawn(move || run(inbox, producer, fatal))?;
        Ok(Worker {
            commands,
            thread: Some(thread),
        })
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

fn run(inbox: Receiver<Command>, producer: Arc<dyn RecordSink>, fatal: FatalSlot) {
    let mut tasks: HashMap<TaskId, StreamTask> = HashMap::new();
    for command in inbox {
        match command {
            Command::Start {
                id,
                spec,
                progress,
                reply,
            } => {
                let started = StreamTask::start(id.clone(), spec, producer.clone(), progress).map(|task| {
                    tasks.insert(id, task);
                });
                let _ = reply.send(started);
            }
            Command::Batch { id, records } => {
                let Some(task) = tasks.get_mut(&id) else { continue };
                let result = task.process_batch(records);
                task.progress().dequeue();
                if let Err(error) = result {
                    tracing::error!("{error}");
                    fatal
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(error.to_string());
                    tasks.remove(&id);
                }
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
