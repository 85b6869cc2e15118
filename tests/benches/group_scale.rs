//! `cargo bench -p rill-tests --bench group_scale`: what group membership
//! costs as partitions and members grow (issue 25's "1,000 partitions and 30
//! instances" estimate, docs/design/012-rebalance-at-scale.md).
//!
//! In-process consumers with rill's own member settings
//! (`KafkaSettings::stream_consumer`) join one group on one topic: first M
//! members together (time until every partition is assigned once), then one
//! more (time until it has its share, and how many partitions changed
//! owner). No records flow: this measures the protocol (rounds, the
//! assignor, the coordinator), not processing, which the rebalance bench
//! measures.
//!
//! Environment: RILL_BENCH_SHAPES (default "120x10,1000x30": partitions x
//! members), RILL_BENCH_PROTOCOLS (default "consumer,classic"),
//! RILL_TEST_BROKER (dev, the default, or txn for crabka-broker).

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use rill_host::kafka::KafkaSettings;
use rill_host::kafka::protocol::{GroupProtocol, Membership};
use rill_tests::DevBroker;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keeps the member's whole assignment after every callback.
struct Tracking {
    assignment: Arc<Mutex<BTreeSet<i32>>>,
}

impl ClientContext for Tracking {}

impl ConsumerContext for Tracking {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        let now: BTreeSet<i32> = consumer
            .assignment()
            .map(|tpl: TopicPartitionList| tpl.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        *self.assignment.lock().unwrap() = now;
    }
}

/// A polling member on its own thread.
struct Member {
    assignment: Arc<Mutex<BTreeSet<i32>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    fn join(settings: &KafkaSettings, group: &str, membership: &Membership) -> Member {
        let assignment = Arc::new(Mutex::new(BTreeSet::new()));
        let context = Tracking {
            assignment: assignment.clone(),
        };
        let consumer: BaseConsumer<Tracking> = settings
            .stream_consumer(group, membership)
            .create_with_context(context)
            .expect("a consumer");
        consumer.subscribe(&["t"]).expect("subscribing");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Acquire) {
                let _ = consumer.poll(Duration::from_millis(50));
            }
            // Dropping closes: revoke and leave.
        });
        Member {
            assignment,
            stop,
            thread: Some(thread),
        }
    }

    fn owned(&self) -> BTreeSet<i32> {
        self.assignment.lock().unwrap().clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits until the members own every partition once, each some; returns
/// the owner of each partition. `None` after `limit`.
fn stable(members: &[Member], partitions: usize, limit: Duration) -> Option<BTreeMap<i32, usize>> {
    let deadline = Instant::now() + limit;
    loop {
        let owned: Vec<BTreeSet<i32>> = members.iter().map(Member::owned).collect();
        let total: usize = owned.iter().map(BTreeSet::len).sum();
        let mut owners = BTreeMap::new();
        for (m, set) in owned.iter().enumerate() {
            for p in set {
                owners.insert(*p, m);
            }
        }
        if total == partitions && owners.len() == partitions && owned.iter().all(|s| !s.is_empty()) {
            return Some(owners);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn protocol_named(name: &str) -> GroupProtocol {
    match name {
        "consumer" => GroupProtocol::Consumer,
        "classic" => GroupProtocol::Classic,
        other => panic!("RILL_BENCH_PROTOCOLS: {other}? use consumer or classic"),
    }
}

fn main() {
    let shapes = std::env::var("RILL_BENCH_SHAPES").unwrap_or_else(|_| "120x10,1000x30".into());
    let protocols = std::env::var("RILL_BENCH_PROTOCOLS").unwrap_or_else(|_| "consumer,classic".into());
    let broker_kind = std::env::var("RILL_TEST_BROKER").unwrap_or_else(|_| "dev".into());
    println!("broker: {broker_kind}; no records flow, the protocol alone is timed");
    println!(
        "{:<9} {:>10} {:>8} {:>14} {:>14} {:>8} {:>8}",
        "protocol", "partitions", "members", "all join s", "one more s", "moved", "ideal"
    );
    for shape in shapes.split(',') {
        let (partitions, members) = shape
            .split_once('x')
            .and_then(|(p, m)| Some((p.parse::<usize>().ok()?, m.parse::<usize>().ok()?)))
            .unwrap_or_else(|| panic!("RILL_BENCH_SHAPES: {shape}? write PARTITIONSxMEMBERS"));
        for protocol in protocols.split(',') {
            let broker = DevBroker::start(&[("t", partitions as i32)]);
            let mut settings = KafkaSettings::new(&broker.bootstrap);
            let membership = Membership {
                protocol: protocol_named(protocol),
                copartitioned: false,
                instance_id: None,
            };
            if membership.protocol == GroupProtocol::Classic {
                // The mock holds every classic rebalance for the session
                // timeout minus 1 s (docs/dev-broker.md): keep it short.
                settings
                    .overrides
                    .push(("consumer.session.timeout.ms".into(), "6000".into()));
            }
            let group = format!("scale-{protocol}-{partitions}-{members}");
            let limit = Duration::from_secs(180);
            let started = Instant::now();
            let mut group_members: Vec<Member> = (0..members)
                .map(|_| Member::join(&settings, &group, &membership))
                .collect();
            let Some(before) = stable(&group_members, partitions, limit) else {
                println!("{protocol:<9} {partitions:>10} {members:>8} {:>14}", "not in 180 s");
                continue;
            };
            let joined = started.elapsed().as_secs_f64();
            let adding = Instant::now();
            group_members.push(Member::join(&settings, &group, &membership));
            let after = stable(&group_members, partitions, limit);
            let one_more = adding.elapsed().as_secs_f64();
            let moved = after
                .as_ref()
                .map(|after| after.iter().filter(|(p, owner)| before.get(p) != Some(owner)).count());
            // The least a balanced assignment must move: the newcomer's share.
            let ideal = partitions / (members + 1);
            println!(
                "{protocol:<9} {partitions:>10} {members:>8} {joined:>14.2} {:>14} {:>8} {ideal:>8}",
                if after.is_some() {
                    format!("{one_more:.2}")
                } else {
                    "not in 180 s".into()
                },
                moved.map_or("-".into(), |m| m.to_string())
            );
            drop(group_members);
        }
    }
}
