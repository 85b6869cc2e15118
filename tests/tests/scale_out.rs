//! Scaling without stopping (issue 25): static membership. A member that
//! restarts with the same `--instance-id` gets its own partitions back and
//! no other member's tasks move (its peer logs no rebalance callback at
//! all), while a steady stream loses nothing.
//!
//! - KIP-848 (`--group-protocol consumer`) on the dev broker, which
//!   implements static members for that protocol only: a clean restart
//!   (SIGTERM). A KIP-848 broker refuses a static member's id while its
//!   predecessor has not left (UNRELEASED_INSTANCE_ID), so after a SIGKILL
//!   the restart waits for the session timeout, which then moves tasks.
//! - Classic (KIP-345) on crabka-broker: a restart after SIGKILL takes over
//!   its predecessor's id at once.

use rill_host::metricbeat::{Expect, Generator, TOPICS};
use rill_tests::member::{Member, settled, stop_all, wait_committed};
use rill_tests::{DevBroker, install_plugin, produce_paced, read_all, rill, terminate, wait_exit};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;
const RATE: usize = 1_000;
const PRODUCE_FOR: Duration = Duration::from_secs(30);
const APP: &str = "e2e-static";
const TOPIC: &str = "metric.all";

fn start(name: &str, broker: &str, dir: &Path, protocol: &str, t0: Instant) -> Member {
    let mut command = rill();
    command
        .arg("run")
        .arg(dir.join("metric-branch/plugin.toml"))
        .args(["--brokers", broker, "--application-id", APP])
        .args(["--group-protocol", protocol, "--instance-id", name])
        .args(["--commit-interval", "500ms"])
        .arg("--state-dir")
        .arg(dir.join(name));
    Member::spawn(name, command, t0)
}

