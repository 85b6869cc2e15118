//! Interactive queries (issue 26), end to end: two instances of
//! `order-count` share `order`'s partitions; for every key, the instance
//! owning the key's partition answers `GET /stores/counts/keys/<key>` with
//! the key's count (order-count stores it as a big-endian u64), and the
//! other says 503 "not here" for the same partition, never an empty answer;
//! with `--advertised-http`, it redirects to the owner instead. A key that
//! was never counted is a 404 on its owner; a bad store name or key
//! encoding gets a 4xx naming the problem.

use rill_tests::member::{Member, settled, stop_all, wait_committed};
use rill_tests::{DevBroker, free_port, http_get, http_get_with, install_plugin, produce, produce_at, rill};
use std::path::Path;
use std::time::{Duration, Instant};

const APP: &str = "e2e-queries";
const PARTITIONS: i32 = 4;
const KEYS: usize = 24;

/// How the instances serve `--http`.
#[derive(Clone, Copy)]
struct Serving {
    /// With `--advertised-http` (redirects to the owner).
    advertise: bool,
    /// With `--http-token-file` holding [`TOKEN`].
    token: bool,
    /// With `--http-tls-cert`/`--http-tls-key` signed by `ca.pem` ([`certify`]).
    tls: bool,
}

/// The bearer token of instances started with `Serving { token: true }`.
const TOKEN: &str = "e2e-queries-token";

fn start(name: &str, broker: &str, dir: &Path, t0: Instant, serving: Serving) -> (Member, String) {
    let http = format!("127.0.0.1:{}", free_port());
    let mut command = rill();
    command
        .arg("run")
        .arg(dir.join("order-count/plugin.toml"))
        .args(["--brokers", broker, "--application-id", APP])
        // KIP-848: the dev broker settles its groups in seconds.
        .args(["--group-protocol", "consumer"])
        .args(["--commit-interval", "200ms", "--http", &http])
        .arg("--state-dir")
        .arg(dir.join(name));
    if serving.advertise {
        command.args(["--advertised-http", &http]);
    }
    if serving.token {
        command.arg("--http-token-file").arg(dir.join("token"));
    }
    if serving.tls {
        command.arg("--http-tls-cert").arg(dir.join("server.pem"));
        command.arg("--http-tls-key").arg(dir.join("server.key"));
    }
    (Member::spawn(name, command, t0), http)
}

/// The JSON answer of `path` on `http`, with its status.
fn ask(http: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get(http, path).unwrap_or_else(|| panic!("{http}{path} did not answer"));
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, json)
}

/// Two instances that counted `q<i>` (i + 1 orders each), settled and
/// committed, and their HTTP addresses.
struct Counted {
    members: [Member; 2],
    http: [String; 2],
    _dir: tempfile::TempDir,
    _broker: DevBroker,
}

impl Drop for Counted {
    fn drop(&mut self) {
        stop_all(&mut self.members);
    }
}

fn counted(serving: Serving) -> Counted {
    // The dev broker creates no topics on request: every one up front.
    let changelog = format!("{APP}-counts-changelog");
    let members = format!("{APP}-rill-members");
    let broker = DevBroker::start(&[
        ("order", PARTITIONS),
        ("order_count", PARTITIONS),
        ("order.count.dlq", PARTITIONS),
        (changelog.as_str(), PARTITIONS),
        (members.as_str(), 1),
    ]);
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "order-count");
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    if serving.tls {
        certify(dir.path());
    }
    let orders: Vec<(Option<Vec<u8>>, Vec<u8>)> = (0..KEYS)
        .flat_map(|i| {
            (0..=i).map(move |n| {
                (
                    Some(format!("q{i}").into_bytes()),
                    format!("order-{i}-{n}").into_bytes(),
                )
            })
        })
        .collect();
    let total = orders.len() as i64;

    let t0 = Instant::now();
    let (a, a_http) = start("a", &broker.bootstrap, dir.path(), t0, serving);
    let (b, b_http) = start("b", &broker.bootstrap, dir.path(), t0, serving);
    settled(
        &[&a, &b],
        "order",
        PARTITIONS as usize,
        b.started,
        t0,
        Duration::from_secs(60),
    );
    produce(&broker.bootstrap, "order", &orders);
    wait_committed(
        &broker.bootstrap,
        APP,
        "order",
        total,
        &[&a, &b],
        Duration::from_secs(60),
    );
    Counted {
        members: [a, b],
        http: [a_http, b_http],
        _dir: dir,
        _broker: broker,
    }
}

