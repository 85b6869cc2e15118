//! `order-join`: the seed notes' KStream-KTable join (and its GlobalKTable
//! variant). Orders (key = name, value = item) are joined with the address
//! table (key = name, value = address) into `"<item> send to <address>"`
//! on output `joined`, key kept. An order whose name has no address is
//! dropped, or joined with `null` when `left-join = true` (Kafka Streams'
//! leftJoin, where the joiner sees a null address). An order without a key
//! cannot be joined and is dropped, as Kafka Streams does.

use rill_sdk::state::lookup;
use rill_sdk::{Error, Output, Processor, Record};
use serde::Deserialize;

/// The join processor.
pub struct OrderJoin {
    /// Topic of the (global) table to look addresses up in.
    table: String,
    /// Keep orders without an address (`null` in the text).
    left_join: bool,
}

/// The `[config]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The address table's topic, as declared in the manifest's inputs.
    pub table: String,
    /// Keep orders with no address.
    #[serde(default)]
    pub left_join: bool,
}

impl Processor for OrderJoin {
    type Config = Config;

    fn init(config: Config) -> Result<Self, Error> {
        Ok(OrderJoin {
            table: config.table,
            left_join: config.left_join,
        })
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let Some(name) = record.key.clone() else {
            return Ok(Vec::new());
        };
        let item = String::from_utf8_lossy(record.value_bytes()?).into_owned();
        let address = match lookup(&self.table, &name)? {
            Some(address) => String::from_utf8_lossy(&address).into_owned(),
            None if self.left_join => "null".to_string(),
            None => return Ok(Vec::new()),
        };
        Ok(vec![Output::map_value(
            record,
            "joined",
            format!("{item} send to {address}").into_bytes(),
        )])
    }
}

rill_sdk::export!(OrderJoin);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    fn value(out: &[Output]) -> String {
        String::from_utf8(out[0].value.clone().unwrap()).unwrap()
    }

    #[test]
    fn the_seed_join_and_the_address_change() {
        let mut d = TestDriver::<OrderJoin>::new(r#"{"table":"address"}"#).unwrap();
        d.set_table("address", b"jihun", Some(b"Seoul"));
        d.set_table("address", b"gildong", Some(b"Newyork"));
        let out = d.process_keyed(Some(b"gildong"), b"Galaxy").unwrap();
        assert_eq!(
            (out[0].key.as_deref(), value(&out).as_str()),
            (Some(&b"gildong"[..]), "Galaxy send to Newyork")
        );
        assert_eq!(
            value(&d.process_keyed(Some(b"jihun"), b"iPhone").unwrap()),
            "iPhone send to Seoul"
        );
        d.set_table("address", b"jihun", Some(b"LA"));
        assert_eq!(
            value(&d.process_keyed(Some(b"jihun"), b"G-Wagon").unwrap()),
            "G-Wagon send to LA"
        );
    }

    #[test]
    fn orders_without_address_are_dropped_or_left_joined() {
        let mut inner = TestDriver::<OrderJoin>::new(r#"{"table":"address"}"#).unwrap();
        inner.set_table("address", b"x", None);
        assert!(inner.process_keyed(Some(b"nobody"), b"Pen").unwrap().is_empty());
        assert!(inner.process_keyed(None, b"Pen").unwrap().is_empty());
        let mut left = TestDriver::<OrderJoin>::new(r#"{"table":"address","left-join":true}"#).unwrap();
        left.set_table("address", b"x", None);
        assert_eq!(
            value(&left.process_keyed(Some(b"nobody"), b"Pen").unwrap()),
            "Pen send to null"
        );
    }

    #[test]
    fn an_undeclared_table_is_a_record_error() {
        let mut d = TestDriver::<OrderJoin>::new(r#"{"table":"nope"}"#).unwrap();
        assert!(
            d.process_keyed(Some(b"a"), b"b")
                .unwrap_err()
                .message()
                .contains("nope")
        );
    }
}
