//! Where one output record goes, from the `output` text the plugin wrote:
//! a declared output with a fixed topic (`alert`), or an output declared
//! with `topic-pattern` and the topic chosen for this record
//! (`by-host:alerts.web-1`, Kafka Streams' `TopicNameExtractor`). The
//! decision is made here without a cluster; whether a chosen topic exists
//! (and is created) is asked of a [`TopicCatalog`] by the task.
//!
//! [`TopicCatalog`]: crate::kafka::topics::TopicCatalog

use super::dead_letter::kind;
use crate::manifest::{RoutedSpec, TOPIC_SEPARATOR};
use parking_lot::Mutex;
use std::collections::HashSet;

/// One output whose topic is chosen per record, as the tasks of its
/// processor use it.
#[derive(Debug)]
pub struct RoutedOutput {
    /// The output's name in the manifest.
    pub name: String,
    /// Its pattern, `create` and requested partitions.
    pub spec: RoutedSpec,
    /// Partitions a topic is created with (`create = true`): the
    /// manifest's, else as many as the processor's input.
    pub partitions: i32,
    /// Missing topics already warned about (once per topic, not per record).
    warned: Mutex<HashSet<String>>,
}

impl RoutedOutput {
    /// The output `name` of the manifest, creating topics with `partitions`
    /// unless the manifest names a count.
    pub fn new(name: &str, spec: &RoutedSpec, partitions: i32) -> Self {
        RoutedOutput {
            name: name.to_string(),
            partitions: spec.partitions.unwrap_or(partitions),
            spec: spec.clone(),
            warned: Mutex::default(),
        }
    }

    /// Whether `topic` is missing for the first time here (to warn once).
    pub fn first_miss(&self, topic: &str) -> bool {
        self.warned.lock().insert(topic.to_string())
    }
}

