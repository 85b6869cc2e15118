//! Where each stateful task's standby replicas go (`--standby-replicas N`):
//! computed by every instance alike from the membership view
//! (`kafka::membership`), so no coordinator is needed and each instance
//! starts exactly the standbys placed on it.
//!
//! Rendezvous (highest-random-weight) hashing: the candidates for task `t`
//! are the live instances other than its active owner, ordered by (same
//! host as the owner, hash of `t` and the instance); the first `N` win. A
//! membership change therefore moves only about `1/n` of the standbys, and
//! a standby lands on another machine than its active whenever one is
//! live. While a view change propagates, a standby may be missing or
//! doubled for a few seconds, never anything incorrect: standbys only read.

use super::TaskId;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A live instance, as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its instance id.
    pub instance: String,
    /// The machine it runs on.
    pub host: String,
}

/// The standbys of each task of `owners` (task → its active instance):
/// up to `n` instances of `peers` each, never the owner, other hosts first.
pub fn place_standbys(peers: &[Peer], owners: &BTreeMap<TaskId, String>, n: usize) -> BTreeMap<TaskId, Vec<String>> {
    owners
        .iter()
        .map(|(task, owner)| {
            let owner_host = peers.iter().find(|p| &p.instance == owner).map(|p| p.host.as_str());
            let mut candidates: Vec<(bool, u64, &str)> = peers
                .iter()
                .filter(|p| &p.instance != owner)
                .map(|p| {
                    (
                        Some(p.host.as_str()) == owner_host,
                        weight(task, &p.instance),
                        p.instance.as_str(),
                    )
                })
                .collect();
            candidates.sort();
            let chosen = candidates.into_iter().take(n).map(|(_, _, i)| i.to_string()).collect();
            (task.clone(), chosen)
        })
        .collect()
}

/// The tasks an instance about to join is likely to receive (`--warm-up`),
/// given each live peer's active tasks (`peers`: instance → its tasks).
///
/// rill cannot see the broker's assignor, only its balance: with `n` peers
/// holding `T` tasks, a joiner's share is about `T / (n + 1)`, taken from
/// the peers holding more than `⌊T / (n + 1)⌋`. Which of a giving peer's
/// tasks move is the assignor's choice (sticky or range, member ids), so
/// every task of such a peer is a candidate: a superset, which costs
/// changelog reads before joining and nothing on the stream.
pub fn likely_received(peers: &BTreeMap<String, Vec<TaskId>>) -> std::collections::BTreeSet<TaskId> {
    let total: usize = peers.values().map(Vec::len).sum();
    if peers.is_empty() || total == 0 {
        return Default::default();
    }
    let quota = total / (peers.len() + 1);
    peers
        .values()
        .filter(|tasks| tasks.len() > quota)
        .flatten()
        .cloned()
        .collect()
}