/// Waits until `member`'s assignment, logged after `since`, is `want`.
fn rejoined(member: &Member, want: &std::collections::BTreeSet<i32>, since: Duration, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !member
        .working(TOPIC)
        .is_some_and(|(at, partitions)| at >= since && partitions == *want)
    {
        assert!(
            Instant::now() < deadline,
            "{} did not get {want:?} back within {limit:?}:\n{}",
            member.name,
            member.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_member_restarted_with_its_instance_id_gets_its_partitions_back_and_nothing_moves_kip_848() {
    let broker = DevBroker::start_dev(&TOPICS.map(|t| (t, PARTITIONS)));
    restart_in_place(&broker, "consumer", &[Stop::Term, Stop::Term]);
}

#[test]
fn a_member_killed_and_restarted_with_its_instance_id_takes_its_partitions_back_classic() {
    let broker = DevBroker::start_txn(&TOPICS.map(|t| (t, PARTITIONS)));
    restart_in_place(&broker, "classic", &[Stop::Term, Stop::Kill]);
}

/// How a member is stopped before its restart.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Term,
    Kill,
}

fn restart_in_place(broker: &DevBroker, protocol: &str, stops: &[Stop]) {
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "metric-branch");

    let mut generator = Generator::new(25);
    let total = RATE * PRODUCE_FOR.as_secs() as usize;
    let mut inputs = Vec::with_capacity(total);
    let mut expected = HashSet::new();
    for i in 0..total {
        let sample = generator.sample();
        let key = format!("k{i}").into_bytes();
        if !matches!(sample.expect, Expect::Other) {
            expected.insert(key.clone());
        }
        inputs.push((Some(key), sample.value));
    }

    let t0 = Instant::now();
    let bootstrap = broker.bootstrap.clone();
    let producer = std::thread::spawn(move || produce_paced(&bootstrap, TOPIC, &inputs, RATE));
    let a = start("a", &broker.bootstrap, dir.path(), protocol, t0);
    let mut b = start("b", &broker.bootstrap, dir.path(), protocol, t0);
    let b_started = b.started;
    let stable = settled(
        &[&a, &b],
        TOPIC,
        PARTITIONS as usize,
        b_started,
        t0,
        Duration::from_secs(40),
    );
    let (_, mine) = b.working(TOPIC).unwrap();
    let a_callbacks = a.callbacks(TOPIC).len();

    // Each restart comes within the session timeout.
    let mut restarts = Vec::new();
    for stop in stops {
        std::thread::sleep(Duration::from_secs(3));
        let stopping = t0.elapsed();
        match stop {
            Stop::Kill => {
                b.child.kill().unwrap();
                b.child.wait().unwrap();
            }
            Stop::Term => {
                terminate(&mut b.child);
                let status = wait_exit(&mut b.child, Duration::from_secs(30));
                assert!(status.success(), "b exited with {status}:\n{}", b.log());
            }
        }
        let old = b;
        b = start("b", &broker.bootstrap, dir.path(), protocol, t0);
        drop(old);
        rejoined(&b, &mine, b.started, Duration::from_secs(30));
        let back = b.working(TOPIC).unwrap().0;
        restarts.push((stop, (back - stopping).as_secs_f64()));
    }
    producer.join().expect("the producer thread");

    // Nothing moved: the peer saw no callback after the group first settled.
    let later: Vec<_> = a.callbacks(TOPIC).into_iter().skip(a_callbacks).collect();
    assert!(
        later.is_empty(),
        "a restart with the same instance id moved partitions: {later:?}\n{}",
        a.log()
    );

    wait_committed(
        &broker.bootstrap,
        APP,
        TOPIC,
        total as i64,
        &[&a, &b],
        Duration::from_secs(60),
    );
    let mut members = [a, b];
    stop_all(&mut members);

    // Nothing lost (a SIGKILL repeats what was not committed: duplicates
    // are allowed here).
    let mut seen = HashSet::new();
    for topic in ["metric.cpu", "metric.memory", "metric.all.dlq"] {
        for record in read_all(&broker.bootstrap, topic) {
            seen.insert(record.key.expect("outputs are keyed"));
        }
    }
    let lost = expected.difference(&seen).count();
    println!(
        "--group-protocol {protocol}: group settled {:.2} s after b started; stopped-to-working-again: {}",
        (stable - b_started).as_secs_f64(),
        restarts
            .iter()
            .map(|(how, s)| format!("{how:?} {s:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(lost, 0, "{lost} of {} inputs lost", expected.len());
}

/// A stateful counting app on the dev broker (KIP-848) whose changelog
/// already holds a count of 1 for each of `KEYS` keys, as an earlier run
/// left them: large state, so a cold task's restore is long.
struct Counting {
    broker: DevBroker,
    dir: tempfile::TempDir,
    manifest: std::path::PathBuf,
    app: &'static str,
    t0: Instant,
    /// Flags every member runs with (protocol, guarantee).
    flags: Vec<&'static str>,
    /// Whether outputs are read as read_committed consumers see them.
    exactly_once: bool,
}

const ORDERS: &str = "order";
const PARTS: i32 = 4;
const KEYS: usize = 100_000;
const PER_PARTITION: usize = KEYS / PARTS as usize;

impl Counting {
    /// At-least-once, KIP-848, on the broker RILL_TEST_BROKER names (the
    /// dev broker by default).
    fn start(app: &'static str) -> Counting {
        Counting::on(app, DevBroker::start, vec!["--group-protocol", "consumer"], false)
    }

    /// Exactly-once on crabka-broker (transactions), classic protocol
    /// (cooperative) with a 6 s session timeout, so a SIGKILLed member's
    /// partitions move within seconds.
    fn start_exactly_once(app: &'static str) -> Counting {
        let flags = vec![
            "--group-protocol",
            "classic",
            "-X",
            "consumer.session.timeout.ms=6000",
            "--processing-guarantee",
            "exactly-once",
        ];
        Counting::on(app, DevBroker::start_txn, flags, true)
    }

    fn on(
        app: &'static str,
        broker: fn(&[(&str, i32)]) -> DevBroker,
        flags: Vec<&'static str>,
        exactly_once: bool,
    ) -> Counting {
        let changelog = format!("{app}-counts-changelog");
        let members = format!("{app}-rill-members");
        let broker = broker(&[
            (ORDERS, PARTS),
            ("order_count", PARTS),
            ("order.count.dlq", PARTS),
            (changelog.as_str(), PARTS),
            (members.as_str(), 1),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let manifest = install_plugin(dir.path(), "order-count");
        let one = 1u64.to_be_bytes().to_vec();
        let state: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..KEYS)
            .map(|i| (Some(format!("key-{i}").into_bytes()), one.clone()))
            .collect();
        rill_tests::produce(&broker.bootstrap, &changelog, &state);
        Counting {
            broker,
            dir,
            manifest,
            app,
            t0: Instant::now(),
            flags,
            exactly_once,
        }
    }

    /// Starts a member with its own state directory and `extra` flags;
    /// returns it with its HTTP address.
    fn member(&self, name: &str, extra: &[&str]) -> (Member, String) {
        let port = rill_tests::free_port();
        let mut command = rill();
        command
            .arg("run")
            .arg(&self.manifest)
            .args(["--brokers", &self.broker.bootstrap, "--application-id", self.app])
            .args(&self.flags)
            .args(extra)
            .args(["--commit-interval", "500ms", "--http", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(self.dir.path().join(name));
        (Member::spawn(name, command, self.t0), format!("127.0.0.1:{port}"))
    }

    /// Waits until `members` share every partition of `order` (a member
    /// whose share did not change logs nothing new: the shares covering
    /// every partition once is the settled group).
    fn settled(&self, members: &[&Member]) {
        settled(
            members,
            ORDERS,
            PARTS as usize,
            Duration::ZERO,
            self.t0,
            Duration::from_secs(120),
        );
    }

    /// The orders counted: one per key of a sample spread over the
    /// partitions.
    fn orders(&self) -> (Vec<String>, Vec<(Option<Vec<u8>>, Vec<u8>)>) {
        let keys: Vec<String> = (0..400).map(|i| format!("key-{}", i * 241)).collect();
        let orders = keys
            .iter()
            .map(|k| (Some(k.clone().into_bytes()), b"item".to_vec()))
            .collect();
        (keys, orders)
    }

    /// Waits until the group has committed every order produced so far
    /// (`total`), so a task that moves next starts after them.
    fn committed(&self, total: i64, members: &[&Member]) {
        rill_tests::member::wait_committed(
            &self.broker.bootstrap,
            self.app,
            ORDERS,
            total,
            members,
            Duration::from_secs(60),
        );
    }

    /// Every output on `order_count`, as a read_committed consumer sees
    /// them under exactly-once.
    fn outputs(&self) -> Vec<rill_tests::Received> {
        if self.exactly_once {
            rill_tests::read_isolated(&self.broker.bootstrap, "order_count", true)
        } else {
            read_all(&self.broker.bootstrap, "order_count")
        }
    }

    /// Waits until every sampled key's latest count is `want`.
    fn counts_reach(&self, keys: &[String], want: &str, members: &[&Member]) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut latest = std::collections::BTreeMap::new();
            for r in self.outputs() {
                let text = String::from_utf8(r.value.unwrap()).unwrap();
                let (key, count) = text.split_once(':').unwrap();
                latest.insert(key.to_string(), count.to_string());
            }
            let wrong: Vec<_> = keys
                .iter()
                .filter(|k| latest.get(*k).map(String::as_str) != Some(want))
                .collect();
            if wrong.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} keys are not at {want} (e.g. {:?}: {:?}):\n{}",
                wrong.len(),
                wrong[0],
                latest.get(wrong[0]),
                rill_tests::member::logs(members)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The restore line of `task` that follows its promotion from a standby
/// in `log`, if both were logged.
fn restored_after_promotion(log: &str, task: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(task)).collect();
    let promoted = lines.iter().position(|l| l.contains("promoted from standby"))?;
    lines[promoted..]
        .iter()
        .find(|l| l.contains("restored ") || l.contains("nothing to restore"))
        .map(|l| l.to_string())
}

/// Checks that each of `partitions`' tasks on `member` was promoted from
/// a standby and replayed only a tail of its changelog (waiting a moment
/// for the restore, which follows the assignment).
fn promoted_with_tail_only(member: &Member, partitions: &std::collections::BTreeSet<i32>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let log = member.log();
        if partitions
            .iter()
            .all(|p| restored_after_promotion(&log, &format!("order-count_{p}")).is_some())
            || Instant::now() > deadline
        {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for p in partitions {
        let task = format!("order-count_{p}");
        assert!(
            log.lines()
                .any(|l| l.contains(&task) && l.contains("promoted from standby")),
            "{task} was not promoted from a standby on {}:\n{log}",
            member.name
        );
        let restore = restored_after_promotion(&log, &task)
            .unwrap_or_else(|| panic!("{task} did not restore after its promotion:\n{log}"));
        let records: usize = restore
            .split("restored ")
            .nth(1)
            .and_then(|r| r.split(' ').next()?.parse().ok())
            .unwrap_or(0);
        println!("{task}: after promotion, {records} of ~{PER_PARTITION} changelog records replayed");
        assert!(
            records * 10 < PER_PARTITION,
            "{task} replayed {records} records, not just the tail of ~{PER_PARTITION}:\n{log}"
        );
    }
}

/// What a member's `rill_task_restores_total{kind}` says.
fn restores(http: &str, kind: &str) -> u64 {
    let (200, body) = rill_tests::http_get(http, "/metrics").expect("/metrics") else {
        panic!("/metrics did not answer 200");
    };
    let series = format!("rill_task_restores_total{{kind=\"{kind}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// The tasks of `order` a member's `/status` lists as FOLLOWING standbys.
fn following(http: &str) -> HashSet<i32> {
    let Some((200, body)) = rill_tests::http_get(http, "/status") else {
        return HashSet::new();
    };
    let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    status["standbys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["state"] == "FOLLOWING")
        .filter_map(|s| s["task"].as_str()?.strip_prefix("order-count_")?.parse().ok())
        .collect()
}

/// Standby replicas (`--standby-replicas 1`, KIP-848 on the dev broker): two
/// members of a stateful app whose changelog holds many keys each keep the
/// other's tasks warm; one stops cleanly, and the survivor promotes its
/// standbys, replaying only the changelog tail instead of the whole of it,
/// with every count exact afterwards.
#[test]
fn a_member_leaving_hands_its_tasks_to_standbys_that_replay_only_the_tail_kip_848() {
    let app = Counting::start("e2e-standby");
    let (mut a, a_http) = app.member("a", &["--standby-replicas", "1", "--host-tag", "zone-a"]);
    let (mut b, b_http) = app.member("b", &["--standby-replicas", "1", "--host-tag", "zone-b"]);
    app.settled(&[&a, &b]);

    // Each keeps the other's tasks warm: /status lists them FOLLOWING.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (a_has, b_has) = (a.working(ORDERS).unwrap().1, b.working(ORDERS).unwrap().1);
        let (a_warm, b_warm) = (following(&a_http), following(&b_http));
        if a_warm == b_has.iter().copied().collect() && b_warm == a_has.iter().copied().collect() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "standbys did not follow: a runs {a_has:?} and warms {a_warm:?}, b runs {b_has:?} and warms {b_warm:?}\n{}\n---\n{}",
            a.log(),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Each advertises its --host-tag (the failure domain placement spreads
    // standbys over) in the members topic.
    let entries: Vec<String> = read_all(&app.broker.bootstrap, "e2e-standby-rill-members")
        .into_iter()
        .filter_map(|r| String::from_utf8(r.value?).ok())
        .collect();
    for tag in ["zone-a", "zone-b"] {
        assert!(
            entries.iter().any(|e| e.contains(&format!("\"host\":\"{tag}\""))),
            "no member entry with host {tag}: {entries:?}"
        );
    }

    // Counting goes on while both run...
    let (keys, orders) = app.orders();
    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    app.counts_reach(&keys, "2", &[&a, &b]);
    app.committed(orders.len() as i64, &[&a, &b]);

    // ...a leaves cleanly, and b takes its tasks over from its standbys.
    let moved = a.working(ORDERS).unwrap().1;
    let promotions = restores(&b_http, "standby");
    let stopped = app.t0.elapsed();
    terminate(&mut a.child);
    assert!(
        wait_exit(&mut a.child, Duration::from_secs(60)).success(),
        "{}",
        a.log()
    );
    settled(&[&b], ORDERS, PARTS as usize, stopped, app.t0, Duration::from_secs(60));
    promoted_with_tail_only(&b, &moved);
    assert_eq!(
        restores(&b_http, "standby") - promotions,
        moved.len() as u64,
        "b's restores from standbys"
    );

    // Counts are exact on the survivor.
    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    app.counts_reach(&keys, "3", &[&b]);
    terminate(&mut b.child);
    assert!(
        wait_exit(&mut b.child, Duration::from_secs(60)).success(),
        "{}",
        b.log()
    );
}

/// Warm-up (`--warm-up`, KIP-848 on the dev broker): a third member joining
/// two that run a stateful app with large state first follows the
/// changelogs of the tasks it may receive, joins once they are caught up,
/// and starts every task it receives from a warm store, replaying only the
/// tail; counts stay exact.
#[test]
fn a_member_joining_with_warm_up_starts_its_tasks_from_warm_stores_kip_848() {
    let app = Counting::start("e2e-warm-up");
    let (a, _) = app.member("a", &["--warm-up"]);
    let (b, _) = app.member("b", &["--warm-up"]);
    app.settled(&[&a, &b]);
    let (keys, orders) = app.orders();
    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    app.counts_reach(&keys, "2", &[&a, &b]);
    app.committed(orders.len() as i64, &[&a, &b]);

    // c warms before it joins, then works on warm stores only.
    let (c, c_http) = app.member("c", &["--warm-up"]);
    app.settled(&[&a, &b, &c]);
    let log = c.log();
    let warming = log.find("warm-up: warming ");
    let caught_up = log.find("of their changelogs' ends");
    let joining = log.find("joined group");
    assert!(
        warming.is_some() && caught_up > warming && joining > caught_up,
        "c did not warm its tasks before joining:\n{log}"
    );
    let received = c.working(ORDERS).unwrap().1;
    promoted_with_tail_only(&c, &received);
    assert_eq!(
        restores(&c_http, "standby"),
        received.len() as u64,
        "c's restores from warm stores"
    );
    assert_eq!(restores(&c_http, "full"), 0, "c restored a task cold");

    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    app.counts_reach(&keys, "3", &[&a, &b, &c]);
    stop_all(&mut [a, b, c]);
}

/// Exactly-once with standbys (crabka-broker, classic cooperative): one of
/// two members is SIGKILLed while it works and restarted from its state
/// directory (its transactional id fences the open transaction the kill
/// left; crabka-broker never times one out). Its tasks move to the
/// survivor, from standbys, or come back to it, from its checkpoints: no
/// task restores its whole changelog, every order has exactly one
/// committed output and every count is exact. Neither the standbys
/// (read_committed followers) nor the promoted tasks applied any of the
/// aborted work.
#[test]
fn a_member_killed_mid_stream_restores_no_task_cold_and_repeats_nothing_exactly_once() {
    let app = Counting::start_exactly_once("e2e-standby-eos");
    let standby = ["--standby-replicas", "1"];
    let (mut a, a_http) = app.member("a", &standby);
    let (b, b_http) = app.member("b", &standby);
    app.settled(&[&a, &b]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while following(&a_http).len() + following(&b_http).len() < PARTS as usize {
        assert!(
            Instant::now() < deadline,
            "standbys did not follow:\n{}",
            rill_tests::member::logs(&[&a, &b])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (keys, orders) = app.orders();
    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    app.counts_reach(&keys, "2", &[&a, &b]);
    app.committed(orders.len() as i64, &[&a, &b]);

    // a is killed while the next orders are being processed, and comes back.
    let cold = restores(&b_http, "full");
    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    let killed = app.t0.elapsed();
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    // The restart waits until the group has dropped the killed member (a
    // classic group on crabka-broker jams when one rejoins mid-rebalance
    // with a dead member in it, FACTS.md); b holds every task meanwhile,
    // a's promoted ones held back by the transaction the kill left open.
    settled(&[&b], ORDERS, PARTS as usize, killed, app.t0, Duration::from_secs(60));
    let (a, a_http) = app.member("a", &standby);
    app.settled(&[&a, &b]);
    app.counts_reach(&keys, "3", &[&a, &b]);
    rill_tests::produce(&app.broker.bootstrap, ORDERS, &orders);
    app.counts_reach(&keys, "4", &[&a, &b]);
    assert_eq!(restores(&b_http, "full"), cold, "b restored a task cold:\n{}", b.log());
    assert_eq!(
        restores(&a_http, "full"),
        0,
        "the restarted a restored a task cold:\n{}",
        a.log()
    );

    // One committed output per order: nothing of a's aborted work shows.
    let outputs = app.outputs().len();
    assert_eq!(
        outputs,
        3 * orders.len(),
        "{outputs} committed outputs for {} orders:\n{}",
        3 * orders.len(),
        rill_tests::member::logs(&[&a, &b])
    );
    stop_all(&mut [a, b]);
}
