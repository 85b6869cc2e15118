//! What reaches a task's interceptors from other threads: delivery reports
//! from the producer's delivery thread. They are only noted there (calling
//! Wasm inside librdkafka's callback would hold up every other delivery)
//! and handed to `on-acknowledgement` at the task's next turn on its worker.

use crate::kafka::producer::{DeliveryListener, Written};
use parking_lot::Mutex;

/// One noted delivery report: the send id, its topic, where it was written
/// or why not.
pub type Report = (u64, String, Result<Written, String>);

/// Delivery reports of a task's intercepted sends, oldest first.
#[derive(Default)]
pub struct Inbox {
    reports: Mutex<Vec<Report>>,
}

impl Inbox {
    /// Everything noted since the last call.
    pub fn take(&self) -> Vec<Report> {
        std::mem::take(&mut *self.reports.lock())
    }
}

impl DeliveryListener for Inbox {
    fn delivered(&self, id: u64, topic: &str, result: Result<Written, String>) {
        self.reports.lock().push((id, topic.to_string(), result));
    }
}
