//! The state updater (Kafka Streams' `StateUpdater`): restores tasks' state
//! on a thread of its own, so the consumer keeps polling (the group keeps
//! its heartbeats and rebalances go through) and the tasks that need no
//! restoring keep processing while others restore.
//!
//! Jobs run on [`THREADS`] threads, in the order queued. Opening a task's
//! RocksDB waits on the disk (files created and synced: ~40 ms), so 24
//! tasks opened one after another took a second before the last one ran;
//! reading changelogs goes through one restore consumer all the same
//! (`state::restore::KafkaChangelogs`). Each job has a cancel flag: a task
//! revoked while it restores stops at once, keeping (and checkpointing)
//! what it restored; one revoked before its turn is skipped.

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

/// How many restores run at once.
pub const THREADS: usize = 4;

/// The restore threads.
pub struct StateUpdater {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl StateUpdater {
    /// Starts the threads.
    pub fn start() -> std::io::Result<Self> {
        let (jobs, inbox) = unbounded::<Job>();
        let threads = (0..THREADS)
            .map(|n| {
                let inbox = inbox.clone();
                std::thread::Builder::new()
                    .name(format!("rill-state-updater-{n}"))
                    .spawn(move || {
                        for job in inbox {
                            job();
                        }
                    })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(StateUpdater {
            jobs: Some(jobs),
            threads,
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
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn until_cancelled(cancel: &AtomicBool) -> Result<u32, String> {
        while !cancel.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(1)
    }

    #[test]
    fn restores_report_and_cancel() {
        let updater = StateUpdater::start().unwrap();
        let quick = updater.submit::<u32, String>(Box::new(|_| Ok(7)));
        let outcome = (0..500).find_map(|_| {
            std::thread::sleep(Duration::from_millis(1));
            quick.try_finish()
        });
        assert_eq!(outcome, Some(Ok(7)));
        // Every thread busy: the next job waits for its turn.
        let slow: Vec<_> = (0..THREADS)
            .map(|_| updater.submit::<u32, String>(Box::new(until_cancelled)))
            .collect();
        let skipped = updater.submit::<u32, String>(Box::new(|_| panic!("a cancelled job never runs")));
        assert!(skipped.cancel(Duration::from_millis(10)).is_none());
        for job in slow {
            assert_eq!(job.cancel(Duration::from_secs(5)), Some(Ok(1)), "stops when cancelled");
        }
    }

    #[test]
    fn restores_run_side_by_side() {
        let updater = StateUpdater::start().unwrap();
        // Each job succeeds only if all of them are running at once.
        let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs: Vec<_> = (0..THREADS)
            .map(|n| {
                let started = started.clone();
                updater.submit::<usize, String>(Box::new(move |_| {
                    started.fetch_add(1, Ordering::AcqRel);
                    let deadline = std::time::Instant::now() + Duration::from_secs(5);
                    while started.load(Ordering::Acquire) < THREADS {
                        if std::time::Instant::now() > deadline {
                            return Err(format!("job {n} ran alone"));
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Ok(n)
                }))
            })
            .collect();
        for (n, job) in jobs.iter().enumerate() {
            let outcome = (0..10_000).find_map(|_| {
                std::thread::sleep(Duration::from_millis(1));
                job.try_finish()
            });
            assert_eq!(outcome, Some(Ok(n)));
        }
    }
}
