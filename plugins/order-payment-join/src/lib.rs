//! `order-payment-join`: each order joined with the payments of the same
//! order id within 5 minutes either way (Kafka Streams'
//! `orders.leftJoin(payments, (o, p) -> o + "|" + p,
//! JoinWindows.ofTimeDifferenceAndGrace(5m, 1m))`). The host buffers both
//! streams, matches them and decides when an order without a payment is
//! final (the manifest's `[joins.order-payment]`); this plugin only formats
//! each result as `"<order>|<payment>"`, or `"<order>|null"` for an order
//! whose window closed without a payment.

use rill_sdk::{Error, JoinResult, NoConfig, Output, Processor, Record};

/// The joiner.
pub struct OrderPaymentJoin;

impl Processor for OrderPaymentJoin {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(OrderPaymentJoin)
    }

    /// Never called: both inputs feed the join.
    fn process(&mut self, _: Record) -> Result<Vec<Output>, Error> {
        Ok(Vec::new())
    }

    fn join(&mut self, result: JoinResult) -> Result<Vec<Output>, Error> {
        let order = result.left_str()?.unwrap_or("null");
        let payment = result.right_str()?.unwrap_or("null");
        let value = format!("{order}|{payment}");
        Ok(vec![Output::joined(&result, "joined", value.into_bytes())])
    }
}

rill_sdk::export!(OrderPaymentJoin);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;
    use rill_sdk::time::join::{JoinKind, JoinWindow};

    const MIN: i64 = 60_000;

    fn driver() -> TestDriver<OrderPaymentJoin> {
        let window = JoinWindow {
            before: 5 * MIN,
            after: 5 * MIN,
            grace: MIN,
            kind: JoinKind::Left,
        };
        TestDriver::new("{}")
            .unwrap()
            .with_join("order-payment", "order", "payment", window)
    }

    fn shown(outputs: Vec<Output>) -> Vec<(String, String, i64)> {
        outputs
            .into_iter()
            .map(|o| {
                assert_eq!(o.output, "joined");
                let text = |b: Option<Vec<u8>>| String::from_utf8(b.unwrap()).unwrap();
                (text(o.key), text(o.value), o.timestamp.unwrap())
            })
            .collect()
    }

    #[test]
    fn a_paid_order_joins_at_once_and_an_unpaid_one_only_when_its_window_closes() {
        let mut d = driver();
        assert!(d.process_on("order", b"o-1", b"Galaxy", 0).unwrap().is_empty());
        let paid = d.process_on("payment", b"o-1", b"card", 2 * MIN).unwrap();
        assert_eq!(shown(paid), [("o-1".into(), "Galaxy|card".into(), 2 * MIN)]);
        assert!(d.process_on("order", b"o-2", b"iPhone", 3 * MIN).unwrap().is_empty());
        // o-2 closes at 9 minutes: not a millisecond before.
        assert!(d.advance_stream_time(9 * MIN).unwrap().is_empty());
        let closed = d.advance_stream_time(9 * MIN + 1).unwrap();
        assert_eq!(shown(closed), [("o-2".into(), "iPhone|null".into(), 3 * MIN)]);
    }
}
