//! How rill's consumer-group member takes part in its group: the group
//! protocol (`--group-protocol`), which assignment that implies, and static
//! membership (`--instance-id`), turned into librdkafka properties.
//!
//! | protocol | assignment | a rebalance revokes | static members |
//! | --- | --- | --- | --- |
//! | `classic`, no task reads two topics | `cooperative-sticky` | only what moves | crabka-broker, Apache Kafka ≥ 2.3 |
//! | `classic`, co-partitioned tasks | `range`, eager | everything, then reassigns | same |
//! | `consumer` (KIP-848) | the broker's `range` | only what moves | the mock, crabka-broker, Apache Kafka ≥ 4.0 |
//!
//! A rill task owns partition N of each of its input topics (joins, tables),
//! so the assignment must keep those together. `range` does, eager under
//! `classic` and sticky under `consumer`; librdkafka's `cooperative-sticky`
//! spreads partitions without regard to topics, so it is used only when no
//! task has two inputs. librdkafka takes no custom assignor, so rill cannot
//! offer a co-partitioning cooperative one itself (docs/design/010).

/// Kafka's `group.protocol`: which rebalance protocol the member speaks.
/// Every member of one application must speak the same one: changing it
/// means stopping every member first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupProtocol {
    /// The JoinGroup/SyncGroup protocol every broker speaks; the members
    /// assign partitions (cooperatively where rill's tasks allow it).
    #[default]
    Classic,
    /// KIP-848: the broker assigns, incrementally, with a sticky `range`
    /// assignor; heartbeat and session timeouts are the broker's
    /// (`group.consumer.*`). Apache Kafka 4.0 and later, crabka-broker, and
    /// the development broker.
    Consumer,
}

/// How rebalances reach this member's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebalancing {
    /// Every rebalance revokes every partition, then assigns anew (the
    /// classic protocol with `range`).
    Eager,
    /// A rebalance revokes only the partitions that move; every other task
    /// keeps processing and committing through it.
    Incremental,
}

/// Everything about group membership `rill run` decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    /// `--group-protocol`.
    pub protocol: GroupProtocol,
    /// Whether some task reads more than one topic (partition N of each
    /// must stay on one member).
    pub copartitioned: bool,
    /// `group.instance.id` for static membership (KIP-345): a member that
    /// restarts within the session timeout gets its partitions back with
    /// no rebalance. `None`: a dynamic member.
    pub instance_id: Option<String>,
}

/// A `-X` property that the chosen group protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "-X {key}: with --group-protocol consumer the broker decides {what} (group.consumer.* broker settings), and the client may not set it\n  fix: drop -X {key}, or run --group-protocol classic"
)]
pub struct ProtocolConflict {
    /// The property as given on the command line.
    pub key: String,
    /// What the broker owns under KIP-848.
    pub what: &'static str,
}

/// Properties the broker owns under KIP-848 (librdkafka refuses them), with
/// what they set.
const BROKER_OWNED: &[(&str, &str)] = &[
    ("session.timeout.ms", "the session timeout"),
    ("heartbeat.interval.ms", "the heartbeat interval"),
    (
        "partition.assignment.strategy",
        "the assignment (see group.remote.assignor)",
    ),
    ("group.protocol.type", "the protocol type"),
];

impl Membership {
    /// A dynamic classic member with eager `range` assignment: what a plain
    /// consumer program uses (the native benchmark baselines, `rill lag`).
    pub fn eager() -> Self {
        Membership {
            protocol: GroupProtocol::Classic,
            copartitioned: true,
            instance_id: None,
        }
    }

    /// How rebalances reach tasks under these settings.
    pub fn rebalancing(&self) -> Rebalancing {
        match self.protocol {
            GroupProtocol::Classic if self.copartitioned => Rebalancing::Eager,
            _ => Rebalancing::Incremental,
        }
    }

