//! {{name}}: forwards records whose value is longer than `min-length` bytes
//! to output `long` (Kafka Streams' `filter`). Replace `process` with your
//! logic; `cargo test` runs it natively.

use rill_sdk::{Error, Output, Processor, Record};
use serde::Deserialize;

/// The processor; one instance per input partition.
pub struct Filter {
    min_length: usize,
}

/// The manifest's `[config]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    min_length: usize,
}

impl Processor for Filter {
    type Config = Config;

    fn init(config: Config) -> Result<Self, Error> {
        Ok(Filter { min_length: config.min_length })
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let long = record.value_bytes()?.len() > self.min_length;
        Ok(if long { vec![Output::forward(record, "long")] } else { vec![] })
    }
}

rill_sdk::export!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    #[test]
    fn only_long_values_pass() {
        let mut driver = TestDriver::<Filter>::new(r#"{"min-length": 5}"#).unwrap();
        assert_eq!(driver.process_value(b"streams").unwrap()[0].output, "long");
        assert!(driver.process_value(b"kafka").unwrap().is_empty());
    }
}
