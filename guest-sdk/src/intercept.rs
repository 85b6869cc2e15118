//! Write rill interceptors as plain Rust: Kafka's consumer and producer
//! interceptors (`onConsume`, `onCommit`, `onSend`, `onAcknowledgement`)
//! as a component of the `rill:interceptor` world
//! (`wit/interceptor/interceptor.wit`, docs/interceptors.md).
//!
//! An interceptor is a type that implements [`Interceptor`]; every method
//! has a pass-through default, so it writes only the hooks it needs (and
//! its manifest's `events` lists only those, so the host calls nothing
//! else). One `rill_interceptor_abi::export_interceptor!` line (the
//! bindings' crate, so this SDK never names it back) turns it into a
//! component when built for `wasm32-wasip2`; natively, the same code runs
//! in unit tests through [`InterceptorDriver`].
//!
//! ```
//! use rill_sdk::Error;
//! use rill_sdk::intercept::{ConsumeAction, ConsumedRecord, Interceptor};
//!
//! /// Drops records without a key before any processor sees them.
//! struct KeyedOnly;
//!
//! impl Interceptor for KeyedOnly {
//!     type Config = rill_sdk::NoConfig;
//!     fn init(_: Self::Config) -> Result<Self, Error> {
//!         Ok(KeyedOnly)
//!     }
//!     fn on_consume(&mut self, record: &ConsumedRecord) -> Result<ConsumeAction, Error> {
//!         Ok(if record.key.is_some() { ConsumeAction::Pass } else { ConsumeAction::Drop })
//!     }
//! }
//! // In the plugin: rill_interceptor_abi::export_interceptor!(KeyedOnly);
//!
//! let mut driver = rill_sdk::intercept::InterceptorDriver::<KeyedOnly>::new("{}").unwrap();
//! let actions = driver.consume(vec![
//!     ConsumedRecord::new("in", Some(b"k".to_vec()), Some(b"v".to_vec())),
//!     ConsumedRecord::new("in", None, Some(b"v".to_vec())),
//! ]).unwrap();
//! assert_eq!(actions, [ConsumeAction::Pass, ConsumeAction::Drop]);
//! ```
//!
//! The host's rules, which the methods' defaults follow: an `Err` from any
//! hook (or a panic) is logged and counted by the host and changes nothing
//! (the whole batch goes on as if passed); a changed or dropped record
//! never changes what is committed.

use crate::{Error, Header};

mod json_lines;

pub use json_lines::{APPEND_CHUNK, JsonLines, Line, text, text_json};

/// A record read from an input topic, before any processor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumedRecord {
    /// Topic it was read from.
    pub topic: String,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// `None` is Kafka's null key.
    pub key: Option<Vec<u8>>,
    /// `None` is Kafka's null value.
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl ConsumedRecord {
    /// A record of `topic` with `key` and `value` (partition, offset and
    /// timestamp 0), for tests.
    pub fn new(topic: &str, key: Option<Vec<u8>>, value: Option<Vec<u8>>) -> Self {
        ConsumedRecord {
            topic: topic.to_string(),
            key,
            value,
            ..ConsumedRecord::default()
        }
    }
}

/// A consumed record as processors should see it instead. Where it came
/// from cannot change: that is what the host commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRecord {
    /// New key.
    pub key: Option<Vec<u8>>,
    /// New value.
    pub value: Option<Vec<u8>>,
    /// New headers.
    pub headers: Vec<Header>,
    /// New timestamp (ms).
    pub timestamp: i64,
}

/// What becomes of a consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeAction {
    /// Processors see it as read.
    Pass,
    /// Processors see this instead.
    Change(ChangedRecord),
    /// No processor sees it; its offset still commits.
    Drop,
}

/// An input position the host committed: the next offset to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Input topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The next offset to read (one past the last record processed).
    pub offset: i64,
}

/// An output record about to be produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SendRecord {
    /// The host's id for it; its [`Acknowledgement`] carries the same.
    pub id: u64,
    /// Destination topic.
    pub topic: String,
    /// `None`: the producer's partitioner chooses (known at the ack).
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<Header>,
    /// Milliseconds since the epoch.
    pub timestamp: Option<i64>,
}

/// A record being sent, as it should be produced instead. Its topic and
/// partition cannot change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedSend {
    /// New key.
    pub key: Option<Vec<u8>>,
    /// New value.
    pub value: Option<Vec<u8>>,
    /// New headers.
    pub headers: Vec<Header>,
    /// New timestamp; `None` keeps the record's.
    pub timestamp: Option<i64>,
}

