//! Rebalances on a steady stream (issue 20): two members of one
//! application start together and a third joins a few seconds later, while
//! records arrive at a steady rate. Every rebalance must complete within a
//! few seconds, nothing may be lost, and records may be processed twice only
//! from what the last commit interval(s) before each rebalance held.
//!
//! Runs under both group protocols (`classic`, which is cooperative for
//! this single-input app, and KIP-848's `consumer`) on the broker
//! `RILL_TEST_BROKER` names (the dev broker by default, crabka-broker with
//! `txn`).

use rill_host::metricbeat::{Expect, Generator, TOPICS};
use rill_tests::member::{Member, settled, stop_all, wait_committed};
use rill_tests::{DevBroker, install_plugin, produce_paced, read_all, rill};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 12;
const RATE: usize = 2_000;
const PRODUCE_FOR: Duration = Duration::from_secs(16);
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);
/// rill's consumer heartbeat interval: how long a member may go on before
/// it learns of a rebalance (its commits are refused meanwhile).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Generous for a noisy 2-core machine; the figures measured are printed.
const REBALANCE_BOUND: Duration = Duration::from_secs(15);
/// The dev broker holds every classic rebalance round for the session
/// timeout minus 1 s (5 s here) and refuses a follower's late SyncGroup
/// (one more round, docs/dev-broker.md); the cooperative protocol takes two
/// rounds, so a join may take three such windows there.
const COOPERATIVE_BOUND_ON_THE_MOCK: Duration = Duration::from_secs(25);
const APP: &str = "e2e-rebalance";
const TOPIC: &str = "metric.all";

fn start(name: &str, broker: &str, dir: &Path, protocol: &str, t0: Instant) -> Member {
    let mut command = rill();
    command
        .arg("run")
        .arg(dir.join("metric-branch/plugin.toml"))
        .args(["--brokers", broker, "--application-id", &format!("{APP}-{protocol}")])
        .args(["--group-protocol", protocol])
        .arg("--commit-interval")
        .arg(format!("{}ms", COMMIT_INTERVAL.as_millis()));
    if protocol == "classic" {
        // The dev broker holds every rejoin for the session timeout minus
        // 1 s (librdkafka's mock), so tests keep it short. Under KIP-848
        // the broker owns the session timeout.
        command.args(["-X", "consumer.session.timeout.ms=6000"]);
    }
    command.arg("--state-dir").arg(dir.join(name));
    Member::spawn(name, command, t0)
}

#[test]
fn members_joining_a_steady_stream_rebalance_in_seconds_and_lose_nothing() {
    joining_a_steady_stream("classic");
}

#[test]
fn members_joining_a_steady_stream_rebalance_in_seconds_and_lose_nothing_under_kip_848() {
    joining_a_steady_stream("consumer");
}

