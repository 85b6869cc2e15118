//! The seed notes' producer interceptor: Kafka's `onSend` and
//! `onAcknowledgement`, logging each record sent and each acknowledgement
//! to `producer_interceptor.log` in the granted log directory, one JSON
//! object per line. A send has no partition or offset yet (the producer's
//! partitioner and the broker decide them); its acknowledgement, matched
//! by `id`, has both, or the error:
//!
//! ```text
//! {"event":"send","id":0,"topic":"metric.cpu","timestamp":1700000000000,"key":null,"value":"{...}"}
//! {"event":"ack","id":0,"topic":"metric.cpu","partition":2,"offset":17,"timestamp":1700000000000,"key":null,"value":"{...}"}
//! ```
//!
//! Records go out unchanged: it only watches.

use rill_sdk::Error;
use rill_sdk::intercept::{Acknowledgement, Event, Interceptor, JsonLines, SendAction, SendRecord, text_json};
use std::collections::HashMap;

/// The log file it appends to.
pub const FILE: &str = "producer_interceptor.log";

/// The manifest's `[config]`.
#[derive(serde::Deserialize)]
pub struct Config {
    /// The guest path of the granted log directory.
    pub dir: String,
}

/// Logs sends and acknowledgements.
pub struct ProducerInterceptor {
    log: JsonLines,
    /// Key and value (as logged: JSON text) of each send awaiting its
    /// acknowledgement, so the ack line names the record too.
    in_flight: HashMap<u64, (Vec<u8>, Vec<u8>)>,
}

impl Interceptor for ProducerInterceptor {
    type Config = Config;

    fn init(config: Config) -> Result<Self, Error> {
        let log = JsonLines::open(&format!("{}/{FILE}", config.dir.trim_end_matches('/')))?;
        Ok(ProducerInterceptor {
            log,
            in_flight: HashMap::new(),
        })
    }

    fn on_send(&mut self, r: &SendRecord) -> Result<SendAction, Error> {
        let (key, value) = (text_json(r.key.as_deref()), text_json(r.value.as_deref()));
        let mut line = self.log.line();
        line.str("event", "send").uint("id", r.id).str("topic", &r.topic);
        match r.timestamp {
            Some(timestamp) => line.int("timestamp", timestamp),
            None => line.raw("timestamp", b"null"),
        };
        line.raw("key", &key).raw("value", &value);
        drop(line);
        self.in_flight.insert(r.id, (key, value));
        Ok(SendAction::Pass)
    }

    fn on_acknowledgement(&mut self, a: &Acknowledgement) -> Result<(), Error> {
        // An ack for no send seen logs null key and value.
        let (key, value) = self
            .in_flight
            .remove(&a.id)
            .unwrap_or_else(|| (b"null".to_vec(), b"null".to_vec()));
        let mut line = self.log.line();
        line.str("event", "ack").uint("id", a.id).str("topic", &a.topic);
        match &a.outcome {
            Ok(m) => line
                .int("partition", m.partition.into())
                .int("offset", m.offset)
                .int("timestamp", m.timestamp),
            Err(error) => line.str("error", error),
        };
        line.raw("key", &key).raw("value", &value);
        Ok(())
    }

    fn end_batch(&mut self, _: Event) -> Result<(), Error> {
        self.log.flush()
    }
}

rill_interceptor_abi::export_interceptor!(ProducerInterceptor);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::intercept::{InterceptorDriver, RecordMetadata};
    use serde_json::json;

    #[test]
    fn a_send_has_no_offset_until_its_acknowledgement_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({ "dir": dir.path() }).to_string();
        let mut driver = InterceptorDriver::<ProducerInterceptor>::new(&config).unwrap();
        let record = SendRecord {
            topic: "metric.cpu".into(),
            value: Some(b"v".to_vec()),
            timestamp: Some(5),
            ..SendRecord::default()
        };
        let (actions, ids) = driver.send(vec![record.clone(), record]).unwrap();
        assert_eq!(actions, [SendAction::Pass, SendAction::Pass]);
        driver
            .acknowledge(vec![
                Acknowledgement {
                    id: ids[0],
                    topic: "metric.cpu".into(),
                    outcome: Ok(RecordMetadata {
                        partition: 2,
                        offset: 17,
                        timestamp: 5,
                    }),
                },
                Acknowledgement {
                    id: ids[1],
                    topic: "metric.cpu".into(),
                    outcome: Err("message too large".into()),
                },
            ])
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        // The exact bytes (the Python port writes the same).
        assert_eq!(
            text,
            "{\"event\":\"send\",\"id\":0,\"topic\":\"metric.cpu\",\"timestamp\":5,\"key\":null,\"value\":\"v\"}\n\
             {\"event\":\"send\",\"id\":1,\"topic\":\"metric.cpu\",\"timestamp\":5,\"key\":null,\"value\":\"v\"}\n\
             {\"event\":\"ack\",\"id\":0,\"topic\":\"metric.cpu\",\"partition\":2,\"offset\":17,\"timestamp\":5,\"key\":null,\"value\":\"v\"}\n\
             {\"event\":\"ack\",\"id\":1,\"topic\":\"metric.cpu\",\"error\":\"message too large\",\"key\":null,\"value\":\"v\"}\n"
        );
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["event"], "send");
        assert!(lines[0].get("offset").is_none() && lines[0].get("partition").is_none());
        assert_eq!(lines[2]["event"], "ack");
        assert_eq!(
            (lines[2]["partition"].clone(), lines[2]["offset"].clone()),
            (json!(2), json!(17))
        );
        assert_eq!(lines[2]["value"], "v");
        assert_eq!(lines[3]["error"], "message too large");
        assert!(driver.interceptor().in_flight.is_empty());
    }

    #[test]
    fn an_ack_without_its_send_and_a_send_without_timestamp_log_null() {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({ "dir": dir.path() }).to_string();
        let mut driver = InterceptorDriver::<ProducerInterceptor>::new(&config).unwrap();
        driver
            .acknowledge(vec![Acknowledgement {
                id: 9,
                topic: "metric.cpu".into(),
                outcome: Ok(RecordMetadata {
                    partition: 0,
                    offset: 1,
                    timestamp: 2,
                }),
            }])
            .unwrap();
        let record = SendRecord {
            topic: "t".into(),
            key: Some(b"k\"".to_vec()),
            ..SendRecord::default()
        };
        driver.send(vec![record]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(
            text,
            "{\"event\":\"ack\",\"id\":9,\"topic\":\"metric.cpu\",\"partition\":0,\"offset\":1,\"timestamp\":2,\"key\":null,\"value\":null}\n\
             {\"event\":\"send\",\"id\":0,\"topic\":\"t\",\"timestamp\":null,\"key\":\"k\\\"\",\"value\":null}\n"
        );
    }
}
