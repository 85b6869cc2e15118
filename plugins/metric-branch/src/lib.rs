//! `metric-branch`: the first half of the seed notes' metricbeat pipeline.
//!
//! Reads metricbeat records and routes each by `metricset.name`: `"cpu"` to
//! the `cpu` output, `"memory"` to the `memory` output, byte for byte with
//! key, headers and timestamp kept. Other kinds are dropped (the host counts
//! them). A record that is not JSON or has no string `metricset.name` is an
//! error for that record and goes to the dead-letter topic.
//!
//! `metricset.name` is the manifest's field `name` (`[fields]`): the host
//! reads it, so the value is never copied into the plugin nor parsed here.

use rill_sdk::{Error, NoConfig, Output, Processor, Record};

/// The branching processor; it has no configuration and no state.
pub struct MetricBranch;

impl Processor for MetricBranch {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(MetricBranch)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let output = match record.text("name")? {
            "cpu" => "cpu",
            "memory" => "memory",
            _ => return Ok(Vec::new()),
        };
        Ok(vec![Output::forward(record, output)])
    }
}

rill_sdk::export!(MetricBranch);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    const CPU: &str =
        r#"{"@timestamp":"2025-01-31T07:55:26.555Z","metricset":{"period":10000,"name":"cpu"},"host":{"name":"h"}}"#;
    const MEMORY: &str = r#"{"metricset":{"name":"memory","period":10000}}"#;

    fn driver() -> TestDriver<MetricBranch> {
        // As plugin.toml declares it.
        TestDriver::new("{}").unwrap().with_field("name", "metricset.name")
    }

    #[test]
    fn cpu_and_memory_are_forwarded_byte_for_byte_with_key_and_timestamp() {
        let mut d = driver();
        let record = Record {
            key: Some(b"k".to_vec()),
            value: Some(CPU.as_bytes().to_vec()),
            timestamp: 42,
            ..Record::default()
        };
        let out = d.process(record).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].output, "cpu");
        assert_eq!(out[0].value.as_deref(), Some(CPU.as_bytes()));
        assert_eq!(out[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(out[0].timestamp, Some(42));
        let out = d.process_value(MEMORY.as_bytes()).unwrap();
        assert_eq!(out[0].output, "memory");
        assert_eq!(out[0].value.as_deref(), Some(MEMORY.as_bytes()));
    }

    #[test]
    fn other_kinds_are_dropped() {
        let out = driver().process_value(br#"{"metricset":{"name":"network"}}"#).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn escaped_names_are_compared_after_unescaping() {
        let out = driver().process_value(br#"{"metricset":{"name":"c\u0070u"}}"#).unwrap();
        assert_eq!(out[0].output, "cpu");
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut d = driver();
        assert!(d.process_value(b"not json").is_err());
        assert!(
            d.process_value(br#"{"metricset":{}}"#)
                .unwrap_err()
                .message()
                .contains("name")
        );
        assert!(d.process_value(br#"{"metricset":{"name":7}}"#).is_err());
        assert!(
            d.process(Record::default())
                .unwrap_err()
                .message()
                .contains("null")
        );
    }
}