fn joining_a_steady_stream(protocol: &str) {
    let app = format!("{APP}-{protocol}");
    let broker = DevBroker::start(&TOPICS.map(|t| (t, PARTITIONS)));
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "metric-branch");

    // Each input has at most one output from metric-branch, by key.
    let mut generator = Generator::new(20);
    let total = RATE * PRODUCE_FOR.as_secs() as usize;
    let mut inputs = Vec::with_capacity(total);
    let mut expected: HashMap<Vec<u8>, (&str, Vec<u8>)> = HashMap::new();
    for i in 0..total {
        let sample = generator.sample();
        let key = format!("k{i}").into_bytes();
        let topic = match sample.expect {
            Expect::Cpu { .. } | Expect::CpuWithoutHost => Some("metric.cpu"),
            Expect::Memory => Some("metric.memory"),
            Expect::Malformed => Some("metric.all.dlq"),
            Expect::Other => None,
        };
        if let Some(topic) = topic {
            expected.insert(key.clone(), (topic, sample.value.clone()));
        }
        inputs.push((Some(key), sample.value));
    }

    let t0 = Instant::now();
    let bootstrap = broker.bootstrap.clone();
    let producer = std::thread::spawn(move || produce_paced(&bootstrap, "metric.all", &inputs, RATE));
    let a = start("a", &broker.bootstrap, dir.path(), protocol, t0);
    let b = start("b", &broker.bootstrap, dir.path(), protocol, t0);
    let b_started = b.started;
    let first = settled(
        &[&a, &b],
        TOPIC,
        PARTITIONS as usize,
        b_started,
        t0,
        Duration::from_secs(40),
    );
    // The third joins a group that is stable and busy.
    std::thread::sleep(Duration::from_secs(3));
    let c = start("c", &broker.bootstrap, dir.path(), protocol, t0);
    let c_started = c.started;
    let second = settled(
        &[&a, &b, &c],
        TOPIC,
        PARTITIONS as usize,
        c_started,
        t0,
        Duration::from_secs(40),
    );
    producer.join().expect("the producer thread");
    let produced_at = t0.elapsed();

    // Everything is processed and committed before the members stop, so
    // duplicates can only come from the rebalances.
    wait_committed(
        &broker.bootstrap,
        &app,
        "metric.all",
        total as i64,
        &[&a, &b, &c],
        Duration::from_secs(30),
    );
    let all_committed = t0.elapsed();
    let mut members = [a, b, c];
    stop_all(&mut members);
    let stopped = t0.elapsed();

    // How long each member went without partitions in each rebalance
    // before the shutdown: from a revocation to the next assignment.
    let mut stalls = Vec::new();
    let mut rounds = 0;
    for member in &members {
        let callbacks: Vec<_> = member
            .callbacks(TOPIC)
            .into_iter()
            .filter(|c| c.at < all_committed)
            .collect();
        rounds = rounds.max(
            callbacks
                .iter()
                .filter(|c| c.kind == "revoked" && !c.partitions.is_empty())
                .count(),
        );
        for pair in callbacks.windows(2) {
            if pair[0].kind == "revoked" && pair[1].kind == "assigned" {
                stalls.push((member.name.clone(), pair[1].at - pair[0].at));
            }
        }
    }
    println!("--group-protocol {protocol}:");
    println!(
        "two members settled {:.2} s after starting; the third {:.2} s after its start; \
         produced by {:.1} s, all committed at {:.1} s, stopped at {:.1} s",
        (first - b_started).as_secs_f64(),
        (second - c_started).as_secs_f64(),
        produced_at.as_secs_f64(),
        all_committed.as_secs_f64(),
        stopped.as_secs_f64()
    );
    println!(
        "revocation-to-assignment per member: {}",
        stalls
            .iter()
            .map(|(name, d)| format!("{name} {:.2} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let settle_bound = if protocol == "classic" {
        COOPERATIVE_BOUND_ON_THE_MOCK
    } else {
        REBALANCE_BOUND
    };
    assert!(
        first - b_started <= settle_bound,
        "the first two members took {:?} to settle",
        first - b_started
    );
    assert!(
        second - c_started <= settle_bound,
        "the third member's join took {:?} to settle",
        second - c_started
    );
    for (name, stall) in &stalls {
        assert!(
            *stall <= REBALANCE_BOUND,
            "member {name} had no partitions for {stall:?}"
        );
    }

    // Nothing lost; duplicates bounded by what was processed since the
    // last commit when each rebalance began: the commit interval, plus up
    // to a heartbeat before a member learns of the rebalance (commits are
    // refused meanwhile), plus a second of slack per rebalance.
    let mut copies: HashMap<Vec<u8>, usize> = HashMap::new();
    for topic in ["metric.cpu", "metric.memory", "metric.all.dlq"] {
        for record in read_all(&broker.bootstrap, topic) {
            let key = record.key.expect("outputs are keyed");
            let (want_topic, want_value) = expected
                .get(&key)
                .unwrap_or_else(|| panic!("{topic}: unexpected key {}", String::from_utf8_lossy(&key)));
            assert_eq!(
                (*want_topic, record.value.as_deref()),
                (topic, Some(want_value.as_slice()))
            );
            *copies.entry(key).or_insert(0) += 1;
        }
    }
    let lost = expected.keys().filter(|k| !copies.contains_key(*k)).count();
    let duplicates: usize = copies.values().map(|n| n - 1).sum();
    let per_round = RATE as f64 * (COMMIT_INTERVAL + HEARTBEAT + Duration::from_secs(1)).as_secs_f64();
    let bound = (rounds.max(1) as f64 * per_round) as usize;
    println!(
        "{} inputs with an output: {lost} lost, {duplicates} processed twice (bound {bound} for {rounds} rebalance(s))",
        expected.len()
    );
    assert_eq!(lost, 0, "inputs lost");
    assert!(duplicates <= bound, "{duplicates} duplicates exceed {bound}");
}