    /// Refuses `-X` properties the protocol does not allow (`overrides` as
    /// given, `consumer.`-scoped or plain).
    pub fn check(&self, overrides: &[(String, String)]) -> Result<(), ProtocolConflict> {
        if self.protocol != GroupProtocol::Consumer {
            return Ok(());
        }
        for (key, _) in overrides {
            let plain = key.strip_prefix("consumer.").unwrap_or(key);
            if let Some((_, what)) = BROKER_OWNED.iter().find(|(k, _)| *k == plain) {
                return Err(ProtocolConflict { key: key.clone(), what });
            }
        }
        Ok(())
    }

    /// The group properties for a member consumer, set before `-X`
    /// overrides (which [`Self::check`] has vetted).
    pub(super) fn defaults(&self) -> Vec<(&'static str, String)> {
        let mut properties = Vec::new();
        match self.protocol {
            GroupProtocol::Classic => {
                let strategy = match self.rebalancing() {
                    Rebalancing::Eager => "range",
                    Rebalancing::Incremental => "cooperative-sticky",
                };
                properties.push(("partition.assignment.strategy", strategy.to_string()));
                // A member learns that its group is rebalancing only from a
                // heartbeat's answer (librdkafka: every 3 s).
                properties.push(("heartbeat.interval.ms", "1000".to_string()));
            }
            GroupProtocol::Consumer => {
                properties.push(("group.protocol", "consumer".to_string()));
                properties.push(("group.remote.assignor", "range".to_string()));
            }
        }
        if let Some(id) = &self.instance_id {
            properties.push(("group.instance.id", id.clone()));
        }
        properties
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership(protocol: GroupProtocol, copartitioned: bool) -> Membership {
        Membership {
            protocol,
            copartitioned,
            instance_id: None,
        }
    }

    #[test]
    fn classic_is_cooperative_unless_a_task_reads_two_topics() {
        let single = membership(GroupProtocol::Classic, false);
        assert_eq!(single.rebalancing(), Rebalancing::Incremental);
        assert!(
            single
                .defaults()
                .contains(&("partition.assignment.strategy", "cooperative-sticky".into()))
        );
        let joined = membership(GroupProtocol::Classic, true);
        assert_eq!(joined.rebalancing(), Rebalancing::Eager);
        assert!(
            joined
                .defaults()
                .contains(&("partition.assignment.strategy", "range".into()))
        );
    }

    #[test]
    fn consumer_protocol_is_incremental_with_the_brokers_range_assignor() {
        for copartitioned in [false, true] {
            let m = membership(GroupProtocol::Consumer, copartitioned);
            assert_eq!(m.rebalancing(), Rebalancing::Incremental);
            let defaults = m.defaults();
            assert!(defaults.contains(&("group.protocol", "consumer".into())));
            assert!(defaults.contains(&("group.remote.assignor", "range".into())));
            assert!(
                defaults
                    .iter()
                    .all(|(k, _)| !k.starts_with("partition.") && !k.starts_with("heartbeat."))
            );
        }
    }

    #[test]
    fn broker_owned_properties_are_refused_under_the_consumer_protocol_only() {
        let overrides = vec![("consumer.session.timeout.ms".to_string(), "6000".to_string())];
        let error = membership(GroupProtocol::Consumer, false)
            .check(&overrides)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "-X consumer.session.timeout.ms: with --group-protocol consumer the broker decides the session timeout \
             (group.consumer.* broker settings), and the client may not set it\n  fix: drop -X \
             consumer.session.timeout.ms, or run --group-protocol classic"
        );
        assert!(membership(GroupProtocol::Classic, false).check(&overrides).is_ok());
        let plain = vec![("partition.assignment.strategy".to_string(), "range".to_string())];
        assert!(membership(GroupProtocol::Consumer, false).check(&plain).is_err());
    }

    #[test]
    fn a_static_member_sets_its_instance_id() {
        let mut m = membership(GroupProtocol::Consumer, false);
        m.instance_id = Some("app-3f2a".into());
        assert!(m.defaults().contains(&("group.instance.id", "app-3f2a".into())));
    }
}
