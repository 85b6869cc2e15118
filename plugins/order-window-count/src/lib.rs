//! `order-window-count`: the seed's "orders of the last 10 minutes" (Kafka
//! Streams' `groupByKey().windowedBy(TimeWindows.ofSizeAndGrace(10m, 1m))
//! .count().suppress(untilWindowCloses)`). `process` sends every order to
//! the `counts` windowed store by its key; the host assigns windows, drops
//! late orders and counts them (the manifests' `aggregate = "count"`: no
//! plugin call per window, sessions' counts add up); this plugin only
//! formats each window's result as
//! `{"key":"<key>","start":<ms>,"end":<ms>,"count":<n>}` (end exclusive).
//! `plugin.toml` emits final results only, `update.toml` every update.

use rill_sdk::{Error, NoConfig, Output, Processor, Record, WindowResult, windows};

/// The windowed counter.
pub struct OrderWindowCount;

impl Processor for OrderWindowCount {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(OrderWindowCount)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        if record.key.is_none() {
            return Err(Error::new("an order needs a key to be counted"));
        }
        Ok(vec![Output::forward(record, "counts")])
    }

    fn emit(&mut self, result: WindowResult) -> Result<Vec<Output>, Error> {
        // A session merged into a later one: its result is withdrawn.
        if result.value.is_none() {
            return Ok(vec![Output::new("count", Some(result.window.key), None)]);
        }
        let value = windows::count_json(&result.window, result.value)?;
        Ok(vec![Output::new("count", Some(result.window.key), Some(value))])
    }
}

rill_sdk::export!(OrderWindowCount);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;
    use rill_sdk::time::{Emit, WindowKind};

    const MIN: i64 = 60_000;

    fn driver(emit: Emit) -> TestDriver<OrderWindowCount> {
        TestDriver::<OrderWindowCount>::new("{}")
            .unwrap()
            .with_window("counts", WindowKind::Tumbling { size: 10 * MIN }, MIN, emit)
            .counted("counts")
    }

    fn values(outputs: Vec<Output>) -> Vec<String> {
        outputs
            .into_iter()
            .map(|o| String::from_utf8(o.value.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn final_counts_come_when_the_window_and_its_grace_have_passed() {
        let mut d = driver(Emit::Final);
        assert!(d.process_at(b"a", b"o1", MIN).unwrap().is_empty());
        assert!(d.process_at(b"a", b"o2", 9 * MIN).unwrap().is_empty());
        // 10:30 is in the next window; [0,10m) is still within its grace.
        assert!(d.process_at(b"a", b"o3", 10 * MIN + MIN / 2).unwrap().is_empty());
        // Out of order but within grace: still counted in [0,10m).
        assert!(d.process_at(b"a", b"o4", 5 * MIN).unwrap().is_empty());
        let out = values(d.process_at(b"b", b"o5", 11 * MIN).unwrap());
        assert_eq!(out, vec![r#"{"key":"a","start":0,"end":600000,"count":3}"#]);
        // Late: [0,10m) has closed.
        assert!(d.process_at(b"a", b"o6", 2 * MIN).unwrap().is_empty());
        assert_eq!(d.late_records(), 1);
    }

    #[test]
    fn sessions_merge_their_counts() {
        let mut d = TestDriver::<OrderWindowCount>::new("{}")
            .unwrap()
            .with_window("counts", WindowKind::Session { gap: 5 * MIN }, 10 * MIN, Emit::Final)
            .counted("counts");
        for minute in [10, 20, 15] {
            assert!(d.process_at(b"a", b"o", minute * MIN).unwrap().is_empty());
        }
        let out = values(d.advance_stream_time(40 * MIN).unwrap());
        assert_eq!(out, vec![r#"{"key":"a","start":600000,"end":1200000,"count":3}"#]);
    }

    #[test]
    fn update_mode_emits_every_count() {
        let mut d = driver(Emit::Update);
        assert_eq!(
            values(d.process_at(b"a", b"o1", MIN).unwrap()),
            vec![r#"{"key":"a","start":0,"end":600000,"count":1}"#]
        );
        assert_eq!(
            values(d.process_at(b"a", b"o2", 2 * MIN).unwrap()),
            vec![r#"{"key":"a","start":0,"end":600000,"count":2}"#]
        );
    }
}
