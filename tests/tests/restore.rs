//! Restores run off the consumer's poll loop (Kafka Streams' state
//! updater): while one task restores a large changelog, the application's
//! other tasks keep processing, the group keeps working (a member joining
//! mid-restore gets its share), and the restored state is right.

use rdkafka::producer::Producer;
use rill_tests::{DevBroker, install_passthrough, install_plugin, produce, read_all, rill, terminate, wait_exit};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const APP: &str = "restoring";
const CHANGELOG: &str = "restoring-counts-changelog";
const PARTITIONS: i32 = 8;
/// Partitions of the pass-through's input `in`.
const IN_PARTITIONS: i32 = 2;
const STATE_KEYS: usize = 1_000_000;

fn member(broker: &DevBroker, manifests: &[PathBuf], dir: &Path, name: &str) -> (Child, PathBuf) {
    let log = dir.join(format!("{name}.log"));
    let child = rill()
        .arg("run")
        .args(manifests)
        .args(["--brokers", &broker.bootstrap, "--application-id", APP])
        .args(["-X", "consumer.session.timeout.ms=6000", "--state-dir"])
        .arg(dir.join(name))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    (child, log)
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn other_tasks_keep_processing_while_a_large_changelog_restores_and_a_member_joins() {
    let broker = DevBroker::start(&[
        ("order", PARTITIONS),
        ("order_count", PARTITIONS),
        ("order.count.dlq", PARTITIONS),
        (CHANGELOG, PARTITIONS),
        ("in", IN_PARTITIONS),
        ("out", IN_PARTITIONS),
        ("dlq", IN_PARTITIONS),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let manifests = vec![
        install_plugin(dir.path(), "order-count"),
        install_passthrough(dir.path()),
    ];

    // Large state: a count of 1 for each of a million keys, in the
    // changelog, as a previous run on another machine would have left it
    // (keyed like the orders, so each count is in its key's partition).
    let settings = rill_host::kafka::KafkaSettings::new(&broker.bootstrap);
    let producer: rdkafka::producer::ThreadedProducer<rdkafka::producer::DefaultProducerContext> =
        settings.producer().create().unwrap();
    let one = 1u64.to_be_bytes();
    for i in 0..STATE_KEYS {
        let key = format!("key-{i}");
        let mut record = rdkafka::producer::BaseRecord::<str, [u8]>::to(CHANGELOG)
            .key(&key)
            .payload(&one[..]);
        while let Err((e, back)) = producer.send(record) {
            assert_eq!(
                e.rdkafka_error_code(),
                Some(rdkafka::types::RDKafkaErrorCode::QueueFull),
                "{e}"
            );
            record = back;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    drop(producer);
    let inputs: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..20_000)
        .map(|i| (Some(format!("k{i}").into_bytes()), format!("r{i}").into_bytes()))
        .collect();
    produce(&broker.bootstrap, "in", &inputs);

    let started = Instant::now();
    let (mut first, first_log) = member(&broker, &manifests, dir.path(), "first");
    // The pass-through's output appears while order-count still restores.
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_all(&broker.bootstrap, "out").is_empty() {
        assert!(Instant::now() < deadline, "no output:\n{}", read(&first_log));
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = read(&first_log);
    let finished = log.matches("restored ").count();
    println!(
        "first pass-through output {:?} after start, with {finished} of {PARTITIONS} restores finished",
        started.elapsed()
    );
    assert!(
        finished < PARTITIONS as usize,
        "the other tasks produced only after every restore had finished ({finished} of {PARTITIONS}):\n{log}"
    );

    // A member joins mid-restore: the group rebalances without waiting for
    // the restore, and each member ends up with its share: half of the
    // partitions of `order` and `in` together (the cooperative assignor
    // balances their count, not each topic's).
    let (mut second, second_log) = member(&broker, &manifests, dir.path(), "second");
    let deadline = Instant::now() + Duration::from_secs(90);
    let share = (PARTITIONS + IN_PARTITIONS) as usize / 2;
    let split = |log: &str| {
        log.lines()
            .rfind(|l| l.contains("assignment now:") && !l.ends_with("assignment now: none"))
            .is_some_and(|l| l.matches("order/").count() + l.matches("in/").count() == share)
    };
    while !(split(&read(&first_log)) && split(&read(&second_log))) {
        assert!(
            Instant::now() < deadline,
            "the group did not split:\n{}\n---\n{}",
            read(&first_log),
            read(&second_log)
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Counts continue from the restored state on whichever member owns a key.
    let keys: Vec<String> = (0..200).map(|i| format!("key-{}", i * 4999)).collect();
    let orders: Vec<(Option<Vec<u8>>, Vec<u8>)> = keys
        .iter()
        .map(|k| (Some(k.clone().into_bytes()), b"item".to_vec()))
        .collect();
    produce(&broker.bootstrap, "order", &orders);
    let deadline = Instant::now() + Duration::from_secs(120);
    let latest = loop {
        let mut latest = BTreeMap::new();
        for r in read_all(&broker.bootstrap, "order_count") {
            let text = String::from_utf8(r.value.unwrap()).unwrap();
            let (key, count) = text.split_once(':').unwrap();
            latest.insert(key.to_string(), count.to_string());
        }
        if latest.len() == keys.len() || Instant::now() > deadline {
            break latest;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let want: BTreeMap<String, String> = keys.iter().map(|k| (k.clone(), "2".to_string())).collect();
    assert_eq!(latest, want, "\n{}\n---\n{}", read(&first_log), read(&second_log));
    let out: std::collections::HashSet<Vec<u8>> = read_all(&broker.bootstrap, "out")
        .into_iter()
        .filter_map(|r| r.value)
        .collect();
    assert!(
        inputs.iter().all(|(_, v)| out.contains(v)),
        "every pass-through input came out"
    );

    for (child, log) in [(&mut first, &first_log), (&mut second, &second_log)] {
        terminate(child);
        assert!(wait_exit(child, Duration::from_secs(60)).success(), "{}", read(log));
    }
}
