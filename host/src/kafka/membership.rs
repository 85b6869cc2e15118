//! The application's membership topic, `<application-id>-rill-members`:
//! each instance publishes who it is, where it runs, which tasks it runs and
//! which it keeps warm as standbys, with a heartbeat; a thread reads the
//! topic from the beginning into a [`MembershipView`].
//!
//! librdkafka lets no member see the group's other members (no custom
//! assignor, and the mock broker has no DescribeGroups), so standby
//! placement (`task::placement`) is computed by every instance from this
//! view instead (docs/design/010-scale-out.md, step 3). Tasks are named in
//! plain strings and integers here, so `kafka/` imports nothing of `task/`.
//!
//! One partition, compacted where the broker can (keyed by instance id);
//! readers keep only the newest value per key, so an uncompacted topic (the
//! dev broker) reads the same. A null value (tombstone) is an instance that
//! left for good.

use super::KafkaSettings;
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The membership topic of application `application_id`.
pub fn members_topic(application_id: &str) -> String {
    format!("{application_id}-rill-members")
}

/// How often an instance publishes its entry when nothing changed.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// How old a heartbeat may be before its instance counts as gone: a
/// SIGKILLed instance (which publishes no tombstone) stops holding standby
/// places after this.
pub const LIVENESS: Duration = Duration::from_secs(30);

/// What went wrong with the membership topic.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// A record of the topic is not a membership entry rill understands.
    #[error("membership entry of {key:?} is not valid: {reason}")]
    Malformed {
        /// The record's key (the instance id).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The reader or publisher could not be created.
    #[error("membership topic {topic}: {reason}")]
    Client {
        /// The membership topic.
        topic: String,
        /// librdkafka's reason.
        reason: String,
    },
}

/// One instance's entry (JSON, `v: 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// Format version.
    pub v: u32,
    /// The instance id (the record's key).
    pub instance: String,
    /// The machine it runs on: standbys prefer another one.
    pub host: String,
    /// Its HTTP address, if it serves one (for interactive queries later).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Tasks it runs: (processor, partition).
    pub active: Vec<(String, i32)>,
    /// Tasks it keeps warm: (processor, partition, changelog records applied).
    pub standby: Vec<(String, i32, i64)>,
    /// Milliseconds since the epoch when it was published.
    pub heartbeat_ms: i64,
}

impl MemberEntry {
    /// The record value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a member entry serializes")
    }

    /// Reads a record value published under `key`.
    pub fn decode(key: &str, value: &[u8]) -> Result<Self, MembershipError> {
        let malformed = |reason: String| MembershipError::Malformed {
            key: key.to_string(),
            reason,
        };
        let entry: MemberEntry = serde_json::from_slice(value).map_err(|e| malformed(e.to_string()))?;
        if entry.v != 1 {
            return Err(malformed(format!("version {} (this rill reads version 1)", entry.v)));
        }
        if entry.instance != key {
            return Err(malformed(format!("names instance {:?}", entry.instance)));
        }
        Ok(entry)
    }

    /// Whether its heartbeat is recent at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms - self.heartbeat_ms <= LIVENESS.as_millis() as i64
    }
}

/// The newest entry of every instance read so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipView {
    entries: BTreeMap<String, MemberEntry>,
}

impl MembershipView {
    /// Applies one record: an entry replaces the instance's older one, a
    /// tombstone (`None`) removes it.
    pub fn apply(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), MembershipError> {
        match value {
            None => {
                self.entries.remove(key);
            }
            Some(value) => {
                let entry = MemberEntry::decode(key, value)?;
                self.entries.insert(entry.instance.clone(), entry);
            }
        }
        Ok(())
    }

    /// The instances whose heartbeat is recent at `now_ms`.
    pub fn live(&self, now_ms: i64) -> Vec<&MemberEntry> {
        self.entries.values().filter(|e| e.is_live(now_ms)).collect()
    }

    /// Every entry read, live or not.
    pub fn entries(&self) -> impl Iterator<Item = &MemberEntry> {
        self.entries.values()
    }
}

/// What this instance publishes about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalTasks {
    /// Tasks it runs.
    pub active: Vec<(String, i32)>,
    /// Tasks it keeps warm, with how far each is.
    pub standby: Vec<(String, i32, i64)>,
}

struct Shared {
    view: Mutex<MembershipView>,
    local: Mutex<LocalTasks>,
    dirty: AtomicBool,
    stop: AtomicBool,
    /// Tombstone on stop (a permanent leave, not a static restart).
    leave: AtomicBool,
    /// Bumped each time the view changes.
    version: AtomicU64,
}

