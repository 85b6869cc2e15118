//! `[joins.<name>]` with `foreign-key`: foreign-key table-table joins
//! (KIP-213, design 015). The left table's value names a key of the right
//! table (an order's `customer`); the host keeps the result right under
//! updates and deletes on both sides, across partitions, through two
//! internal topics it names and creates, and the plugin only turns each
//! (left, right) pair into output records (`join` export,
//! rill:processor@0.4.0).

use super::problems::{Problems, Refusal, fixed_output, is_store_name};
use super::raw::RawJoin;
use super::{Input, InputKind, RoutedSpec, TopicSpec};
use std::collections::BTreeMap;

/// A validated foreign-key join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyJoinSpec {
    /// The join's name: the plugin's `join` sees it in each result, and it
    /// names the internal topics and the subscription store.
    pub name: String,
    /// The left table's topic (a declared `kind = "table"` input), whose
    /// values carry the foreign key.
    pub left: String,
    /// The right table's topic, keyed by the foreign key.
    pub right: String,
    /// Where the foreign key is in a left value (JSON).
    pub foreign_key: ForeignKey,
    /// Inner: a left row without a right one has no result. Left: it joins
    /// with a null right value.
    pub kind: ForeignKeyJoinKind,
    /// The declared output results go to (tombstones included).
    pub output: String,
    /// The store of the right side's subscriptions (which left keys point
    /// at which right key), changelog `<application-id>-<store>-changelog`.
    pub store: String,
}

/// Inner or left: Kafka Streams has no outer foreign-key join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyJoinKind {
    /// Results only for left rows whose right row exists.
    Inner,
    /// Every left row has a result, with a null right value when missing.
    Left,
}

/// What a topic is to a foreign-key join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyRole {
    /// The left table: its updates subscribe to right keys.
    Left,
    /// The right table: its updates answer every subscriber.
    Right,
    /// The internal topic of subscriptions, keyed by right key.
    Subscription,
    /// The internal topic of answers, keyed by left key.
    Response,
}

/// A field of a JSON value: a top-level name (`customer`) or a JSON
/// pointer (`/customer/id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey(String);

/// Why a left value yields no foreign key although it should have one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignKeyError {
    /// The value is not JSON.
    #[error("the value is not JSON ({0}), so its foreign key `{1}` cannot be read")]
    NotJson(String, String),
    /// The field holds an object, an array or a boolean.
    #[error("the foreign key `{0}` is not a string or a number")]
    NotScalar(String),
}

impl ForeignKey {
    /// The foreign key in `value`: the field's string (as UTF-8 bytes) or
    /// number (as written); `None` when the field is missing or null.
    pub fn extract(&self, value: &[u8]) -> Result<Option<Vec<u8>>, ForeignKeyError> {
        let json: serde_json::Value =
            serde_json::from_slice(value).map_err(|e| ForeignKeyError::NotJson(e.to_string(), self.0.clone()))?;
        let field = if self.0.starts_with('/') {
            json.pointer(&self.0)
        } else {
            json.get(&self.0)
        };
        match field {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_bytes().to_vec())),
            Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string().into_bytes())),
            Some(_) => Err(ForeignKeyError::NotScalar(self.0.clone())),
        }
    }

    /// As the manifest writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ForeignKeyJoinSpec {
    /// The internal topic of subscriptions (Kafka Streams' name for a
    /// named foreign-key join), partitioned like the right table.
    pub fn subscription_topic(&self, application_id: &str) -> String {
        format!("{application_id}-{}-subscription-registration-topic", self.name)
    }

    /// The internal topic of answers, partitioned like the left table.
    pub fn response_topic(&self, application_id: &str) -> String {
        format!("{application_id}-{}-subscription-response-topic", self.name)
    }

    /// What `topic` is to this join in application `application_id`.
    pub fn role_of(&self, topic: &str, application_id: &str) -> Option<ForeignKeyRole> {
        if topic == self.left {
            Some(ForeignKeyRole::Left)
        } else if topic == self.right {
            Some(ForeignKeyRole::Right)
        } else if topic == self.subscription_topic(application_id) {
            Some(ForeignKeyRole::Subscription)
        } else if topic == self.response_topic(application_id) {
            Some(ForeignKeyRole::Response)
        } else {
            None
        }
    }
}

/// Every foreign-key `[joins.<name>]`; a refused one is left out (its
/// problems are in `p`). `taken` holds the names of stores, windows and
/// stream joins already declared; `joined` the topics stream joins use.
pub(super) fn check_fk_joins(
    p: &mut Problems,
    raw: BTreeMap<String, RawJoin>,
    inputs: &[Input],
    outputs: &BTreeMap<String, TopicSpec>,
    routed: &BTreeMap<String, RoutedSpec>,
    taken: &[&str],
    joined: &[&str],
) -> Vec<ForeignKeyJoinSpec> {
    let mut joins: Vec<ForeignKeyJoinSpec> = Vec::new();
    for (name, raw) in raw {
        let field = format!("joins.{name}");
        let Some(join) = check_fk_join(p, &field, name, raw, inputs, outputs, routed) else {
            continue;
        };
        let mut fine = true;
        if taken.contains(&join.store.as_str()) || taken.contains(&join.name.as_str()) {
            fine = false;
            p.add(
                &field,
                (
                    format!(
                        "its subscription store \"{}\" or its name is already a store or a window",
                        join.store
                    ),
                    "give the join a name of its own: it names the store <name>-subscription-store".into(),
                ),
            );
        }
        for topic in [&join.left, &join.right] {
            let other = joins
                .iter()
                .find(|j| &j.left == topic || &j.right == topic)
                .map(|j| j.name.clone());
            if let Some(other) = other.or_else(|| joined.contains(&topic.as_str()).then(|| "a stream join".into())) {
                fine = false;
                p.add(
                    &field,
                    (
                        format!("table \"{topic}\" already feeds join `{other}`"),
                        "join each table in one join only (a table's updates drive its join)".into(),
                    ),
                );
            }
        }
        if fine {
            joins.push(join);
        }
    }
    joins
}

