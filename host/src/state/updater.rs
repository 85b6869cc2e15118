//! The state updater (Kafka Streams' `StateUpdater`): restores tasks' state
//! on a thread of its own, so the consumer keeps polling (the group keeps
//! its heartbeats and rebalances go through) and the tasks that need no
//! restoring keep processing while others restore.
//!
//! Jobs run one after another. Each has a cancel flag: a task revoked
//! while it restores stops at once, keeping (and checkpointing) what it
//! restored; one revoked before its turn is skipped.

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// The work of one restore: opens and restores, watching the flag.
pub type RestoreWork<T, E> = Box<dyn FnOnce(&AtomicBool) -> Result<T, E> + Send>;

/// A restore in progress, as the task manager holds it.
pub struct Restoring<T, E> {
    cancel: Arc<AtomicBool>,
    done: Receiver<Result<T, E>>,
}

impl<T, E> Restoring<T, E> {
    /// The outcome, if the restore has finished.
    pub fn try_finish(&self) -> Option<Result<T, E>> {
        self.done.try_recv().ok()
    }

    /// Stops the restore and waits for it to let go of the task's state
    /// (up to `timeout`); returns its outcome if it had one.
    pub fn cancel(self, timeout: std::time::Duration) -> Option<Result<T, E>> {
        self.cancel.store(true, Ordering::Release);
        self.done.recv_timeout(timeout).ok()
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The restore thread.
pub struct StateUpdater {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl StateUpdater {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Self> {
        let (jobs, inbox) = unbounded::<Job>();
        let thread = std::thread::Builder::new()
            .name("rill-state-updater".into())
            .spawn(move || {
                for job in inbox {
                    job();
                }
            })?;
        Ok(StateUpdater {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues `work`; the returned handle reports its outcome or cancels it.
    pub fn submit<T: Send + 'static, E: Send + 'static>(&self, work: RestoreWork<T, E>) -> Restoring<T, E> {
        let cancel = Arc::new(AtomicBool::new(false));
        let (finished, done) = bounded(1);
        let flag = cancel.clone();
        let job: Job = Box::new(move || {
            // Revoked before its turn: nothing to do, nothing to report.
            if flag.load(Ordering::Acquire) {
                return;
            }
            let _ = finished.send(work(&flag));
        });
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
        Restoring { cancel, done }
    }
}

impl Drop for StateUpdater {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn restores_report_and_cancel() {
        let updater = StateUpdater::start().unwrap();
        let quick = updater.submit::<u32, String>(Box::new(|_| Ok(7)));
        let slow = updater.submit::<u32, String>(Box::new(|cancel| {
            while !cancel.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(1)
        }));
        let skipped = updater.submit::<u32, String>(Box::new(|_| panic!("a cancelled job never runs")));
        assert!(skipped.cancel(Duration::from_millis(10)).is_none());
        assert_eq!(slow.cancel(Duration::from_secs(5)), Some(Ok(1)), "stops when cancelled");
        let outcome = (0..500).find_map(|_| {
            std::thread::sleep(Duration::from_millis(1));
            quick.try_finish()
        });
        assert_eq!(outcome, Some(Ok(7)));
    }
}
