//! A `rill run` group member as the scale-out tests see it: a child
//! process whose log lines are stamped with when the test read them, and
//! what those lines say about its assignment.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One running member and its stamped log.
pub struct Member {
    /// A name for messages.
    pub name: String,
    /// The process.
    pub child: Child,
    lines: Arc<Mutex<Vec<(Duration, String)>>>,
    /// When it was started, since `t0`.
    pub started: Duration,
}

/// A rebalance callback the member logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// When the test read the line, since `t0`.
    pub at: Duration,
    /// `assigned`, `revoked` or `lost`.
    pub kind: String,
    /// The partitions of the topic asked about.
    pub partitions: BTreeSet<i32>,
}

impl Member {
    /// Spawns `command` (a `rill run`), its stderr read line by line.
    pub fn spawn(name: &str, mut command: Command, t0: Instant) -> Member {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning rill run");
        let started = t0.elapsed();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push((t0.elapsed(), line));
            }
        });
        Member {
            name: name.to_string(),
            child,
            lines,
            started,
        }
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// Every line so far with when it was read, for measurements that
    /// time what a member logged (restores, callbacks).
    pub fn stamped(&self) -> Vec<(Duration, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// Whether a line containing `text` was logged.
    pub fn logged(&self, text: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|(_, l)| l.contains(text))
    }

    /// The rebalance callbacks logged ("partitions assigned|revoked|lost:
    /// ..."), with the partitions of `topic` each named.
    pub fn callbacks(&self, topic: &str) -> Vec<Callback> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter_map(|(at, line)| {
                let (_, rest) = line.split_once("partitions ")?;
                let (kind, list) = rest.split_once(": ")?;
                if !["assigned", "revoked", "lost"].contains(&kind) {
                    return None;
                }
                Some(Callback {
                    at: *at,
                    kind: kind.to_string(),
                    partitions: partitions_of(list, topic),
                })
            })
            .collect()
    }

    /// Its current assignment of `topic` (an incremental callback carries
    /// only the change; the member logs the whole after each callback),
    /// with when it was logged.
    pub fn working(&self, topic: &str) -> Option<(Duration, BTreeSet<i32>)> {
        let lines = self.lines.lock().unwrap();
        lines.iter().rev().find_map(|(at, line)| {
            let (_, list) = line.split_once("assignment now: ")?;
            Some((*at, partitions_of(list, topic)))
        })
    }
}

/// The partition numbers of `topic` in a `topic/partition, ...` list.
fn partitions_of(list: &str, topic: &str) -> BTreeSet<i32> {
    let prefix = format!("{topic}/");
    list.split(", ")
        .filter_map(|tp| tp.trim().strip_prefix(prefix.as_str())?.parse().ok())
        .collect()
}

impl Drop for Member {
    /// A failed test leaves no member running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until every member works on a share of `topic`'s `partitions`,
/// logged after `since`, the shares covering all of them once; returns when
/// the last of them was logged. Panics with every log after `limit`.
pub fn settled(
    members: &[&Member],
    topic: &str,
    partitions: usize,
    since: Duration,
    t0: Instant,
    limit: Duration,
) -> Duration {
    let deadline = Instant::now() + limit;
    loop {
        let working: Vec<_> = members.iter().filter_map(|m| m.working(topic)).collect();
        if working.len() == members.len() && working.iter().all(|(at, p)| *at >= since && !p.is_empty()) {
            let total: usize = working.iter().map(|(_, p)| p.len()).sum();
            let union: BTreeSet<i32> = working.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            if total == partitions && union.len() == partitions {
                return working.iter().map(|(at, _)| *at).max().unwrap();
            }
        }
        if Instant::now() > deadline {
            panic!(
                "the group did not settle within {limit:?} after {since:?} (now {:?}):\n{}",
                t0.elapsed(),
                logs(members)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops every member with SIGTERM (all at once, as a deployment would)
/// and checks that each exits successfully.
pub fn stop_all(members: &mut [Member]) {
    for member in members.iter_mut() {
        crate::terminate(&mut member.child);
    }
    for member in members.iter_mut() {
        let status = crate::wait_exit(&mut member.child, Duration::from_secs(30));
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            member.name,
            member.log()
        );
    }
}

/// Waits until `group` has committed `topic` up to `total` records (the
/// sum over its partitions), showing every member's log if it does not
/// within `limit`.
pub fn wait_committed(bootstrap: &str, group: &str, topic: &str, total: i64, members: &[&Member], limit: Duration) {
    let deadline = Instant::now() + limit;
    while crate::committed(bootstrap, group, topic) < total {
        if Instant::now() > deadline {
            panic!(
                "{topic} not committed to its end ({} of {total}) within {limit:?}:\n{}",
                crate::committed(bootstrap, group, topic),
                logs(members)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every member's log, each under its name, for a failure message.
pub fn logs(members: &[&Member]) -> String {
    members
        .iter()
        .map(|m| format!("--- {}:\n{}", m.name, m.log()))
        .collect()
}
