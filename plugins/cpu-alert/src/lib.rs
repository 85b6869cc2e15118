//! `cpu-alert`: the second half of the seed notes' metricbeat pipeline.
//!
//! Reads cpu metrics; a record whose `system.cpu.total.norm.pct` is greater
//! than the configured `threshold` becomes an alert: the record's `host`
//! object with `"timestamp"` (copied from `@timestamp`) added, serialized
//! exactly as the Kafka Streams original (Gson) does. Key and timestamp are
//! kept. A record that is not JSON or lacks those fields is an error for
//! that record and goes to the dead-letter topic.
//!
//! The three fields are the manifest's `[fields]`, read by the host (`host`
//! and `timestamp` as their JSON text): when both are written as Gson would
//! write them (almost always), the alert is spliced from them without a
//! parse; otherwise they are parsed and written the Gson way.

mod gson;

use rill_sdk::{Error, Output, Processor, RawJson, Record};
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

/// `host` with `"timestamp"` set, written as Gson writes it: spliced when
/// the texts allow, else parsed (key order and number text kept) and
/// written.
fn alert(host: &RawJson, timestamp: &RawJson) -> Result<Vec<u8>, Error> {
    if let Some(spliced) = host.with_member("timestamp", timestamp) {
        return Ok(spliced);
    }
    let mut alert: Map<String, Value> = serde_json::from_str(&host.text)?;
    alert.insert("timestamp".to_string(), serde_json::from_str(&timestamp.text)?);
    Ok(gson::to_vec(&Value::Object(alert)))
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
        // All three are required, whatever the threshold says.
        let pct = record.number("pct")?;
        let host = record.raw("host")?;
        if !host.text.starts_with('{') {
            return Err(Error::new("field `host` is not an object"));
        }
        let timestamp = record.raw("timestamp")?;
        if pct <= self.threshold {
            return Ok(Vec::new());
        }
        let value = alert(host, timestamp)?;
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
        // As plugin.toml declares them.
        TestDriver::new(&format!(r#"{{"threshold":{threshold}}}"#))
            .unwrap()
            .with_field("pct", "system.cpu.total.norm.pct")
            .with_raw_field("host", "host")
            .with_raw_field("timestamp", "@timestamp")
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
        assert!(d.process_value(no_pct).unwrap_err().message().contains("pct"));
        let no_ts = br#"{"host":{},"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}"#;
        assert!(d.process_value(no_ts).unwrap_err().message().contains("timestamp"));
        let not_object = br#"{"@timestamp":"t","host":[1],"system":{"cpu":{"total":{"norm":{"pct":0.1}}}}}"#;
        assert!(d.process_value(not_object).unwrap_err().message().contains("host"));
    }

    #[test]
    fn texts_a_writer_would_change_are_parsed_and_rewritten() {
        // Whitespace, an escape Gson does not write, a timestamp key inside
        // host, an empty host: each falls back to parse and write.
        for (host, want) in [
            (r#"{ "a" : 1 }"#, r#"{"a":1,"timestamp":"t"}"#),
            (r#"{"a":"A"}"#, r#"{"a":"A","timestamp":"t"}"#),
            (r#"{"timestamp":"old","b":2}"#, r#"{"timestamp":"t","b":2}"#),
            (r#"{}"#, r#"{"timestamp":"t"}"#),
        ] {
            let v = format!(r#"{{"@timestamp":"t","host":{host},"system":{{"cpu":{{"total":{{"norm":{{"pct":0.9}}}}}}}}}}"#);
            let out = driver(0.5).process_value(v.as_bytes()).unwrap();
            assert_eq!(std::str::from_utf8(out[0].value.as_deref().unwrap()).unwrap(), want, "{host}");
        }
    }

    #[test]
    fn config_is_checked() {
        assert!(TestDriver::<CpuAlert>::new("{}").is_err());
        assert!(TestDriver::<CpuAlert>::new(r#"{"threshold":0.5,"extra":1}"#).is_err());
    }
}
