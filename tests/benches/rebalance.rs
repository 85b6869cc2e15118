//! `cargo bench -p rill-tests --bench rebalance`: what a rebalance costs a
//! steady stream (issue 25, design 010 step 6). order-count (one `counts`
//! store) runs as `rill run` child processes over 12 partitions of `order`
//! while 2,000 records/s arrive, paced; its changelog is pre-loaded with
//! RILL_BENCH_KEYS keys (1,000,000 by default), so a task that moves
//! restores its share of them. Each input carries its produce time (a
//! header, and the record timestamp), kept by order-count's output, so a
//! checker reading `order_count` sees each record's latency.
//!
//! Events, each on a stable group: a member joining (`c`, dynamic), the same
//! member leaving cleanly (SIGTERM), a restart of `b` with the same
//! `--instance-id`, and a SIGKILL of `b`. Per event and partition, the stall
//! is the largest latency beyond the partition's median over the 10 s
//! before the event, among records produced from the event until the window
//! ends (the group settled, plus 10 s, at least RILL_BENCH_WINDOW_S = 30 s;
//! a record still missing then counts as waiting until then). A partition
//! moved when a member other than its owner before the event was assigned
//! it. For moved partitions: from the old owner's revocation (or the kill)
//! to the first output after the new owner's assignment, and the records
//! its restore read. Targets are printed as pass or miss, never asserted.
//!
//! Environment: RILL_BENCH_KEYS (1000000), RILL_BENCH_WINDOW_S (30),
//! RILL_BENCH_PROTOCOL (`consumer`, or `classic`), RILL_TEST_BROKER (`dev`,
//! or `txn` for crabka-broker), RILL_BENCH_STANDBYS (0: the members'
//! `--standby-replicas`), RILL_BENCH_WARM_UP (0, or 1: every member runs
//! with `--warm-up`, so the joiner warms before it joins).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use rill_tests::member::Member;
use rill_tests::{DevBroker, install_plugin, rill, terminate, wait_exit};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PARTITIONS: i32 = 12;
const RATE: usize = 2_000;
const APP: &str = "bench-rebalance";
const INPUT: &str = "order";
const OUTPUT: &str = "order_count";
const CHANGELOG: &str = "bench-rebalance-counts-changelog";
/// The median latency before an event is taken over this long.
const BASELINE: Duration = Duration::from_secs(10);
/// How long the window runs on after the group settled.
const AFTER_SETTLED: Duration = Duration::from_secs(10);
/// Records produced this close to the window's end are not judged (they
/// may simply not have arrived yet).
const TAIL: Duration = Duration::from_secs(5);
/// A partition stalled when a record waited this much beyond its median.
const STALLED: Duration = Duration::from_secs(1);
/// Target: a moved task with a standby resumes within this.
const STANDBY_RESUME: Duration = Duration::from_secs(2);
/// A group that has not settled by then is reported as such.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What the producer sent: per sequence number, partition and produce time
/// (since `t0`, µs).
type Sent = Arc<Mutex<Vec<(i32, u64)>>>;
/// What the checker received: per sequence number, the first receive time
/// (since `t0`, µs).
type Received = Arc<Mutex<HashMap<u64, u64>>>;

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// Writes `keys` counts of 1 to the changelog, key `k<j>` on partition
/// `j % 12`, where the stream's records of that key go too.
fn preload(bootstrap: &str, keys: u64) {
    let settings = rill_host::kafka::KafkaSettings::new(bootstrap);
    let producer: ThreadedProducer<DefaultProducerContext> = settings.producer().create().expect("preload producer");
    let one = 1u64.to_be_bytes();
    for j in 0..keys {
        let key = format!("k{j}");
        let mut record = BaseRecord::<str, [u8]>::to(CHANGELOG)
            .key(&key)
            .payload(&one)
            .partition((j % PARTITIONS as u64) as i32);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("preloading the changelog");
}

/// Produces RATE records/s (a slice every 10 ms) until `stop`: record `i`
/// to partition `i % 12` with a key of that partition's share, its sequence
/// number and produce time in headers.
fn produce(bootstrap: String, keys: u64, t0: Instant, sent: Sent, stop: Arc<AtomicBool>) {
    let settings = rill_host::kafka::KafkaSettings::new(&bootstrap);
    let producer: ThreadedProducer<DefaultProducerContext> = settings
        .producer()
        .set("linger.ms", "2")
        .create()
        .expect("stream producer");
    let per_partition = (keys / PARTITIONS as u64).max(1);
    let slice = RATE / 100;
    let mut seq = 0u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let started = Instant::now();
    let mut tick = 0u64;
    while !stop.load(Ordering::Acquire) {
        for _ in 0..slice {
            let partition = (seq % PARTITIONS as u64) as i32;
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let key = format!("k{}", partition as u64 + PARTITIONS as u64 * (state % per_partition));
            let at = micros(t0.elapsed());
            let epoch_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
            let (seq_text, at_text) = (seq.to_string(), at.to_string());
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "seq",
                    value: Some(&seq_text),
                })
                .insert(Header {
                    key: "produced-us",
                    value: Some(&at_text),
                });
            let record = BaseRecord::<str, str>::to(INPUT)
                .key(&key)
                .payload("order")
                .partition(partition)
                .timestamp(epoch_ms)
                .headers(headers);
            producer.send(record).map_err(|(e, _)| e).expect("queueing an order");
            sent.lock().unwrap().push((partition, at));
            seq += 1;
        }
        tick += 1;
        let due = started + Duration::from_millis(10 * tick);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    producer.flush(Duration::from_secs(30)).expect("flushing the stream");
}

