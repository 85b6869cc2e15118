//! `[joins.<name>]`: stream-stream windowed joins (design 014). A join
//! pairs the records of two stream inputs of one key within a window; the
//! host buffers, matches and times both sides in two stores of its own
//! (`<name>-left`, `<name>-right`) and the plugin only turns each result
//! into output records (`join` export, rill:processor@0.4.0).

use super::problems::{Problems, Refusal, fixed_output, is_store_name, millis};
use super::raw::RawJoin;
use super::{Input, InputKind, RoutedSpec, TopicSpec, WindowSpec};
use rill_sdk::time::join::{JoinKind, JoinWindow, Side};
use std::collections::BTreeMap;

/// A validated `[joins.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSpec {
    /// The join's name: the plugin's `join` sees it in each result, and it
    /// names the two buffer stores and their changelogs.
    pub name: String,
    /// The left stream's topic (a declared `kind = "stream"` input).
    pub left: String,
    /// The right stream's topic, co-partitioned with the left.
    pub right: String,
    /// Window, grace and kind, in milliseconds.
    pub window: JoinWindow,
    /// The declared output results go to by default.
    pub output: String,
    /// What a record without a key becomes.
    pub keyless: JoinKeyless,
    /// The stores buffering each side's open records, left first:
    /// `<name>-left` and `<name>-right`, changelogs
    /// `<application-id>-<store>-changelog`.
    pub stores: [String; 2],
}

impl JoinSpec {
    /// The store buffering `side`'s open records.
    pub fn store(&self, side: Side) -> &str {
        &self.stores[side as usize]
    }

    /// The side `topic` feeds, if it is one of the join's.
    pub fn side_of(&self, topic: &str) -> Option<Side> {
        if topic == self.left {
            Some(Side::Left)
        } else if topic == self.right {
            Some(Side::Right)
        } else {
            None
        }
    }
}

/// What happens to a join input without a key (it never moves the join's
/// stream time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinKeyless {
    /// Kafka Streams since 3.7 (KIP-962): an outer side's keyless record
    /// yields its null result at once (nothing can match it); an inner
    /// side's is dropped and counted.
    #[default]
    Emit,
    /// Dropped and counted in `rill_records_dropped_total`.
    Drop,
    /// Sent to the dead-letter topic with kind `record-error`.
    DeadLetter,
}