/// The rendezvous weight of `instance` for `task` (lower wins): stable
/// across processes and versions, which a seeded hasher would not be.
fn weight(task: &TaskId, instance: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(task.processor.as_bytes());
    hasher.update([0]);
    hasher.update(task.partition.to_be_bytes());
    hasher.update(instance.as_bytes());
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(p: i32) -> TaskId {
        TaskId {
            processor: "count".into(),
            partition: p,
        }
    }

    #[test]
    fn a_joiner_warms_the_tasks_of_the_peers_that_will_give_some_up() {
        let none: BTreeMap<String, Vec<TaskId>> = BTreeMap::new();
        assert!(likely_received(&none).is_empty(), "no peer: nothing to warm");
        // Two balanced peers of 12 tasks: each drops to 4, any of theirs may move.
        let balanced = BTreeMap::from([
            ("a".to_string(), (0..6).map(task).collect::<Vec<_>>()),
            ("b".to_string(), (6..12).map(task).collect()),
        ]);
        assert_eq!(likely_received(&balanced), (0..12).map(task).collect());
        // A peer already at the new share (here 12 / 4 = 3) gives nothing.
        let uneven = BTreeMap::from([
            ("a".to_string(), (0..5).map(task).collect::<Vec<_>>()),
            ("b".to_string(), (5..9).map(task).collect()),
            ("c".to_string(), (9..12).map(task).collect()),
        ]);
        assert_eq!(likely_received(&uneven), (0..9).map(task).collect());
        // Peers with no tasks (stateless apps, or all idle): nothing.
        let idle = BTreeMap::from([("a".to_string(), Vec::new())]);
        assert!(likely_received(&idle).is_empty());
    }

    fn peers(n: usize, hosts: usize) -> Vec<Peer> {
        (0..n)
            .map(|i| Peer {
                instance: format!("i{i}"),
                host: format!("h{}", i % hosts),
            })
            .collect()
    }

    fn owners(tasks: i32, peers: &[Peer]) -> BTreeMap<TaskId, String> {
        (0..tasks)
            .map(|p| {
                let id = TaskId {
                    processor: "counts".into(),
                    partition: p,
                };
                (id, peers[p as usize % peers.len()].instance.clone())
            })
            .collect()
    }

    #[test]
    fn placement_is_deterministic_takes_n_and_never_the_owner() {
        let all = peers(5, 5);
        let owned = owners(40, &all);
        let placed = place_standbys(&all, &owned, 2);
        let mut shuffled = all.clone();
        shuffled.reverse();
        assert_eq!(
            place_standbys(&shuffled, &owned, 2),
            placed,
            "the order peers are listed in does not matter"
        );
        for (task, standbys) in &placed {
            assert_eq!(standbys.len(), 2);
            assert!(
                !standbys.contains(&owned[task]),
                "{task}: the owner is never its own standby"
            );
            assert_ne!(standbys[0], standbys[1]);
        }
        // Fewer peers than N: every other instance, no more.
        let two = peers(2, 2);
        let placed = place_standbys(&two, &owners(4, &two), 3);
        assert!(placed.values().all(|s| s.len() == 1));
        // Alone: nowhere to place a standby.
        let one = peers(1, 1);
        assert!(place_standbys(&one, &owners(4, &one), 1).values().all(Vec::is_empty));
    }

    #[test]
    fn standbys_prefer_another_host() {
        // i0, i2 on h0; i1, i3 on h1.
        let all = peers(4, 2);
        let owned = owners(64, &all);
        let placed = place_standbys(&all, &owned, 2);
        let host = |i: &str| all.iter().find(|p| p.instance == i).unwrap().host.clone();
        for (task, standbys) in &placed {
            let owner_host = host(&owned[task]);
            assert_ne!(
                host(&standbys[0]),
                owner_host,
                "{task}: the first standby is on another host"
            );
            assert_ne!(
                host(&standbys[1]),
                owner_host,
                "{task}: both other-host peers come before same-host"
            );
        }
    }

    #[test]
    fn a_new_instance_moves_about_one_nth_of_the_standbys() {
        let before = peers(10, 10);
        let owned = owners(1_000, &before);
        let placed = place_standbys(&before, &owned, 1);
        let mut after = before.clone();
        after.push(Peer {
            instance: "i10".into(),
            host: "h10".into(),
        });
        let replaced = place_standbys(&after, &owned, 1);
        let moved = placed.iter().filter(|(t, s)| replaced[*t] != **s).count();
        // Each task's standby moves only if the newcomer wins it: 1/10 of
        // the 9 candidates plus one, about 100 of 1,000.
        assert!((50..=160).contains(&moved), "{moved} of 1000 standbys moved");
        assert!(
            replaced
                .iter()
                .filter(|(t, s)| placed[*t] != **s)
                .all(|(_, s)| s == &["i10"])
        );
        // And they spread: every instance holds some.
        for peer in &before {
            let held = placed.values().filter(|s| s.contains(&peer.instance)).count();
            assert!((50..=160).contains(&held), "{} holds {held}", peer.instance);
        }
    }
}
