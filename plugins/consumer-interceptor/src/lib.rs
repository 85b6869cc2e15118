//! The seed notes' consumer interceptor: Kafka's `onConsume` and
//! `onCommit`, logging each consumed record and each committed offset to
//! `consumer_interceptor.log` in the granted log directory, one JSON object
//! per line:
//!
//! ```text
//! {"event":"consume","topic":"metric.all","partition":0,"offset":41,"timestamp":1700000000000,"key":null,"value":"{...}"}
//! {"event":"commit","topic":"metric.all","partition":0,"offset":42}
//! ```
//!
//! Records pass unchanged: it only watches.

use rill_sdk::Error;
use rill_sdk::intercept::{CommittedOffset, ConsumeAction, ConsumedRecord, Event, Interceptor, JsonLines};

/// The log file it appends to.
pub const FILE: &str = "consumer_interceptor.log";

/// The manifest's `[config]`.
#[derive(serde::Deserialize)]
pub struct Config {
    /// The guest path of the granted log directory.
    pub dir: String,
}

/// Logs consumed records and commits.
pub struct ConsumerInterceptor {
    log: JsonLines,
}

impl Interceptor for ConsumerInterceptor {
    type Config = Config;

    fn init(config: Config) -> Result<Self, Error> {
        let log = JsonLines::open(&format!("{}/{FILE}", config.dir.trim_end_matches('/')))?;
        Ok(ConsumerInterceptor { log })
    }

    fn on_consume(&mut self, r: &ConsumedRecord) -> Result<ConsumeAction, Error> {
        self.log
            .line()
            .str("event", "consume")
            .str("topic", &r.topic)
            .int("partition", r.partition.into())
            .int("offset", r.offset)
            .int("timestamp", r.timestamp)
            .text("key", r.key.as_deref())
            .text("value", r.value.as_deref());
        Ok(ConsumeAction::Pass)
    }

    fn on_commit(&mut self, o: &CommittedOffset) -> Result<(), Error> {
        self.log
            .line()
            .str("event", "commit")
            .str("topic", &o.topic)
            .int("partition", o.partition.into())
            .int("offset", o.offset);
        Ok(())
    }

    fn end_batch(&mut self, _: Event) -> Result<(), Error> {
        self.log.flush()
    }
}

rill_interceptor_abi::export_interceptor!(ConsumerInterceptor);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::intercept::InterceptorDriver;
    use serde_json::json;

    #[test]
    fn every_consumed_record_and_commit_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let config = json!({ "dir": dir.path() }).to_string();
        let mut driver = InterceptorDriver::<ConsumerInterceptor>::new(&config).unwrap();
        let actions = driver
            .consume(vec![
                ConsumedRecord::new("metric.all", Some(b"h1".to_vec()), Some(b"{\"a\":1}".to_vec())),
                ConsumedRecord::new("metric.all", None, None),
            ])
            .unwrap();
        assert_eq!(actions, [ConsumeAction::Pass, ConsumeAction::Pass]);
        driver
            .commit(vec![CommittedOffset {
                topic: "metric.all".into(),
                partition: 0,
                offset: 2,
            }])
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        // The exact bytes (the Python port writes the same).
        assert_eq!(
            text,
            "{\"event\":\"consume\",\"topic\":\"metric.all\",\"partition\":0,\"offset\":0,\"timestamp\":0,\"key\":\"h1\",\"value\":\"{\\\"a\\\":1}\"}\n\
             {\"event\":\"consume\",\"topic\":\"metric.all\",\"partition\":0,\"offset\":1,\"timestamp\":0,\"key\":null,\"value\":null}\n\
             {\"event\":\"commit\",\"topic\":\"metric.all\",\"partition\":0,\"offset\":2}\n"
        );
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event"], "consume");
        assert_eq!(lines[0]["key"], "h1");
        assert_eq!(lines[0]["value"], "{\"a\":1}");
        assert_eq!(lines[1]["offset"], 1);
        assert_eq!(lines[1]["key"], serde_json::Value::Null);
        assert_eq!(
            lines[2],
            json!({"event": "commit", "topic": "metric.all", "partition": 0, "offset": 2})
        );
    }
}