/// Outputs are one of a processor's, known by name.
impl PartialEq for RoutedOutput {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for RoutedOutput {}

/// Where an output record goes; `R` is what a fixed output's record
/// follows (the task's `Route`: topics and stages fed in memory).
/// It borrows the stage's outputs (`'r`) apart from the plugin's text
/// (`'o`), so the record can be moved on while its route is in use.
#[derive(Debug, PartialEq, Eq)]
pub enum Destination<'r, 'o, R> {
    /// A declared output with a fixed topic (and the stages it feeds).
    Declared(&'r R),
    /// An output whose topic is chosen per record, and the topic chosen.
    Chosen {
        /// The output.
        output: &'r RoutedOutput,
        /// The topic, checked against the pattern and Kafka's rule.
        topic: &'o str,
    },
}

/// Why an output record cannot go anywhere: the input record is
/// dead-lettered with this kind and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The dead letter's `rill.error.kind`.
    pub kind: &'static str,
    /// Its `rill.error`.
    pub message: String,
}

/// Decides where `output` (the plugin's text) goes among a stage's fixed
/// `routes` and `routed` outputs; the fixed outputs are looked up first, so
/// they cost what they did before per-record topics.
pub fn decide<'r, 'o, R>(
    output: &'o str,
    routes: &'r [(String, R)],
    routed: &'r [RoutedOutput],
) -> Result<Destination<'r, 'o, R>, Refusal> {
    if let Some((_, route)) = routes.iter().find(|(name, _)| name == output) {
        return Ok(Destination::Declared(route));
    }
    let (name, topic) = match output.split_once(TOPIC_SEPARATOR) {
        Some((name, topic)) => (name, Some(topic)),
        None => (output, None),
    };
    let refuse = |kind, message| Err(Refusal { kind, message });
    let chosen = routed.iter().find(|r| r.name == name);
    match (chosen, topic) {
        (Some(chosen), Some(topic)) => {
            if let Err((problem, _)) = crate::manifest::check_topic_name(topic) {
                return refuse(
                    kind::TOPIC_REFUSED,
                    format!("emitted to output '{name}' with topic '{topic}', which Kafka does not accept: {problem}"),
                );
            }
            if !chosen.spec.pattern.matches(topic) {
                return refuse(
                    kind::TOPIC_REFUSED,
                    format!(
                        "emitted to output '{name}' with topic '{topic}', which its topic-pattern \"{}\" does not match",
                        chosen.spec.pattern
                    ),
                );
            }
            Ok(Destination::Chosen { output: chosen, topic })
        }
        (Some(chosen), None) => refuse(
            kind::TOPIC_REFUSED,
            format!(
                "emitted to output '{name}' without a topic; its topic is chosen per record: emit to '{name}{TOPIC_SEPARATOR}<topic>' with a topic matching \"{}\"",
                chosen.spec.pattern
            ),
        ),
        (None, Some(topic)) if routes.iter().any(|(n, _)| n == name) => refuse(
            kind::TOPIC_REFUSED,
            format!(
                "emitted to output '{name}' with topic '{topic}', but '{name}' has a fixed topic in the manifest; emit to '{name}', or declare it with topic-pattern"
            ),
        ),
        (None, _) => {
            let mut declared: Vec<&str> = routes
                .iter()
                .map(|(n, _)| n.as_str())
                .chain(routed.iter().map(|r| r.name.as_str()))
                .collect();
            declared.sort_unstable();
            refuse(
                kind::UNDECLARED_OUTPUT,
                format!(
                    "emitted to output '{name}', which the manifest does not declare (declared: {})",
                    declared.join(", ")
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::TopicPattern;

    /// What a fixed output leads to, as far as the decision goes (the
    /// task's `Route` in the host).
    type Route = &'static str;

    fn routed(create: bool) -> Vec<RoutedOutput> {
        let spec = RoutedSpec {
            pattern: TopicPattern::new(r"alerts\.[a-z0-9-]+").unwrap(),
            create,
            partitions: None,
        };
        vec![RoutedOutput::new("by-host", &spec, 3)]
    }

    fn routes() -> Vec<(String, Route)> {
        vec![("alert".to_string(), "metric.cpu.alert")]
    }

    fn refusal(output: &str) -> Refusal {
        let (routes, routed) = (routes(), routed(false));
        decide(output, &routes, &routed).expect_err(output)
    }

    #[test]
    fn a_fixed_output_goes_to_its_route() {
        let (routes, routed) = (routes(), routed(false));
        assert_eq!(
            decide("alert", &routes, &routed),
            Ok(Destination::Declared(&routes[0].1))
        );
    }

    #[test]
    fn a_topic_matching_the_pattern_is_chosen() {
        let (routes, routed) = (routes(), routed(false));
        match decide("by-host:alerts.web-1", &routes, &routed) {
            Ok(Destination::Chosen { output, topic }) => {
                assert_eq!((output.name.as_str(), topic), ("by-host", "alerts.web-1"));
                assert_eq!(output.partitions, 3, "the input's count when the manifest names none");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_topic_outside_the_pattern_is_refused_with_the_pattern() {
        let r = refusal("by-host:metrics.web-1");
        assert_eq!(r.kind, kind::TOPIC_REFUSED);
        assert!(
            r.message.contains("'metrics.web-1'") && r.message.contains(r"alerts\.[a-z0-9-]+"),
            "{}",
            r.message
        );
        let partial = refusal("by-host:alerts.web-1.x");
        assert_eq!(
            partial.kind,
            kind::TOPIC_REFUSED,
            "the pattern must match the whole topic"
        );
    }

    #[test]
    fn an_illegal_topic_name_is_refused_even_when_the_pattern_allows_it() {
        let spec = RoutedSpec {
            pattern: TopicPattern::new(".+").unwrap(),
            create: true,
            partitions: Some(2),
        };
        let routed = vec![RoutedOutput::new("any", &spec, 1)];
        assert_eq!(routed[0].partitions, 2, "the manifest's count wins");
        for topic in ["a/b", "a:b", &"x".repeat(250), ".."] {
            let r = decide::<Route>(&format!("any:{topic}"), &[], &routed).expect_err(topic);
            assert_eq!(r.kind, kind::TOPIC_REFUSED);
            assert!(r.message.contains("Kafka does not accept"), "{}", r.message);
        }
    }

    #[test]
    fn a_pattern_output_without_a_topic_and_a_fixed_one_with_a_topic_are_refused() {
        let r = refusal("by-host");
        assert_eq!(r.kind, kind::TOPIC_REFUSED);
        assert!(
            r.message.contains("without a topic") && r.message.contains("by-host:<topic>"),
            "{}",
            r.message
        );
        let r = refusal("alert:alerts.web-1");
        assert_eq!(r.kind, kind::TOPIC_REFUSED);
        assert!(r.message.contains("fixed topic"), "{}", r.message);
    }

    #[test]
    fn an_undeclared_output_lists_both_kinds_of_output() {
        for output in ["nope", "nope:alerts.web-1"] {
            let r = refusal(output);
            assert_eq!(r.kind, kind::UNDECLARED_OUTPUT);
            assert!(
                r.message.contains("'nope'") && r.message.contains("(declared: alert, by-host)"),
                "{}",
                r.message
            );
        }
    }

    #[test]
    fn a_missing_topic_is_warned_about_once() {
        let routed = routed(false);
        assert!(routed[0].first_miss("alerts.a"));
        assert!(!routed[0].first_miss("alerts.a"));
        assert!(routed[0].first_miss("alerts.b"));
    }
}
