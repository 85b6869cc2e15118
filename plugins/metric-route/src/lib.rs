//! `metric-route`: each metricbeat record to the topic of its metricset,
//! chosen per record: `metric.by-name.<metricset.name>` through the
//! `by-name` output, which the manifest declares with a `topic-pattern`
//! (Kafka Streams' `to(TopicNameExtractor)`). The host checks the topic
//! against the pattern and the brokers: a name the pattern refuses (e.g.
//! upper case) or a topic that does not exist dead-letters the record.
//!
//! `metricset.name` is the manifest's field `name`; the value is forwarded
//! as the host holds it.

use rill_sdk::{Error, NoConfig, Output, Processor, Record};

/// The routing processor; no configuration, no state.
pub struct MetricRoute;

impl Processor for MetricRoute {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(MetricRoute)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let topic = format!("metric.by-name.{}", record.text("name")?);
        Ok(vec![Output::forward(record, "by-name").to_topic(topic)])
    }
}

rill_sdk::export!(MetricRoute);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    fn driver() -> TestDriver<MetricRoute> {
        // As plugin.toml declares it.
        TestDriver::new("{}").unwrap().with_field("name", "metricset.name")
    }

    #[test]
    fn each_record_goes_to_the_topic_of_its_metricset() {
        let value = br#"{"metricset":{"name":"cpu"}}"#;
        let out = driver().process_value(value).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].output, "by-name:metric.by-name.cpu");
        assert_eq!(
            (out[0].output_name(), out[0].topic()),
            ("by-name", Some("metric.by-name.cpu"))
        );
        assert_eq!(out[0].value.as_deref(), Some(&value[..]));
    }

    #[test]
    fn a_record_without_a_metricset_name_is_an_error() {
        assert!(driver().process_value(br#"{"metricset":{}}"#).is_err());
    }
}
