//! `order-count`: a running count of orders per key, kept in the `counts`
//! store (Kafka Streams' `groupByKey().count()`), emitted on every order as
//! `"<key>:<count>"` with the key kept. The store survives restarts through
//! its changelog topic, so counts continue where they were.

use rill_sdk::state::Store;
use rill_sdk::{Error, NoConfig, Output, Processor, Record};

/// The counting processor.
pub struct OrderCount;

const COUNTS: Store = Store::new("counts");

impl Processor for OrderCount {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(OrderCount)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let Some(key) = record.key.clone() else {
            return Err(Error::new("an order needs a key to be counted"));
        };
        let count = match COUNTS.get(&key)? {
            Some(bytes) => {
                u64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| Error::new("corrupt count"))?) + 1
            }
            None => 1,
        };
        COUNTS.put(&key, &count.to_be_bytes())?;
        let text = format!("{}:{count}", String::from_utf8_lossy(&key));
        Ok(vec![Output::map_value(record, "counts", text.into_bytes())])
    }
}

rill_sdk::export!(OrderCount);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    #[test]
    fn counts_per_key() {
        let mut d = TestDriver::<OrderCount>::new("{}").unwrap();
        let mut last =
            |k: &[u8]| String::from_utf8(d.process_keyed(Some(k), b"x").unwrap()[0].value.clone().unwrap()).unwrap();
        assert_eq!(last(b"a"), "a:1");
        assert_eq!(last(b"b"), "b:1");
        assert_eq!(last(b"a"), "a:2");
    }

    #[test]
    fn keyless_orders_are_errors() {
        let mut d = TestDriver::<OrderCount>::new("{}").unwrap();
        assert!(d.process_value(b"x").is_err());
    }
}