/// The count in a 200 answer: order-count declares `counts = "u64-be"`,
/// so the answer carries the number itself.
fn count_in(found: &serde_json::Value) -> u64 {
    assert_eq!(found["encoding"], "u64-be", "the declared codec read it: {found}");
    found["value"].as_u64().unwrap_or_else(|| panic!("a number: {found}"))
}

#[test]
fn each_key_is_answered_by_the_instance_owning_its_partition_with_its_count() {
    let app = counted(Serving {
        advertise: false,
        token: false,
        tls: false,
    });
    let [a_http, b_http] = &app.http;

    let mut answered_by = [0, 0];
    for i in 0..KEYS {
        let path = format!("/stores/counts/keys/q{i}");
        let answers = [ask(a_http, &path), ask(b_http, &path)];
        let owner = answers
            .iter()
            .position(|(status, _)| *status == 200)
            .unwrap_or_else(|| panic!("q{i}: no instance answered 200: {answers:?}"));
        answered_by[owner] += 1;
        let (_, found) = &answers[owner];
        assert_eq!(count_in(found), i as u64 + 1, "q{i}'s count: {found}");
        let (status, other) = &answers[1 - owner];
        assert_eq!(*status, 503, "q{i}: the other instance: {other}");
        assert_eq!(other["reason"], "not-here", "q{i}: {other}");
        assert_eq!(other["partition"], found["partition"], "both name the key's partition");
    }
    assert!(
        answered_by.iter().all(|n| *n > 0),
        "both instances own keys: {answered_by:?}"
    );

    // Never counted: a 404 from its owner, a 503 from the other.
    let statuses: Vec<u16> = [a_http, b_http]
        .iter()
        .map(|http| ask(http, "/stores/counts/keys/never").0)
        .collect();
    assert!(
        statuses.contains(&404) && statuses.contains(&503),
        "an absent key: {statuses:?}"
    );
    // Base64 keys name the same bytes ("cTA=" is q0).
    let q0 = [
        ask(a_http, "/stores/counts/keys/q0"),
        ask(b_http, "/stores/counts/keys/q0"),
    ];
    let q0_base64 = [
        ask(a_http, "/stores/counts/keys/cTA=?key-encoding=base64"),
        ask(b_http, "/stores/counts/keys/cTA=?key-encoding=base64"),
    ];
    assert_eq!(
        q0.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        q0_base64.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "a base64 key is the same key"
    );

    let (status, unknown) = ask(a_http, "/stores/count/keys/q0");
    assert_eq!(status, 404);
    assert_eq!(unknown["stores"], serde_json::json!(["counts"]), "{unknown}");
    let (status, bad) = ask(a_http, "/stores/counts/keys/%25%25?key-encoding=base64");
    assert_eq!(status, 400, "{bad}");
}

#[test]
fn ranges_and_prefixes_merge_each_instances_partitions_and_name_the_rest() {
    let app = counted(Serving {
        advertise: false,
        token: false,
        tls: false,
    });
    let mut seen = std::collections::BTreeMap::new();
    let mut missing_everywhere = Vec::new();
    for http in &app.http {
        let (status, all) = ask(http, "/stores/counts/range?limit=10000");
        assert_eq!(status, 200, "{all}");
        let entries = all["entries"].as_array().unwrap();
        let keys: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "merged in key order: {all}");
        for entry in entries {
            let key = entry["key"].as_str().unwrap().to_string();
            let (_, found) = ask(http, &format!("/stores/counts/keys/{key}"));
            assert_eq!(
                found["partition"], entry["partition"],
                "{key}: the scan names the key's partition"
            );
            assert_eq!(
                entry["value"], found["value"],
                "{key}: the scan reads what a lookup does"
            );
            assert!(
                seen.insert(key.clone(), count_in(entry)).is_none(),
                "{key} from one instance only"
            );
        }
        // Each instance holds some partitions and names the others.
        let missing: Vec<i64> = all["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        assert!(!missing.is_empty() && missing.len() < PARTITIONS as usize, "{all}");
        assert_eq!(all["complete"], false);
        assert_eq!(all["more"], false);
        missing_everywhere.push(missing);
    }
    let expected: std::collections::BTreeMap<String, u64> =
        (0..KEYS).map(|i| (format!("q{i}"), i as u64 + 1)).collect();
    assert_eq!(seen, expected, "the two instances' ranges hold every count once");
    assert_eq!(
        missing_everywhere[0].len() + missing_everywhere[1].len(),
        PARTITIONS as usize,
        "what one lacks the other holds: {missing_everywhere:?}"
    );

    // Bounds are inclusive; limits cut and say so; prefixes select.
    let mut within = Vec::new();
    let mut prefixed = Vec::new();
    for http in &app.http {
        let (_, some) = ask(http, "/stores/counts/range?from=q1&to=q12");
        within.extend(
            some["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["key"].as_str().unwrap().to_string()),
        );
        let (_, prefix) = ask(http, "/stores/counts/prefix/q2");
        prefixed.extend(
            prefix["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["key"].as_str().unwrap().to_string()),
        );
        let (_, one) = ask(http, "/stores/counts/range?limit=1");
        assert_eq!(one["entries"].as_array().unwrap().len(), 1, "{one}");
        assert_eq!(one["more"], true, "{one}");
    }
    within.sort();
    prefixed.sort();
    assert_eq!(within, ["q1", "q10", "q11", "q12"]);
    assert_eq!(prefixed, ["q2", "q20", "q21", "q22", "q23"]);

    for bad in [
        "/stores/counts/range?limit=0",
        "/stores/counts/range?limit=lots",
        "/stores/counts/range?from=q3&to=q1",
        "/stores/counts/prefix/%25?key-encoding=base64",
        "/stores/counts/windows/q1",
    ] {
        let (status, answer) = ask(&app.http[0], bad);
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].is_string(), "{bad}: {answer}");
    }
    let (status, unknown) = ask(&app.http[0], "/stores/count/range");
    assert_eq!(
        (status, unknown["stores"].clone()),
        (404, serde_json::json!(["counts"]))
    );
}