/// Reads `order_count` from its beginning until `stop`, noting when each
/// input's first output arrived.
fn check(bootstrap: String, t0: Instant, received: Received, stop: Arc<AtomicBool>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-rebalance-checker")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.queue.backoff.ms", "1")
        .create()
        .expect("checker consumer");
    let mut tpl = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        tpl.add_partition_offset(OUTPUT, partition, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    while !stop.load(Ordering::Acquire) {
        let Some(message) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let Ok(message) = message else { continue };
        let now = micros(t0.elapsed());
        let seq = message.headers().and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == "seq")
                .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse::<u64>().ok())
        });
        if let Some(seq) = seq {
            received.lock().unwrap().entry(seq).or_insert(now);
        }
    }
}

/// How the members run: the group protocol, and what keeps state warm.
struct Setup {
    protocol: String,
    standbys: u64,
    warm_up: bool,
}

fn start(name: &str, instance: Option<&str>, broker: &str, dir: &Path, setup: &Setup, t0: Instant) -> Member {
    let protocol = setup.protocol.as_str();
    let mut command = rill();
    command
        .arg("run")
        .arg(dir.join("order-count/plugin.toml"))
        .args(["--brokers", broker, "--application-id", APP])
        .args(["--group-protocol", protocol])
        .args(["--standby-replicas", &setup.standbys.to_string()]);
    if setup.warm_up {
        command.arg("--warm-up");
    }
    if let Some(id) = instance {
        command.args(["--instance-id", id]);
    }
    if protocol == "classic" {
        // As in tests/tests/rebalance.rs: the dev broker holds a classic
        // rejoin for the session timeout.
        command.args(["-X", "consumer.session.timeout.ms=6000"]);
    }
    command.arg("--state-dir").arg(dir.join(name));
    Member::spawn(name, command, t0)
}

/// The owner of each partition by the members' last logged assignments,
/// once they are disjoint, cover every partition and no member is empty;
/// `None` while a rebalance is under way.
fn owners(members: &[&Member]) -> Option<BTreeMap<i32, String>> {
    let mut owners = BTreeMap::new();
    for member in members {
        let (_, partitions) = member.working(INPUT)?;
        if partitions.is_empty() {
            return None;
        }
        for p in partitions {
            if owners.insert(p, member.name.clone()).is_some() {
                return None;
            }
        }
    }
    (owners.len() == PARTITIONS as usize).then_some(owners)
}