/// One foreign-key join's tables, key, kind and output; `None` if refused.
fn check_fk_join(
    p: &mut Problems,
    field: &str,
    name: String,
    raw: RawJoin,
    inputs: &[Input],
    outputs: &BTreeMap<String, TopicSpec>,
    routed: &BTreeMap<String, RoutedSpec>,
) -> Option<ForeignKeyJoinSpec> {
    let mut fine = true;
    if !is_store_name(&name) {
        fine = false;
        p.add(
            field,
            (
                format!("\"{name}\" is not a usable join name"),
                "use lowercase letters, digits and '-' (it names the internal topics and the subscription store)"
                    .into(),
            ),
        );
    }
    for (key, topic) in [("left", &raw.left), ("right", &raw.right)] {
        if let Err(refusal) = table_input(topic, inputs) {
            fine = false;
            p.add(&format!("{field}.{key}"), refusal);
        }
    }
    if raw.left == raw.right {
        fine = false;
        p.add(
            &format!("{field}.right"),
            (
                format!("is the left table \"{}\" too", raw.left),
                "join two different tables".into(),
            ),
        );
    }
    for (key, given) in [
        ("before", &raw.before),
        ("after", &raw.after),
        ("time-difference", &raw.time_difference),
        ("grace", &raw.grace),
    ] {
        if given.is_some() {
            fine = false;
            p.add(
                &format!("{field}.{key}"),
                (
                    "is a window, and a foreign-key join of two tables has none".into(),
                    format!("remove `{key}` (or remove `foreign-key` for a windowed stream-stream join)"),
                ),
            );
        }
    }
    let kind = match raw.kind.as_str() {
        "inner" => Some(ForeignKeyJoinKind::Inner),
        "left" => Some(ForeignKeyJoinKind::Left),
        other => {
            p.add(
                &format!("{field}.kind"),
                (
                    format!("\"{other}\" is not a foreign-key join kind"),
                    "write \"inner\" or \"left\" (a foreign-key join has no outer kind)".into(),
                ),
            );
            None
        }
    };
    let key = raw.foreign_key.unwrap_or_default();
    let pointer_ok = !key.starts_with('/') || key.len() > 1;
    if key.trim().is_empty() || !pointer_ok {
        fine = false;
        p.add(
            &format!("{field}.foreign-key"),
            (
                "is empty".into(),
                "name the field of the left value that holds the right table's key, e.g. \"customer\" or \"/customer/id\""
                    .into(),
            ),
        );
    }
    if let Err(refusal) = fixed_output(&raw.output, outputs, routed) {
        fine = false;
        p.add(&format!("{field}.output"), refusal);
    }
    let kind = kind?;
    fine.then(|| ForeignKeyJoinSpec {
        left: raw.left,
        right: raw.right,
        foreign_key: ForeignKey(key),
        kind,
        output: raw.output,
        store: format!("{name}-subscription-store"),
        name,
    })
}

/// Whether `topic` is a declared (co-partitioned) table input.
fn table_input(topic: &str, inputs: &[Input]) -> Result<(), Refusal> {
    match inputs.iter().find(|i| i.topic == topic) {
        Some(input) if input.kind == InputKind::Table => Ok(()),
        Some(_) => Err((
            format!("\"{topic}\" is not a table input"),
            "a foreign-key join joins two tables: declare it with `kind = \"table\"`".into(),
        )),
        None => Err((
            format!("\"{topic}\" is not a declared input"),
            format!("add it under [[inputs]] (`topic = \"{topic}\"`, `kind = \"table\"`)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_key_is_read_from_a_field_or_a_pointer() {
        let top = ForeignKey("customer".into());
        assert_eq!(
            top.extract(br#"{"customer":"c1","item":"pen"}"#).unwrap(),
            Some(b"c1".to_vec())
        );
        assert_eq!(top.extract(br#"{"customer":7}"#).unwrap(), Some(b"7".to_vec()));
        assert_eq!(top.extract(br#"{"item":"pen"}"#).unwrap(), None);
        assert_eq!(top.extract(br#"{"customer":null}"#).unwrap(), None);
        assert!(matches!(top.extract(b"pen"), Err(ForeignKeyError::NotJson(..))));
        assert!(matches!(
            top.extract(br#"{"customer":{"id":1}}"#),
            Err(ForeignKeyError::NotScalar(_))
        ));
        let nested = ForeignKey("/customer/id".into());
        assert_eq!(
            nested.extract(br#"{"customer":{"id":"c9"}}"#).unwrap(),
            Some(b"c9".to_vec())
        );
    }

    #[test]
    fn internal_topics_are_named_as_kafka_streams_names_them() {
        let spec = ForeignKeyJoinSpec {
            name: "order-customer".into(),
            left: "orders".into(),
            right: "customers".into(),
            foreign_key: ForeignKey("customer".into()),
            kind: ForeignKeyJoinKind::Inner,
            output: "joined".into(),
            store: "order-customer-subscription-store".into(),
        };
        assert_eq!(
            spec.subscription_topic("shop"),
            "shop-order-customer-subscription-registration-topic"
        );
        assert_eq!(
            spec.role_of("shop-order-customer-subscription-response-topic", "shop"),
            Some(ForeignKeyRole::Response)
        );
        assert_eq!(spec.role_of("orders", "shop"), Some(ForeignKeyRole::Left));
        assert_eq!(spec.role_of("payments", "shop"), None);
    }
}
