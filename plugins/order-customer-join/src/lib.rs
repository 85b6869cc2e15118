//! `order-customer-join`: each order joined to its customer (Kafka Streams'
//! foreign-key join, KIP-213: `orders.join(customers, o -> o.customer,
//! (o, c) -> o.item + "|" + c)`). The host extracts the customer id from
//! each order (the manifest's `foreign-key = "customer"`), routes it to the
//! customer's partition and back, keeps the result right under updates and
//! deletes on both sides, and emits the tombstones; this plugin only
//! formats each (order, customer) pair as `"<item>|<name>"`.

use rill_sdk::{Error, JoinResult, NoConfig, Output, Processor, Record};
use serde::Deserialize;

/// An order's value: `{"customer":"<id>","item":"<text>"}`.
#[derive(Deserialize)]
struct Order<'a> {
    #[serde(borrow)]
    item: std::borrow::Cow<'a, str>,
}

/// The joiner.
pub struct OrderCustomerJoin;

impl Processor for OrderCustomerJoin {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(OrderCustomerJoin)
    }

    /// Never called: both tables feed the join.
    fn process(&mut self, _: Record) -> Result<Vec<Output>, Error> {
        Ok(Vec::new())
    }

    /// `"<item>|<name>"` for an order and its customer (an inner join: the
    /// host never asks without both).
    fn join(&mut self, result: JoinResult) -> Result<Vec<Output>, Error> {
        let order = result.left.as_deref().unwrap_or_default();
        let order: Order =
            serde_json::from_slice(order).map_err(|e| Error::new(format!("order is not {{\"item\":..}} JSON: {e}")))?;
        let name = result.right_str()?.unwrap_or("null");
        let value = format!("{}|{name}", order.item);
        Ok(vec![Output::joined(&result, "joined", value.into_bytes())])
    }
}

rill_sdk::export!(OrderCustomerJoin);

#[cfg(test)]
mod tests {
    use super::*;

    fn result(order: &str, customer: Option<&str>) -> JoinResult {
        JoinResult {
            join: "order-customer".into(),
            key: Some(b"o-1".to_vec()),
            left: Some(order.as_bytes().to_vec()),
            right: customer.map(|c| c.as_bytes().to_vec()),
            timestamp: 5,
        }
    }

    #[test]
    fn an_order_and_its_customer_become_item_bar_name() {
        let mut p = OrderCustomerJoin::init(NoConfig::default()).unwrap();
        let out = p
            .join(result(r#"{"customer":"c-1","item":"Galaxy"}"#, Some("Ann")))
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].output, "joined");
        assert_eq!(out[0].key.as_deref(), Some(&b"o-1"[..]));
        assert_eq!(out[0].value.as_deref(), Some(&b"Galaxy|Ann"[..]));
        assert_eq!(out[0].timestamp, Some(5));
    }

    #[test]
    fn an_order_that_is_not_json_is_an_error() {
        let mut p = OrderCustomerJoin::init(NoConfig::default()).unwrap();
        assert!(p.join(result("Galaxy", Some("Ann"))).is_err());
    }
}
