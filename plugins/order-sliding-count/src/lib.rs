//! `order-sliding-count`: orders per key in sliding windows of 10 minutes
//! (Kafka Streams' `groupByKey().windowedBy(SlidingWindows
//! .ofTimeDifferenceAndGrace(10m, 1m)).count().suppress(untilWindowCloses)`).
//! `process` sends every order to the `counts` windowed store by its key;
//! the host makes the sliding windows, drops late orders and counts (the
//! manifest's `aggregate = "count"`); this plugin only formats each
//! window's result as `{"key":"<key>","start":<ms>,"end":<ms>,"count":<n>}`
//! with both ends inclusive (`end = start + 10 minutes`, Kafka Streams'
//! bounds). `plugin.toml` emits final results only, `update.toml` every
//! update.

use rill_sdk::{Error, NoConfig, Output, Processor, Record, WindowResult, windows};

/// The sliding-window counter.
pub struct OrderSlidingCount;

impl Processor for OrderSlidingCount {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(OrderSlidingCount)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        if record.key.is_none() {
            return Err(Error::new("an order needs a key to be counted"));
        }
        Ok(vec![Output::forward(record, "counts")])
    }

    fn emit(&mut self, result: WindowResult) -> Result<Vec<Output>, Error> {
        let value = windows::count_json(&result.window, result.value)?;
        Ok(vec![Output::new("count", Some(result.window.key), Some(value))])
    }
}

rill_sdk::export!(OrderSlidingCount);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;
    use rill_sdk::time::{Emit, WindowKind};

    const MIN: i64 = 60_000;

    fn driver(emit: Emit) -> TestDriver<OrderSlidingCount> {
        TestDriver::<OrderSlidingCount>::new("{}")
            .unwrap()
            .with_window(
                "counts",
                WindowKind::Sliding {
                    time_difference: 10 * MIN,
                },
                MIN,
                emit,
            )
            .counted("counts")
    }

    fn values(outputs: Vec<Output>) -> Vec<String> {
        outputs
            .into_iter()
            .map(|o| String::from_utf8(o.value.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_window_ends_at_each_order_and_closes_after_its_end_plus_grace() {
        let mut d = driver(Emit::Final);
        // [10m, 20m]; then a@21m makes a@20m's right window [20m+1, 30m+1]
        // and its own [11m, 21m] (2 orders).
        assert!(d.process_at(b"a", b"o1", 20 * MIN).unwrap().is_empty());
        assert!(d.process_at(b"a", b"o2", 21 * MIN).unwrap().is_empty());
        // Stream time 21m + 1 ms: [10m, 20m] closes (20m < 21m+1 - 1m).
        let out = values(d.process_at(b"b", b"o3", 21 * MIN + 1).unwrap());
        assert_eq!(out, vec![r#"{"key":"a","start":600000,"end":1200000,"count":1}"#]);
        let out = values(d.advance_stream_time(40 * MIN).unwrap());
        assert_eq!(
            out,
            vec![
                r#"{"key":"a","start":660000,"end":1260000,"count":2}"#,
                r#"{"key":"b","start":660001,"end":1260001,"count":1}"#,
                r#"{"key":"a","start":1200001,"end":1800001,"count":1}"#,
            ]
        );
    }

    #[test]
    fn update_mode_emits_every_window_an_order_changes() {
        let mut d = driver(Emit::Update);
        assert_eq!(
            values(d.process_at(b"a", b"o1", 20 * MIN).unwrap()),
            vec![r#"{"key":"a","start":600000,"end":1200000,"count":1}"#]
        );
        assert_eq!(
            values(d.process_at(b"a", b"o2", 22 * MIN).unwrap()),
            vec![
                r#"{"key":"a","start":1200001,"end":1800001,"count":1}"#,
                r#"{"key":"a","start":720000,"end":1320000,"count":2}"#,
            ]
        );
    }
}
