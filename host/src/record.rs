//! The host's own record types: what Kafka I/O hands the tasks, what the
//! tasks hand the producer, what the stores keep.
//!
//! They sit at the bottom of the crate (nothing of rill below them) so that
//! `kafka/`, `state/` and `task/` share one record shape without depending
//! on `plugin/`, which wraps the WebAssembly ABI. They are laid out as the
//! WIT world's `types` interface (`wit/processor.wit`, identical from 0.1.0
//! to 0.4.0) and derive the component model's traits, so `plugin/`'s
//! bindings use these very types (`bindgen!`'s `with`) and a batch is lowered
//! into a plugin's memory without converting it first. The derives are
//! type-checked against the component's WIT when an instance is created: a
//! field that drifts from the WIT refuses to load, it does not misread.

use bytes::Bytes;
use std::sync::Arc;
use wasmtime::component::{ComponentType, Lift, Lower};

/// A Kafka record header; Kafka allows a header without a value.
#[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value, `None` for Kafka's null.
    pub value: Option<Vec<u8>>,
}

/// One record read from an input topic (or handed from one stage to the next
/// in memory, or replayed from a changelog).
#[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct InputRecord {
    /// Topic it was read from (shared: every record of a partition names
    /// the same one).
    pub topic: Arc<str>,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch, as stored in Kafka.
    pub timestamp: i64,
    /// `None` is Kafka's null key.
    pub key: Option<Bytes>,
    /// `None` is Kafka's null value (a tombstone in a table topic). Shared,
    /// not copied, when a stage forwards it unchanged or it is handed on.
    pub value: Option<Bytes>,
    /// Its headers, in order.
    pub headers: Vec<Header>,
}

/// One record a processor emits, addressed to an output by the name the
/// manifest gives it (not a topic).
#[derive(Clone, Debug, PartialEq, Eq, ComponentType, Lift, Lower)]
#[component(record)]
pub struct OutputRecord {
    /// The manifest's name of the output.
    pub output: String,
    /// `None` is Kafka's null key.
    pub key: Option<Bytes>,
    /// `None` is Kafka's null value.
    pub value: Option<Bytes>,
    /// Its headers, in order.
    pub headers: Vec<Header>,
    /// `None` keeps the input record's timestamp, as Kafka Streams does.
    pub timestamp: Option<i64>,
}

/// What became of one input record: its outputs (none drops it) or the
/// error message it is dead-lettered with.
pub type RecordResult = Result<Vec<OutputRecord>, String>;

/// The topic names records are read from, each allocated once: a poll loop
/// hands every record of a partition the same [`Arc<str>`] instead of a
/// fresh `String` per record.
#[derive(Debug, Default)]
pub struct TopicNames(Vec<Arc<str>>);

impl TopicNames {
    /// The shared name `topic`, added the first time it is seen.
    pub fn get(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.0.iter().find(|n| &***n == topic) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(topic);
        self.0.push(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_one_topic_share_its_name() {
        let mut names = TopicNames::default();
        let first = names.get("metric.all");
        let other = names.get("metric.cpu");
        assert!(Arc::ptr_eq(&first, &names.get("metric.all")));
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(&*other, "metric.cpu");
    }
}