/// This instance's membership: publishes its entry and follows the topic.
pub struct Membership {
    instance: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Membership {
    /// Starts publishing as `instance` on `host` (reachable at `endpoint`)
    /// and reading `topic` from its beginning.
    pub fn start(
        settings: &KafkaSettings,
        topic: &str,
        instance: &str,
        host: &str,
        endpoint: Option<String>,
    ) -> Result<Self, MembershipError> {
        let client = |reason: String| MembershipError::Client {
            topic: topic.to_string(),
            reason,
        };
        let consumer: BaseConsumer = settings.reader().create().map_err(|e| client(e.to_string()))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(|e| client(e.to_string()))?;
        consumer.assign(&tpl).map_err(|e| client(e.to_string()))?;
        let producer: BaseProducer = settings.producer().create().map_err(|e| client(e.to_string()))?;
        let shared = Arc::new(Shared {
            view: Mutex::new(MembershipView::default()),
            local: Mutex::new(LocalTasks::default()),
            dirty: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            leave: AtomicBool::new(false),
            version: AtomicU64::new(0),
        });
        let publisher = Publisher {
            topic: topic.to_string(),
            instance: instance.to_string(),
            host: host.to_string(),
            endpoint,
        };
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("rill-membership".into())
                .spawn(move || run(consumer, producer, publisher, &shared))
                .map_err(|e| client(e.to_string()))?
        };
        Ok(Membership {
            instance: instance.to_string(),
            shared,
            thread: Some(thread),
        })
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Publishes `tasks` (at once if they changed).
    pub fn publish(&self, tasks: LocalTasks) {
        let mut local = self.shared.local.lock();
        if *local != tasks {
            *local = tasks;
            self.shared.dirty.store(true, Ordering::Release);
        }
    }

    /// The view as read so far, and its version (bumped on every change).
    pub fn view(&self) -> (MembershipView, u64) {
        let view = self.shared.view.lock().clone();
        (view, self.shared.version.load(Ordering::Acquire))
    }

    /// On stop, publish a tombstone: this instance leaves for good (a
    /// dynamic member's clean stop). A static member restarting keeps its
    /// entry.
    pub fn leave_on_stop(&self, leave: bool) {
        self.shared.leave.store(leave, Ordering::Release);
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Publisher {
    topic: String,
    instance: String,
    host: String,
    endpoint: Option<String>,
}

impl Publisher {
    fn send(&self, producer: &BaseProducer, value: Option<Vec<u8>>) {
        let mut record = BaseRecord::<str, [u8]>::to(&self.topic).key(self.instance.as_str());
        if let Some(value) = &value {
            record = record.payload(value.as_slice());
        }
        if let Err((e, _)) = producer.send(record) {
            tracing::warn!(topic = %self.topic, "publishing membership: {e}");
        }
    }

    fn entry(&self, local: &LocalTasks) -> MemberEntry {
        MemberEntry {
            v: 1,
            instance: self.instance.clone(),
            host: self.host.clone(),
            endpoint: self.endpoint.clone(),
            active: local.active.clone(),
            standby: local.standby.clone(),
            heartbeat_ms: crate::observe::now_ms(),
        }
    }
}

fn run(consumer: BaseConsumer, producer: BaseProducer, publisher: Publisher, shared: &Shared) {
    let mut last_sent: Option<Instant> = None;
    while !shared.stop.load(Ordering::Acquire) {
        let changed_here = shared.dirty.swap(false, Ordering::AcqRel);
        if changed_here || last_sent.is_none_or(|at| at.elapsed() >= HEARTBEAT) {
            let entry = publisher.entry(&shared.local.lock());
            publisher.send(&producer, Some(entry.encode()));
            last_sent = Some(Instant::now());
        }
        producer.poll(Duration::ZERO);
        let mut changed = false;
        while let Some(polled) = consumer.poll(if changed {
            Duration::ZERO
        } else {
            Duration::from_millis(100)
        }) {
            match polled {
                Ok(message) => {
                    let key = message.key().map(String::from_utf8_lossy).unwrap_or_default();
                    match shared.view.lock().apply(&key, message.payload()) {
                        Ok(()) => changed = true,
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
                Err(e) => tracing::debug!(topic = %publisher.topic, "membership reader: {e}"),
            }
        }
        if changed {
            shared.version.fetch_add(1, Ordering::AcqRel);
        }
    }
    if shared.leave.load(Ordering::Acquire) {
        publisher.send(&producer, None);
    }
    if let Err(e) = producer.flush(Duration::from_secs(5)) {
        tracing::warn!(topic = %publisher.topic, "flushing membership: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(instance: &str, heartbeat_ms: i64) -> MemberEntry {
        MemberEntry {
            v: 1,
            instance: instance.into(),
            host: "h1".into(),
            endpoint: Some("127.0.0.1:9090".into()),
            active: vec![("counts".into(), 0), ("counts".into(), 3)],
            standby: vec![("counts".into(), 1, 4_200)],
            heartbeat_ms,
        }
    }

    #[test]
    fn entries_round_trip_and_bad_ones_are_named() {
        let e = entry("a1", 1_000);
        assert_eq!(MemberEntry::decode("a1", &e.encode()).unwrap(), e);
        let wrong_key = MemberEntry::decode("b2", &e.encode()).unwrap_err().to_string();
        assert!(
            wrong_key.contains("\"b2\"") && wrong_key.contains("names instance"),
            "{wrong_key}"
        );
        let mut newer = e.clone();
        newer.v = 2;
        let version = MemberEntry::decode("a1", &newer.encode()).unwrap_err().to_string();
        assert!(version.contains("version 2"), "{version}");
        assert!(MemberEntry::decode("a1", b"{").is_err());
    }

    #[test]
    fn the_view_keeps_the_newest_entry_drops_tombstones_and_ages_out_silent_instances() {
        let mut view = MembershipView::default();
        view.apply("a1", Some(&entry("a1", 1_000).encode())).unwrap();
        view.apply("b2", Some(&entry("b2", 1_000).encode())).unwrap();
        view.apply("a1", Some(&entry("a1", 20_000).encode())).unwrap();
        assert_eq!(view.entries().count(), 2);
        let ids = |v: &MembershipView, now| v.live(now).iter().map(|e| e.instance.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&view, 25_000), ["a1", "b2"]);
        // b2 stopped heartbeating: gone after LIVENESS; a1 still live.
        let later = 1_000 + LIVENESS.as_millis() as i64 + 1;
        assert_eq!(ids(&view, later), ["a1"]);
        view.apply("a1", None).unwrap();
        assert!(
            ids(&view, 25_000).iter().all(|i| i != "a1"),
            "a tombstone removes at once"
        );
        assert!(view.apply("c3", Some(b"not json")).is_err());
    }
}