#[test]
fn with_advertised_addresses_any_instance_sends_a_query_to_the_owner() {
    let app = counted(Serving {
        advertise: true,
        token: false,
        tls: false,
    });
    for i in 0..KEYS {
        let path = format!("/stores/counts/keys/q{i}");
        for (asked, http) in app.http.iter().enumerate() {
            // The membership topic carries each instance's tasks within a
            // heartbeat (3 s) of the group settling.
            let deadline = Instant::now() + Duration::from_secs(20);
            let (status, answer) = loop {
                let (status, answer) = ask(http, &path);
                if status != 503 || Instant::now() > deadline {
                    break (status, answer);
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            match status {
                200 => assert_eq!(count_in(&answer), i as u64 + 1, "q{i} from its owner: {answer}"),
                307 => {
                    let owner = answer["owner"].as_str().unwrap();
                    assert_eq!(owner, app.http[1 - asked], "q{i}: redirected to the other instance");
                    let location = answer["location"].as_str().unwrap();
                    let followed = location.replacen(&format!("http://{owner}"), "", 1);
                    let (status, found) = ask(owner, &followed);
                    assert_eq!(status, 200, "q{i} at {location}: {found}");
                    assert_eq!(count_in(&found), i as u64 + 1, "q{i} after the redirect: {found}");
                }
                other => panic!("q{i} asked of {http}: {other} {answer}"),
            }
            let (_, meta) = ask(http, &format!("/stores/counts/metadata/q{i}"));
            assert_eq!(
                meta["owner"].is_null(),
                status == 200,
                "q{i}'s metadata from {http}: {meta}"
            );
            assert_eq!(
                meta["state"],
                if status == 200 { "running" } else { "not-here" },
                "{meta}"
            );
        }
    }

    // `rill query` asks either instance, follows the redirect, prints JSON.
    for i in [0, KEYS / 2, KEYS - 1] {
        for http in &app.http {
            let answer = query_ok(&["--http", http, "counts", &format!("q{i}")]);
            assert_eq!(
                count_in(&answer),
                i as u64 + 1,
                "q{i} through rill query at {http}: {answer}"
            );
        }
    }
    let ranged = query_ok(&["--http", &app.http[0], "counts", "--range", "q1..q12", "--limit", "50"]);
    assert!(ranged["entries"].is_array(), "{ranged}");
    let (code, stderr) = query_fails(&["--http", &app.http[0], "count", "q0"]);
    assert!(
        stderr.contains("404") && stderr.contains("no store named"),
        "{code:?}: {stderr}"
    );
    let (_, stderr) = query_fails(&["--http", &app.http[0], "counts", "--range", "q1"]);
    assert!(stderr.contains("FROM..TO"), "{stderr}");
}

/// What `rill query ARGS` printed, parsed; it must succeed.
fn query_ok(args: &[&str]) -> serde_json::Value {
    let out = rill().arg("query").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rill query {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("rill query {args:?}: {e}: {stdout}"))
}

/// The exit code and stderr of `rill query ARGS`, which must fail.
fn query_fails(args: &[&str]) -> (Option<i32>, String) {
    let out = rill().arg("query").args(args).output().unwrap();
    assert!(!out.status.success(), "rill query {args:?} must fail");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn with_a_token_every_endpoint_but_health_refuses_strangers_alike() {
    let app = counted(Serving {
        advertise: true,
        token: true,
        tls: false,
    });
    let bearer = format!("Bearer {TOKEN}");
    let status = |http: &str, path: &str, authorization: Option<&str>| {
        let headers: Vec<(&str, &str)> = authorization.map(|a| ("Authorization", a)).into_iter().collect();
        http_get_with(http, path, &headers).unwrap_or_else(|| panic!("{http}{path} did not answer"))
    };
    let http = &app.http[0];
    for path in [
        "/metrics",
        "/status",
        "/ready",
        "/stores/counts/keys/q0",
        "/stores/counts/keys/never",
        "/stores/nope/keys/q0",
        "/stores/counts/range",
        "/no/such/endpoint",
    ] {
        let (code, body) = status(http, path, None);
        assert_eq!(code, 401, "{path} without a token: {body}");
        let (code, wrong) = status(http, path, Some("Bearer not-the-token"));
        assert_eq!(code, 403, "{path} with another token: {wrong}");
        // The same words whatever the path: nothing said about what exists.
        assert_eq!(
            wrong,
            status(http, "/stores/nope/keys/q0", Some("Bearer not-the-token")).1
        );
        assert_eq!(body, status(http, "/stores/nope/keys/q0", None).1);
    }
    assert_eq!(status(http, "/health", None).0, 200, "liveness stays open");
    assert_eq!(status(http, "/metrics", Some(&bearer)).0, 200);
    assert_eq!(status(http, "/stores/nope/keys/q0", Some(&bearer)).0, 404);

    // The owner answers the token too: each key, asked of both instances
    // with the token, is a 200 or a 307 whose target answers 200 with it.
    for i in 0..KEYS {
        let path = format!("/stores/counts/keys/q{i}");
        for http in &app.http {
            let deadline = Instant::now() + Duration::from_secs(20);
            let (code, body) = loop {
                let (code, body) = status(http, &path, Some(&bearer));
                if code != 503 || Instant::now() > deadline {
                    break (code, body);
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
            match code {
                200 => assert_eq!(count_in(&answer), i as u64 + 1),
                307 => {
                    let owner = answer["owner"].as_str().unwrap();
                    let followed = answer["location"]
                        .as_str()
                        .unwrap()
                        .replacen(&format!("http://{owner}"), "", 1);
                    assert_eq!(
                        status(owner, &followed, None).0,
                        401,
                        "the owner asks for the token too"
                    );
                    let (code, found) = status(owner, &followed, Some(&bearer));
                    assert_eq!(code, 200, "{found}");
                }
                other => panic!("q{i} at {http}: {other} {body}"),
            }
        }
    }

    // rill query sends the token, and again after the redirect.
    let token_file = app._dir.path().join("token");
    let token_file = token_file.to_str().unwrap();
    for http in &app.http {
        for i in [0, KEYS - 1] {
            let answer = query_ok(&["--http", http, "--token-file", token_file, "counts", &format!("q{i}")]);
            assert_eq!(count_in(&answer), i as u64 + 1, "{answer}");
        }
    }
    let (_, stderr) = query_fails(&["--http", http, "counts", "q0"]);
    assert!(stderr.contains("401"), "{stderr}");
    let wrong = app._dir.path().join("wrong-token");
    std::fs::write(&wrong, "nope").unwrap();
    let (_, stderr) = query_fails(&["--http", http, "--token-file", wrong.to_str().unwrap(), "counts", "q0"]);
    assert!(stderr.contains("403"), "{stderr}");
}

#[test]
fn a_windowed_stores_windows_are_fetched_by_key_and_time() {
    const WINDOWED: &str = "e2e-queries-windows";
    let changelog = format!("{WINDOWED}-counts-changelog");
    let broker = DevBroker::start(&[
        ("order", 2),
        ("order_window_count", 2),
        ("order.window.dlq", 2),
        (changelog.as_str(), 2),
    ]);
    let dir = tempfile::tempdir().unwrap();
    install_plugin(dir.path(), "order-window-count");
    let http = format!("127.0.0.1:{}", free_port());
    let t0 = Instant::now();
    let mut command = rill();
    command
        .arg("run")
        .arg(dir.path().join("order-window-count/plugin.toml"))
        .args(["--brokers", &broker.bootstrap, "--application-id", WINDOWED])
        .args(["--group-protocol", "consumer"])
        .args(["--commit-interval", "200ms", "--http", &http])
        .arg("--state-dir")
        .arg(dir.path().join("w"));
    let member = Member::spawn("w", command, t0);
    settled(&[&member], "order", 2, member.started, t0, Duration::from_secs(60));
    // 10-minute windows with a minute of grace: stream time 601 s closes
    // nothing, so both of w1's windows are in the store.
    produce_at(
        &broker.bootstrap,
        "order",
        &[
            ("w1", Some("a"), 1_000),
            ("w1", Some("b"), 2_000),
            ("w2", Some("c"), 5_000),
            ("w1", Some("d"), 601_000),
        ],
    );
    wait_committed(
        &broker.bootstrap,
        WINDOWED,
        "order",
        4,
        &[&member],
        Duration::from_secs(60),
    );
    let mut members = [member];

    let (status, w1) = ask(&http, "/stores/counts/windows/w1");
    assert_eq!(status, 200, "{w1}");
    assert_eq!(
        w1["windows"],
        serde_json::json!([
            {"start": 0, "end": 600_000, "value": 2, "encoding": "json"},
            {"start": 600_000, "end": 1_200_000, "value": 1, "encoding": "json"},
        ]),
        "order-window-count declares counts = \"json\": {w1}"
    );
    let (_, later) = ask(&http, "/stores/counts/windows/w1?from=1&to=600000");
    assert_eq!(later["windows"].as_array().unwrap().len(), 1, "{later}");
    assert_eq!(later["windows"][0]["start"], 600_000);
    let (_, w2) = ask(&http, "/stores/counts/windows/w2?from=0&to=0");
    assert_eq!(w2["windows"][0]["value"], 1, "{w2}");
    let (_, none) = ask(&http, "/stores/counts/windows/w3");
    assert_eq!(none["windows"], serde_json::json!([]), "{none}");
    let (status, refused) = ask(&http, "/stores/counts/keys/w1");
    assert_eq!(status, 400, "a windowed store is read by window: {refused}");
    let (status, _) = ask(&http, "/stores/counts/windows/w1?from=soon");
    assert_eq!(status, 400);

    let fetched = query_ok(&["--http", &http, "counts", "w1", "--windows", "0..0"]);
    assert_eq!(fetched["windows"][0]["value"], 2, "{fetched}");
    stop_all(&mut members);
}

/// Writes `ca.pem` (a certificate authority) and `server.pem` with
/// `server.key` (a certificate for 127.0.0.1 it signed) into `dir`, with
/// the openssl command line.
fn certify(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let rsa = ["-newkey", "rsa:2048", "-nodes", "-days", "2"];
    openssl(
        &[
            &["req", "-x509"],
            &rsa[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=rill-test-ca"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"],
            &rsa[..2],
            &[
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

#[test]
fn over_tls_queries_are_answered_and_redirected_as_https() {
    let app = counted(Serving {
        advertise: true,
        token: true,
        tls: true,
    });
    let dir = app._dir.path();
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let token = dir.join("token");
    let token = token.to_str().unwrap();
    // Every key from both instances: one is the owner, the other redirects
    // to https://owner, and rill query follows with TLS and the token.
    for i in 0..KEYS {
        for http in &app.http {
            let deadline = Instant::now() + Duration::from_secs(20);
            let answer = loop {
                let out = rill()
                    .args(["query", "--http", http, "--tls-ca", ca, "--token-file", token, "counts"])
                    .arg(format!("q{i}"))
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                if out.status.success() {
                    break serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
                }
                assert!(
                    stderr.contains("503") && Instant::now() < deadline,
                    "q{i} at {http}: {stderr}"
                );
                std::thread::sleep(Duration::from_millis(200));
            };
            assert_eq!(count_in(&answer), i as u64 + 1, "q{i} over TLS from {http}: {answer}");
        }
    }
    // Plain HTTP gets no answer from a TLS port; TLS without trusting the
    // authority is refused by the client.
    assert_eq!(http_get(&app.http[0], "/health"), None, "no plain-text answer");
    let (_, stderr) = query_fails(&["--http", &app.http[0], "--token-file", token, "counts", "q0"]);
    assert!(stderr.contains(&app.http[0]), "{stderr}");
    let other = tempfile::tempdir().unwrap();
    certify(other.path());
    let stranger = other.path().join("ca.pem");
    let (_, stderr) = query_fails(&[
        "--http",
        &app.http[0],
        "--tls-ca",
        stranger.to_str().unwrap(),
        "--token-file",
        token,
        "counts",
        "q0",
    ]);
    assert!(stderr.contains("TLS handshake"), "{stderr}");
}
