//! `cpu-alert`: the second half of the seed notes' metricbeat pipeline.
//!
//! Reads cpu metrics; a record whose `system.cpu.total.norm.pct` is greater
//! than the configured `threshold` becomes an alert: the record's `host`
//! object with `"timestamp"` (copied from `@timestamp`) added, serialized
//! exactly as the Kafka Streams original (Gson) does. Key and timestamp are
//! kept. A record that is not JSON or lacks those fields is an error for
//! that record and goes to the dead-letter topic.

mod gson;

use rill_sdk::{Error, Output, Processor, Record};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The alerting processor.
pub struct CpuAlert {
    /// Alerts fire strictly above this normalized cpu usage (0..1).
    threshold: f64,
}

/// The `[config]` table of `plugin.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Normalized total cpu usage above which a record becomes an alert.
    pub threshold: f64,
}

#[derive(Deserialize)]
struct CpuMetric {
    system: System,
    host: Map<String, Value>,
    #[serde(rename = "@timestamp")]
    timestamp: Value,
}

#[derive(Deserialize)]
struct System {
    cpu: Cpu,
}

#[derive(Deserialize)]
struct Cpu {
    total: Total,
}

#[derive(Deserialize)]
struct Total {
    norm: Norm,
}

#[derive(Deserialize)]
struct Norm {
    pct: f64,
}

impl Processor for CpuAlert {
    type Config = Config;

    fn init(config: Config) -> Result<Self, Error> {
        if !config.threshold.is_finite() {
            return Err(Error::new("threshold must be a finite number"));
        }
        Ok(CpuAlert {
            threshold: config.threshold,
        })
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let metric: CpuMetric = serde_json::from_slice(record.value_bytes()?)?;
        if metric.system.cpu.total.norm.pct <= self.threshold {
            return Ok(Vec::new());
        }
        let mut alert = metric.host;
        alert.insert("timestamp".to_string(), metric.timestamp);
        let value = gson::to_vec(&Value::Object(alert));
        Ok(vec![Output::map_value(record, "alert", value)])
    }
}

rill_sdk::export!(CpuAlert);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    /// The seed notes' real metricbeat cpu record.
    const SEED_CPU: &str = r#"{"@timestamp":"2025-01-31T07:55:26.555Z","@metadata":{"beat":"metricbeat","type":"_doc","version":"8.17.1"},"service":{"type":"system"},"system":{"cpu":{"idle":{"pct":8.1113,"norm":{"pct":0.8111}},"nice":{"pct":0,"norm":{"pct":0}},"cores":10,"total":{"pct":1.8887,"norm":{"pct":0.1889}},"user":{"norm":{"pct":0.1148},"pct":1.1476},"system":{"pct":0.7411,"norm":{"pct":0.0741}}}},"host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"},"event":{"dataset":"system.cpu","module":"system","duration":2847417},"ecs":{"version":"8.0.0"},"agent":{"name":"Aaronui-MacBookPro.local","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"},"metricset":{"period":10000,"name":"cpu"}}"#;

    fn driver(threshold: f64) -> TestDriver<CpuAlert> {
        TestDriver::new(&format!(r#"{{"threshold":{threshold}}}"#)).unwrap()
    }

    #[test]
    fn the_seed_record_is_below_half() {
        assert!(driver(0.5).process_value(SEED_CPU.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn the_seed_alert_is_reproduced_byte_for_byte() {
        let busy = SEED_CPU
            .replace(
                r#""total":{"pct":1.8887,"norm":{"pct":0.1889}}"#,
                r#""total":{"pct":8.586,"norm":{"pct":0.8586}}"#,
            )
            .replace(r#""usage":0.1889"#, r#""usage":0.8586"#)
            .replace("2025-01-31T07:55:26.555Z", "2025-01-31T08:00:26.557Z");
        let out = driver(0.5).process_keyed(Some(b"k"), busy.as_bytes()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].output, "alert");
        assert_eq!(out[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(
            std::str::from_utf8(out[0].value.as_deref().unwrap()).unwrap(),
            r#"{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local","timestamp":"2025-01-31T08:00:26.557Z"}"#
        );
    }

    #[test]
    fn threshold_is_strict_and_configurable() {
        let at = |pct: &str| {
            format!(
                r#"{{"@timestamp":"t","host":{{"name":"h"}},"system":{{"cpu":{{"total":{{"norm":{{"pct":{pct}}}}}}}}}}}"#
            )
        };
        assert!(driver(0.5).process_value(at("0.5").as_bytes()).unwrap().is_empty());
        assert_eq!(driver(0.5).process_value(at("0.5001").as_bytes()).unwrap().len(), 1);
        assert!(driver(0.7).process_value(at("0.6").as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn host_key_order_and_number_text_are_kept() {
        let v = br#"{"host":{"z":1.50,"a":{"n":1e-07,"m":1e+21},"timestamp":"old"},"@timestamp":"new","system":{"cpu":{"total":{"norm":{"pct":1}}}}}"#;
        let out = driver(0.5).process_value(v).unwrap();
        assert_eq!(
            out[0].value.as_deref().unwrap(),
            br#"{"z":1.50,"a":{"n":1e-07,"m":1e+21},"timestamp":"new"}"#
        );
    }

    #[test]
    fn malformed_records_are_errors() {
        let mut d = driver(0.5);
        assert!(d.process_value(b"{").is_err());
        let no_host = br#"{"@timestamp":"t","system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}"#;
        assert!(d.process_value(no_host).unwrap_err().message().contains("host"));
        let no_pct = br#"{"@timestamp":"t","host":{},"system":{"cpu":{}}}"#;
        assert!(d.process_value(no_pct).unwrap_err().message().contains("total"));
        let no_ts = br#"{"host":{},"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}"#;
        assert!(d.process_value(no_ts).unwrap_err().message().contains("@timestamp"));
    }

    #[test]
    fn config_is_checked() {
        assert!(TestDriver::<CpuAlert>::new("{}").is_err());
        assert!(TestDriver::<CpuAlert>::new(r#"{"threshold":0.5,"extra":1}"#).is_err());
    }
}