/// What becomes of a record being sent (there is no drop: an output is
/// part of what its batch must deliver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendAction {
    /// Produced as emitted.
    Pass,
    /// Produced as this instead.
    Change(ChangedSend),
}

/// Where the brokers wrote a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms) as written.
    pub timestamp: i64,
}

/// The brokers' answer to one sent record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The [`SendRecord::id`] it answers.
    pub id: u64,
    /// Its topic.
    pub topic: String,
    /// Where it was written, or why it was not.
    pub outcome: Result<RecordMetadata, String>,
}

/// Which call a batch came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `on-consume`.
    Consume,
    /// `on-commit`.
    Commit,
    /// `on-send`.
    Send,
    /// `on-acknowledgement`.
    Acknowledgement,
}

/// An interceptor: the one thing an interceptor author writes.
///
/// The host creates one instance per task (per input partition) and calls
/// the hooks for the events the manifest lists, a batch at a time: each
/// item of a batch in order, then [`Interceptor::end_batch`].
pub trait Interceptor: Sized + 'static {
    /// The manifest's `[config]` table, deserialized with serde.
    type Config: serde::de::DeserializeOwned;

    /// Builds the interceptor. An error refuses it at load.
    fn init(config: Self::Config) -> Result<Self, Error>;

    /// A consumed record, before the first processor.
    fn on_consume(&mut self, record: &ConsumedRecord) -> Result<ConsumeAction, Error> {
        let _ = record;
        Ok(ConsumeAction::Pass)
    }

    /// An input position was committed.
    fn on_commit(&mut self, offset: &CommittedOffset) -> Result<(), Error> {
        let _ = offset;
        Ok(())
    }

    /// An output record, before it is produced.
    fn on_send(&mut self, record: &SendRecord) -> Result<SendAction, Error> {
        let _ = record;
        Ok(SendAction::Pass)
    }

    /// The brokers answered a record this interceptor saw in `on_send`.
    fn on_acknowledgement(&mut self, ack: &Acknowledgement) -> Result<(), Error> {
        let _ = ack;
        Ok(())
    }

    /// The end of a batch of `event`: where to flush what the hooks
    /// buffered (one write per batch instead of one per record).
    fn end_batch(&mut self, event: Event) -> Result<(), Error> {
        let _ = event;
        Ok(())
    }
}

/// Builds `I` from the JSON config, as `init` does.
#[doc(hidden)]
pub fn build<I: Interceptor>(config_json: &str) -> Result<I, Error> {
    let config: I::Config =
        serde_json::from_str(config_json).map_err(|e| Error::new(format!("invalid [config] table: {e}")))?;
    I::init(config)
}

/// Runs `hook` over `items`, then `end_batch(event)`: a batch call (the
/// ABI's and [`InterceptorDriver`]'s).
#[doc(hidden)]
pub fn batch<I: Interceptor, T, R>(
    interceptor: &mut I,
    event: Event,
    items: &[T],
    mut hook: impl FnMut(&mut I, &T) -> Result<R, Error>,
) -> Result<Vec<R>, Error> {
    let results = items
        .iter()
        .map(|item| hook(interceptor, item))
        .collect::<Result<Vec<R>, Error>>()?;
    interceptor.end_batch(event)?;
    Ok(results)
}

/// Where [`log`] goes: the interceptor world's `log` import, installed by
/// `export_interceptor!` on wasm (natively, stderr).
static LOG: std::sync::OnceLock<fn(crate::log::Level, &str)> = std::sync::OnceLock::new();

/// Installs the interceptor world's `log` import (the ABI crate's `init`).
#[doc(hidden)]
pub fn set_log(log: fn(crate::log::Level, &str)) {
    let _ = LOG.set(log);
}

/// Writes one line to the host log, tagged with the interceptor and task
/// (natively, to stderr). [`crate::log`] is the processor world's.
pub fn log(level: crate::log::Level, message: &str) {
    match LOG.get() {
        Some(log) => log(level, message),
        None => eprintln!("[{level:?}] {message}"),
    }
}

/// Drives one interceptor instance natively, the way the host calls it:
/// built from a JSON config, then given batches.
pub struct InterceptorDriver<I: Interceptor> {
    interceptor: I,
    next_offset: i64,
    next_id: u64,
}

impl<I: Interceptor> InterceptorDriver<I> {
    /// Builds the interceptor from `config_json`, as the host's `init` does.
    pub fn new(config_json: &str) -> Result<Self, Error> {
        Ok(InterceptorDriver {
            interceptor: build::<I>(config_json)?,
            next_offset: 0,
            next_id: 0,
        })
    }

    /// The instance, to inspect.
    pub fn interceptor(&mut self) -> &mut I {
        &mut self.interceptor
    }