/// Every `[joins.<name>]`; a refused one is left out (its problems are in
/// `p`). `taken` holds the names of stores and windows already declared.
pub(super) fn check_joins(
    p: &mut Problems,
    raw: BTreeMap<String, RawJoin>,
    inputs: &[Input],
    outputs: &BTreeMap<String, TopicSpec>,
    routed: &BTreeMap<String, RoutedSpec>,
    stores: &[String],
    windows: &[WindowSpec],
) -> Vec<JoinSpec> {
    let mut joins: Vec<JoinSpec> = Vec::new();
    for (name, raw) in raw {
        let field = format!("joins.{name}");
        let Some(join) = check_join(p, &field, name, raw, inputs, outputs, routed) else {
            continue;
        };
        let mut fine = true;
        for store in &join.stores {
            let clash = stores.contains(store)
                || windows.iter().any(|w| &w.name == store || w.name == join.name)
                || outputs.contains_key(&join.name);
            if clash {
                fine = false;
                p.add(
                    &field,
                    (
                        format!("its buffer store \"{store}\" or its name is already a store, a window or an output"),
                        "give the join a name of its own: it names the stores <name>-left and <name>-right".into(),
                    ),
                );
                break;
            }
        }
        for topic in [&join.left, &join.right] {
            if let Some(other) = joins.iter().find(|j| j.side_of(topic).is_some()) {
                fine = false;
                p.add(
                    &field,
                    (
                        format!("topic \"{topic}\" already feeds join `{}`", other.name),
                        "join each stream in one join only (a topic's records go to its join, not to `process`)".into(),
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

/// One join's sides, kind, times and output; `None` if refused.
fn check_join(
    p: &mut Problems,
    field: &str,
    name: String,
    raw: RawJoin,
    inputs: &[Input],
    outputs: &BTreeMap<String, TopicSpec>,
    routed: &BTreeMap<String, RoutedSpec>,
) -> Option<JoinSpec> {
    let mut fine = true;
    if !is_store_name(&name) {
        fine = false;
        p.add(
            field,
            (
                format!("\"{name}\" is not a usable join name"),
                "use lowercase letters, digits and '-' (it names the buffer stores and their changelog topics)".into(),
            ),
        );
    }
    for (key, topic) in [("left", &raw.left), ("right", &raw.right)] {
        if let Err(refusal) = stream_input(topic, inputs) {
            fine = false;
            p.add(&format!("{field}.{key}"), refusal);
        }
    }
    if raw.left == raw.right {
        fine = false;
        p.add(
            &format!("{field}.right"),
            (
                format!("is the left topic \"{}\" too", raw.left),
                "join two different streams (self-joins are not supported yet)".into(),
            ),
        );
    }
    let kind = match raw.kind.as_str() {
        "inner" => Some(JoinKind::Inner),
        "left" => Some(JoinKind::Left),
        "outer" => Some(JoinKind::Outer),
        other => {
            p.add(
                &format!("{field}.kind"),
                (
                    format!("\"{other}\" is not a join kind"),
                    "write \"inner\", \"left\" or \"outer\"".into(),
                ),
            );
            None
        }
    };
    let window = join_times(p, field, &raw);
    if let Err(refusal) = fixed_output(&raw.output, outputs, routed) {
        fine = false;
        p.add(&format!("{field}.output"), refusal);
    }
    let (before, after, grace) = window?;
    let kind = kind?;
    fine.then(|| JoinSpec {
        left: raw.left,
        right: raw.right,
        window: JoinWindow {
            before,
            after,
            grace,
            kind,
        },
        output: raw.output,
        keyless: raw.keyless,
        stores: [format!("{name}-left"), format!("{name}-right")],
        name,
    })
}

/// Whether `topic` is a declared stream input.
fn stream_input(topic: &str, inputs: &[Input]) -> Result<(), Refusal> {
    match inputs.iter().find(|i| i.topic == topic) {
        Some(input) if input.kind == InputKind::Stream => Ok(()),
        Some(_) => Err((
            format!("\"{topic}\" is a table input"),
            "join a stream input (`kind = \"stream\"`); a stream-table join reads the table with `lookup`".into(),
        )),
        None => Err((
            format!("\"{topic}\" is not a declared input"),
            format!("add it under [[inputs]] (`topic = \"{topic}\"`)"),
        )),
    }
}

/// `before`, `after` (or `time-difference` for both) and `grace`, in ms.
fn join_times(p: &mut Problems, field: &str, raw: &RawJoin) -> Option<(i64, i64, i64)> {
    let mut take = |key: &str, text: &Option<String>| -> Option<Option<i64>> {
        match text {
            None => Some(None),
            Some(text) => p.take(&format!("{field}.{key}"), millis(text)).map(Some),
        }
    };
    let before = take("before", &raw.before);
    let after = take("after", &raw.after);
    let difference = take("time-difference", &raw.time_difference);
    let grace = take("grace", &raw.grace);
    let (before, after, difference, grace) = (before?, after?, difference?, grace?);
    let (before, after) = match (difference, before, after) {
        (Some(d), None, None) => (d, d),
        (None, Some(b), Some(a)) => (b, a),
        (Some(_), _, _) => {
            p.add(
                &format!("{field}.time-difference"),
                (
                    "is given with `before` or `after`".into(),
                    "write either `time-difference` (the same both ways) or both `before` and `after`".into(),
                ),
            );
            return None;
        }
        (None, _, _) => {
            p.add(
                field,
                (
                    "has no window".into(),
                    "write `time-difference = \"5m\"`, or `before` and `after` for a window that is not symmetric"
                        .into(),
                ),
            );
            return None;
        }
    };
    Some((before, after, grace.unwrap_or(0)))
}
