//! {{name}}: forwards the records whose value is longer than `min-length`
//! characters (the manifest's `[config]`) to output `long`, like Kafka
//! Streams' `filter((key, value) -> value.length() > minLength)`. A record
//! with a null value, or one that is not UTF-8, is dead-lettered with the
//! reason. `cargo test` runs the tests below natively; `rill build` makes
//! the component and `rill test` runs tests/*.toml against it.

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
        let text = std::str::from_utf8(record.value_bytes()?)
            .map_err(|error| Error::new(format!("the value is not UTF-8: {error}")))?;
        // Characters (Unicode scalar values), not bytes.
        let long = text.chars().count() > self.min_length;
        Ok(if long { vec![Output::forward(record, "long")] } else { vec![] })
    }
}

rill_sdk::export!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    fn driver() -> TestDriver<Filter> {
        TestDriver::new(r#"{"min-length": 5}"#).unwrap()
    }

    #[test]
    fn values_longer_than_min_length_characters_pass() {
        let mut driver = driver();
        // Five Hangul syllables are 5 characters (15 bytes): not longer than 5.
        for (value, kept) in [("kafka", false), ("streams", true), ("안녕하세요", false), ("안녕하세요!", true)] {
            let outputs = driver.process_value(value.as_bytes()).unwrap();
            assert_eq!(outputs.len(), usize::from(kept), "{value}");
            if kept {
                assert_eq!(outputs[0].output, "long");
                assert_eq!(outputs[0].value.as_deref(), Some(value.as_bytes()));
            }
        }
    }

    #[test]
    fn a_null_value_is_an_error() {
        let error = driver().process(Record::default()).unwrap_err();
        assert_eq!(error.message(), "record has a null value");
    }
}