    /// `on-consume` of `records`; records whose offset is 0 get the next
    /// offsets in turn, as if read one after another.
    pub fn consume(&mut self, mut records: Vec<ConsumedRecord>) -> Result<Vec<ConsumeAction>, Error> {
        for record in &mut records {
            if record.offset == 0 {
                record.offset = self.next_offset;
            }
            self.next_offset = record.offset + 1;
        }
        batch(&mut self.interceptor, Event::Consume, &records, I::on_consume)
    }

    /// `on-commit` of `offsets`.
    pub fn commit(&mut self, offsets: Vec<CommittedOffset>) -> Result<(), Error> {
        batch(&mut self.interceptor, Event::Commit, &offsets, I::on_commit).map(drop)
    }

    /// `on-send` of `records`, numbered as the host numbers them; returns
    /// the actions and the ids given.
    pub fn send(&mut self, mut records: Vec<SendRecord>) -> Result<(Vec<SendAction>, Vec<u64>), Error> {
        for record in &mut records {
            record.id = self.next_id;
            self.next_id += 1;
        }
        let ids = records.iter().map(|r| r.id).collect();
        Ok((batch(&mut self.interceptor, Event::Send, &records, I::on_send)?, ids))
    }

    /// `on-acknowledgement` of `acks`.
    pub fn acknowledge(&mut self, acks: Vec<Acknowledgement>) -> Result<(), Error> {
        batch(
            &mut self.interceptor,
            Event::Acknowledgement,
            &acks,
            I::on_acknowledgement,
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uppercases sent values and counts acknowledgements; every other
    /// hook keeps its default.
    struct Upper {
        acked: Vec<Result<i64, String>>,
        batches: usize,
    }

    impl Interceptor for Upper {
        type Config = crate::NoConfig;
        fn init(_: Self::Config) -> Result<Self, Error> {
            Ok(Upper {
                acked: Vec::new(),
                batches: 0,
            })
        }
        fn on_send(&mut self, record: &SendRecord) -> Result<SendAction, Error> {
            Ok(SendAction::Change(ChangedSend {
                key: record.key.clone(),
                value: record.value.as_ref().map(|v| v.to_ascii_uppercase()),
                headers: record.headers.clone(),
                timestamp: None,
            }))
        }
        fn on_acknowledgement(&mut self, ack: &Acknowledgement) -> Result<(), Error> {
            self.acked.push(ack.outcome.clone().map(|m| m.offset));
            Ok(())
        }
        fn end_batch(&mut self, _: Event) -> Result<(), Error> {
            self.batches += 1;
            Ok(())
        }
    }

    #[test]
    fn defaults_pass_and_hooks_run_per_item_then_end_the_batch() {
        let mut driver = InterceptorDriver::<Upper>::new("{}").unwrap();
        let consumed = driver
            .consume(vec![ConsumedRecord::new("in", None, Some(b"a".to_vec())); 2])
            .unwrap();
        assert_eq!(consumed, [ConsumeAction::Pass, ConsumeAction::Pass]);
        let record = SendRecord {
            topic: "out".into(),
            value: Some(b"abc".to_vec()),
            ..SendRecord::default()
        };
        let (actions, ids) = driver.send(vec![record.clone(), record]).unwrap();
        assert_eq!(ids, [0, 1]);
        assert!(matches!(&actions[1], SendAction::Change(c) if c.value.as_deref() == Some(&b"ABC"[..])));
        driver
            .acknowledge(vec![
                Acknowledgement {
                    id: 0,
                    topic: "out".into(),
                    outcome: Ok(RecordMetadata {
                        partition: 0,
                        offset: 7,
                        timestamp: 1,
                    }),
                },
                Acknowledgement {
                    id: 1,
                    topic: "out".into(),
                    outcome: Err("too large".into()),
                },
            ])
            .unwrap();
        assert_eq!(driver.interceptor().acked, [Ok(7), Err("too large".to_string())]);
        assert_eq!(driver.interceptor().batches, 3, "one end_batch per call");
    }

    #[test]
    fn a_bad_config_is_refused_as_init_refuses_it() {
        #[derive(serde::Deserialize)]
        struct Needs {
            #[allow(dead_code, reason = "only its presence is checked")]
            dir: String,
        }
        struct D;
        impl Interceptor for D {
            type Config = Needs;
            fn init(_: Needs) -> Result<Self, Error> {
                Ok(D)
            }
        }
        let error = InterceptorDriver::<D>::new("{}").err().unwrap();
        assert!(error.to_string().contains("invalid [config] table"), "{error}");
    }
}