/// The owners of a settled group, waiting for it (a rebalance may still be
/// under way); panics with every member's log when it does not settle.
fn stable(members: &[&Member], t0: Instant) -> BTreeMap<i32, String> {
    settle(members, t0).unwrap_or_else(|| panic!("the group did not settle:\n{}", rill_tests::member::logs(members)));
    owners(members).expect("settled just now")
}

/// Waits until the group settled; returns when, or `None` after the limit.
fn settle(members: &[&Member], t0: Instant) -> Option<Duration> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    while Instant::now() < deadline {
        if owners(members).is_some() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits until every partition has an output of a record produced after
/// `since` (every task restored and running).
fn flowing(since: Duration, sent: &Sent, received: &Received, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let since = micros(since);
    while Instant::now() < deadline {
        let sent = sent.lock().unwrap().clone();
        let received = received.lock().unwrap();
        let live: BTreeSet<i32> = received
            .keys()
            .filter_map(|seq| sent.get(*seq as usize))
            .filter(|(_, at)| *at >= since)
            .map(|(p, _)| *p)
            .collect();
        drop(received);
        if live.len() == PARTITIONS as usize {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// One event's figures.
struct Figures {
    event: &'static str,
    settled_after: Option<Duration>,
    moved: BTreeSet<i32>,
    stalled_moved: usize,
    stalled_still: usize,
    /// Largest stall (ms) of a partition that did not move.
    still_max_ms: f64,
    /// p99 (ms), over the records of partitions that did not move, of the
    /// latency beyond their partition's median.
    still_p99_ms: f64,
    /// Per moved partition: revocation to first output (ms), if it resumed
    /// in the window, the new owner's assignment to first output (ms: the
    /// part its state costs, without the group protocol's hand-over), and
    /// records restored.
    resumed: BTreeMap<i32, (Option<f64>, Option<f64>, Option<u64>)>,
    /// Median latency (ms) before the event, over partitions.
    median_ms: f64,
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// The records restored for `partition`'s task by `member` after `since`:
/// the "restored N records" (or "nothing to restore") lines that follow
/// each "task restoring" line of the task (whose `task` ends in
/// `_<partition>`), so a standby's or warm-up's catch-up, which restores
/// before the task is assigned, is not counted.
fn restored(member: &Member, partition: i32, since: Duration) -> Option<u64> {
    let suffix = format!("_{partition}");
    let mut active = false;
    let mut total = None;
    for (_, line) in member.stamped().into_iter().filter(|(at, _)| *at >= since) {
        let ours = line
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("task="))
            .any(|t| t.trim_matches('"').ends_with(&suffix));
        if !ours {
            continue;
        }
        if line.contains("task restoring") {
            active = true;
        } else if active && line.contains("nothing to restore") {
            total = Some(total.unwrap_or(0));
            active = false;
        } else if active {
            let records = line
                .split("restored ")
                .nth(1)
                .and_then(|r| r.split(' ').next()?.parse::<u64>().ok());
            if let Some(n) = records {
                total = Some(total.unwrap_or(0) + n);
                active = false;
            }
        }
    }
    total
}

/// Measures one event that happened at `at`, the group having been
/// `before` then; `members` are every process that ran (old and new).
#[allow(clippy::too_many_arguments)]
fn measure(
    event: &'static str,
    at: Duration,
    before: &BTreeMap<i32, String>,
    live: &[&Member],
    all: &[&Member],
    t0: Instant,
    sent: &Sent,
    received: &Received,
    window: Duration,
) -> Figures {
    let settled = settle(live, t0);
    let end = (settled.unwrap_or(t0.elapsed()) + AFTER_SETTLED).max(at + window);
    std::thread::sleep(end.saturating_sub(t0.elapsed()));
    let now = micros(t0.elapsed());
    let sent = sent.lock().unwrap().clone();
    let received = received.lock().unwrap().clone();

    // Moves: a member other than the owner before was assigned it.
    let mut assigned_at: BTreeMap<i32, Duration> = BTreeMap::new();
    let mut revoked_at: BTreeMap<i32, Duration> = BTreeMap::new();
    let mut new_owner: BTreeMap<i32, &Member> = BTreeMap::new();
    for member in all {
        for callback in member
            .callbacks(INPUT)
            .into_iter()
            .filter(|c| c.at >= at && c.at <= end)
        {
            for p in &callback.partitions {
                match callback.kind.as_str() {
                    "assigned" if before.get(p) != Some(&member.name) => {
                        assigned_at.entry(*p).or_insert(callback.at);
                        new_owner.entry(*p).or_insert(member);
                    }
                    "revoked" | "lost" => {
                        revoked_at.entry(*p).or_insert(callback.at);
                    }
                    _ => {}
                }
            }
        }
    }
    let moved: BTreeSet<i32> = assigned_at.keys().copied().collect();

    // Latencies per partition: before the event (baseline) and in the
    // window (a missing record waits until now).
    let (from, to) = (micros(at.saturating_sub(BASELINE)), micros(at));
    let judged_until = micros(end.saturating_sub(TAIL));
    let mut baseline: BTreeMap<i32, Vec<f64>> = BTreeMap::new();
    let mut window_latency: BTreeMap<i32, Vec<(u64, f64)>> = BTreeMap::new();
    for (seq, (p, produced)) in sent.iter().enumerate() {
        let got = received.get(&(seq as u64)).copied();
        if *produced >= from && *produced < to {
            if let Some(got) = got {
                baseline.entry(*p).or_default().push((got - produced) as f64 / 1000.0);
            }
        } else if *produced >= to && *produced < judged_until {
            let latency = (got.unwrap_or(now) - produced) as f64 / 1000.0;
            window_latency
                .entry(*p)
                .or_default()
                .push((got.unwrap_or(now), latency));
        }
    }
    let mut medians: BTreeMap<i32, f64> = BTreeMap::new();
    for (p, values) in &mut baseline {
        medians.insert(*p, percentile(values, 0.5));
    }
    let mut stalled_moved = 0;
    let mut stalled_still = 0;
    let mut still_max_ms = 0.0f64;
    let mut still_excess = Vec::new();
    for (p, values) in &window_latency {
        let median = medians.get(p).copied().unwrap_or(0.0);
        let stall = values.iter().map(|(_, l)| l - median).fold(0.0, f64::max);
        let is_stalled = stall > STALLED.as_secs_f64() * 1000.0;
        if moved.contains(p) {
            stalled_moved += usize::from(is_stalled);
        } else {
            stalled_still += usize::from(is_stalled);
            still_max_ms = still_max_ms.max(stall);
            still_excess.extend(values.iter().map(|(_, l)| l - median));
        }
    }

    // Moved tasks: from the revocation (or the event, when the old owner
    // logged none: a kill) to the first output after the new assignment.
    let mut resumed = BTreeMap::new();
    for p in &moved {
        let assigned = micros(assigned_at[p]);
        let handed_over = revoked_at.get(p).copied().unwrap_or(at).min(assigned_at[p]);
        let from = micros(handed_over);
        let first = sent
            .iter()
            .enumerate()
            .filter(|(_, (q, _))| q == p)
            .filter_map(|(seq, _)| received.get(&(seq as u64)).copied())
            .filter(|got| *got >= assigned)
            .min();
        // The task's "task restoring" line precedes the logged assignment.
        let restored = restored(new_owner[p], *p, handed_over);
        resumed.insert(
            *p,
            (
                first.map(|f| (f - from) as f64 / 1000.0),
                first.map(|f| (f - assigned) as f64 / 1000.0),
                restored,
            ),
        );
    }
    let mut all_medians: Vec<f64> = medians.values().copied().collect();
    Figures {
        event,
        settled_after: settled.map(|s| s.saturating_sub(at)),
        moved,
        stalled_moved,
        stalled_still,
        still_max_ms,
        still_p99_ms: percentile(&mut still_excess, 0.99),
        resumed,
        median_ms: percentile(&mut all_medians, 0.5),
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "pass" } else { "MISS" }
}

fn report(figures: &[Figures], setup: &Setup) {
    let warmth = match (setup.standbys, setup.warm_up) {
        (0, false) => "no standby".to_string(),
        (n, false) => format!("{n} standby"),
        (0, true) => "warm-up".to_string(),
        (n, true) => format!("{n} standby, warm-up"),
    };
    println!();
    println!(
        "| event | settled (s) | median before (ms) | moved | stalled moved / not moved | not-moved max stall (ms) | \
         not-moved p99 (ms) | moved: revoke to first output (s), max | moved: assigned to first output (s), max | \
         restored per moved task | targets |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for f in figures {
        let resumes: Vec<f64> = f.resumed.values().filter_map(|(r, _, _)| *r).collect();
        let not_resumed = f.resumed.values().filter(|(r, _, _)| r.is_none()).count();
        let resume_max = resumes.iter().copied().fold(0.0, f64::max) / 1000.0;
        let working_max = f.resumed.values().filter_map(|(_, w, _)| *w).fold(0.0, f64::max) / 1000.0;
        let restored: Vec<u64> = f.resumed.values().filter_map(|(_, _, r)| *r).collect();
        let mut targets = vec![format!(
            "not-moved stall <= 1 s: {}",
            pass(f.still_max_ms <= STALLED.as_secs_f64() * 1000.0)
        )];
        if f.event == "same-id restart" {
            targets.push(format!("moves 0 tasks: {}", pass(f.moved.is_empty())));
        }
        if !f.moved.is_empty() {
            targets.push(format!(
                "moved resumes <= {} s: {} ({warmth})",
                STANDBY_RESUME.as_secs(),
                pass(not_resumed == 0 && resume_max <= STANDBY_RESUME.as_secs_f64())
            ));
        }
        println!(
            "| {} | {} | {:.0} | {} {:?} | {} / {} | {:.0} | {:.0} | {} | {} | {} | {} |",
            f.event,
            f.settled_after
                .map_or("not settled".into(), |s| format!("{:.2}", s.as_secs_f64())),
            f.median_ms,
            f.moved.len(),
            f.moved,
            f.stalled_moved,
            f.stalled_still,
            f.still_max_ms,
            f.still_p99_ms,
            if f.moved.is_empty() {
                "-".to_string()
            } else if not_resumed > 0 {
                format!("{resume_max:.2} ({not_resumed} not resumed in the window)")
            } else {
                format!("{resume_max:.2}")
            },
            if f.moved.is_empty() {
                "-".to_string()
            } else {
                format!("{working_max:.2}")
            },
            if restored.is_empty() {
                "-".to_string()
            } else {
                format!("{}..{}", restored.iter().min().unwrap(), restored.iter().max().unwrap())
            },
            targets.join("; ")
        );
    }
    for f in figures {
        for (p, (resume, working, restored)) in &f.resumed {
            println!(
                "  {}: partition {p} resumed {} after its revocation ({} after its assignment), restoring {} records",
                f.event,
                resume.map_or("not within the window".into(), |r| format!("{:.2} s", r / 1000.0)),
                working.map_or("-".into(), |r| format!("{:.2} s", r / 1000.0)),
                restored.map_or("?".into(), |r| r.to_string())
            );
        }
    }
}

fn main() {
    let keys = env_or("RILL_BENCH_KEYS", 1_000_000);
    let window = Duration::from_secs(env_or("RILL_BENCH_WINDOW_S", 30));
    let setup = Setup {
        protocol: std::env::var("RILL_BENCH_PROTOCOL").unwrap_or_else(|_| "consumer".into()),
        standbys: env_or("RILL_BENCH_STANDBYS", 0),
        warm_up: env_or("RILL_BENCH_WARM_UP", 0) == 1,
    };
    let protocol = &setup.protocol;
    let members_topic = format!("{APP}-rill-members");
    let mut topics: Vec<(&str, i32)> = [INPUT, OUTPUT, CHANGELOG, "order.count.dlq"]
        .map(|t| (t, PARTITIONS))
        .to_vec();
    topics.push((members_topic.as_str(), 1));
    let broker = DevBroker::start(&topics);
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "order-count");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "rebalance bench: {keys} keys, {RATE} records/s over {PARTITIONS} partitions, --group-protocol {protocol}, \
         --standby-replicas {}, warm-up {}, broker {}, load average {}",
        setup.standbys,
        if setup.warm_up { "on" } else { "off" },
        std::env::var("RILL_TEST_BROKER").unwrap_or_else(|_| "dev".into()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let started = Instant::now();
    preload(&broker.bootstrap, keys);
    println!(
        "changelog pre-loaded with {keys} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sent: Sent = Arc::default();
    let received: Received = Arc::default();
    let producer = {
        let (bootstrap, sent, stop) = (broker.bootstrap.clone(), sent.clone(), stop.clone());
        std::thread::spawn(move || produce(bootstrap, keys, t0, sent, stop))
    };
    let checker = {
        let (bootstrap, received, stop) = (broker.bootstrap.clone(), received.clone(), stop.clone());
        std::thread::spawn(move || check(bootstrap, t0, received, stop))
    };
    let b_dir = dir.path();
    let a = start("a", Some("a"), &broker.bootstrap, b_dir, &setup, t0);
    let mut b = start("b", Some("b"), &broker.bootstrap, b_dir, &setup, t0);
    let first = settle(&[&a, &b], t0).expect("the first two members did not settle");
    assert!(
        flowing(first, &sent, &received, SETTLE_LIMIT),
        "not every partition produced output after the group settled:\n{}\n{}",
        a.log(),
        b.log()
    );
    println!(
        "two members settled and every task restored and running {:.1} s after starting",
        t0.elapsed().as_secs_f64()
    );
    let steady = |since: Duration| {
        assert!(
            flowing(since, &sent, &received, SETTLE_LIMIT),
            "not every partition flows again"
        );
        std::thread::sleep(BASELINE);
    };
    steady(t0.elapsed());
    let mut figures = Vec::new();
    let mut retired: Vec<Member> = Vec::new();

    // A member joins (dynamic: no instance id, so its leave is immediate).
    let before = stable(&[&a, &b], t0);
    let at = t0.elapsed();
    let mut c = start("c", None, &broker.bootstrap, b_dir, &setup, t0);
    figures.push(measure(
        "join",
        at,
        &before,
        &[&a, &b, &c],
        &[&a, &b, &c],
        t0,
        &sent,
        &received,
        window,
    ));
    steady(t0.elapsed());

    // It leaves cleanly.
    let before = stable(&[&a, &b, &c], t0);
    let at = t0.elapsed();
    terminate(&mut c.child);
    wait_exit(&mut c.child, Duration::from_secs(60));
    figures.push(measure(
        "clean leave",
        at,
        &before,
        &[&a, &b],
        &[&a, &b, &c],
        t0,
        &sent,
        &received,
        window,
    ));
    retired.push(c);
    steady(t0.elapsed());

    // b restarts with its instance id.
    let before = stable(&[&a, &b], t0);
    let at = t0.elapsed();
    terminate(&mut b.child);
    wait_exit(&mut b.child, Duration::from_secs(60));
    let old_b = std::mem::replace(&mut b, start("b", Some("b"), &broker.bootstrap, b_dir, &setup, t0));
    figures.push(measure(
        "same-id restart",
        at,
        &before,
        &[&a, &b],
        &[&a, &old_b, &b],
        t0,
        &sent,
        &received,
        window,
    ));
    retired.push(old_b);
    steady(t0.elapsed());

    // b is killed.
    let before = stable(&[&a, &b], t0);
    let at = t0.elapsed();
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    figures.push(measure(
        "SIGKILL",
        at,
        &before,
        &[&a],
        &[&a, &b],
        t0,
        &sent,
        &received,
        window,
    ));

    stop.store(true, Ordering::Release);
    producer.join().expect("the producer thread");
    checker.join().expect("the checker thread");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report(&figures, &setup);
    println!(
        "Load average at the end {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let mut a = a;
    terminate(&mut a.child);
    wait_exit(&mut a.child, Duration::from_secs(60));
}
