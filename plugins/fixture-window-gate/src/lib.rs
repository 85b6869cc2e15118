//! `fixture-window-gate`: the processor of the window-time tests. A
//! windowed store's stream time must move only with records that reach its
//! aggregation (Kafka Streams' `KStreamWindowAggregate`), so this fixture
//! has each way a record can fail to reach it:
//!
//! - value `malformed`: rejected (an error, so the host dead-letters it);
//! - value `skip`: filtered out (no output);
//! - no key: routed to the store anyway, where the host's `keyless` rule
//!   applies (dead-letter or drop);
//! - anything else: counted per key in the `counts` windowed store.
//!
//! Results are `<key>:<start>:<end>:<count>` (epoch ms); a session merged
//! away is withdrawn with a tombstone.

use rill_sdk::{Error, NoConfig, Output, Processor, Record, Window, WindowResult, windows};

/// The gate in front of a windowed count.
pub struct WindowGate;

impl Processor for WindowGate {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(WindowGate)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        match record.value.as_deref() {
            Some(b"malformed") => Err(Error::new("a malformed order")),
            Some(b"skip") => Ok(Vec::new()),
            _ => Ok(vec![Output::forward(record, "counts")]),
        }
    }

    fn aggregate(&mut self, _: &Window, count: Option<Vec<u8>>, _: &Record) -> Result<Vec<u8>, Error> {
        windows::count_one(count)
    }

    fn merge(&mut self, _: &Window, older: Vec<u8>, newer: Vec<u8>) -> Result<Vec<u8>, Error> {
        windows::add_counts(older, newer)
    }

    fn emit(&mut self, result: WindowResult) -> Result<Vec<Output>, Error> {
        let w = result.window;
        let value = match result.value {
            None => None,
            Some(v) => {
                let count: u64 = windows::decode(Some(v))?;
                let key = String::from_utf8_lossy(&w.key);
                Some(format!("{key}:{}:{}:{count}", w.start, w.end).into_bytes())
            }
        };
        Ok(vec![Output::new("count", Some(w.key), value)])
    }
}

rill_sdk::export!(WindowGate);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;
    use rill_sdk::time::{Emit, WindowKind};

    const MIN: i64 = 60_000;

    fn text(outputs: Vec<Output>) -> Vec<String> {
        outputs
            .into_iter()
            .filter_map(|o| o.value.map(|v| String::from_utf8(v).unwrap()))
            .collect()
    }

    /// The SDK's TestDriver keeps each windowed store's own time, as the
    /// host does: a far-future record that is rejected or filtered moves
    /// the processor's time (filtered) or nothing (rejected), never the
    /// window's, so every on-time order still counts.
    #[test]
    fn far_future_records_that_never_reach_the_window_leave_its_time() {
        let mut d = TestDriver::<WindowGate>::new("{}").unwrap().with_window(
            "counts",
            WindowKind::Tumbling { size: 10 * MIN },
            MIN,
            Emit::Final,
        );
        let far = 500 * MIN;
        assert!(d.process_at(b"a", b"order", MIN).unwrap().is_empty());
        assert!(d.process_at(b"a", b"malformed", far).is_err());
        assert_eq!(d.stream_time(), Some(MIN), "a rejected record moves nothing");
        assert!(d.process_at(b"a", b"order", 2 * MIN).unwrap().is_empty());
        assert!(d.process_at(b"a", b"skip", far).unwrap().is_empty());
        assert_eq!(d.stream_time(), Some(far), "the processor saw the filtered record");
        assert_eq!(d.window_stream_time("counts"), Some(2 * MIN), "the window did not");
        assert!(d.process_at(b"a", b"order", 3 * MIN).unwrap().is_empty());
        assert_eq!(d.late_records(), 0);
        let closed = text(d.process_at(b"z", b"order", 30 * MIN).unwrap());
        assert_eq!(closed, [format!("a:0:{}:3", 10 * MIN)]);
    }
}
