//! Running a processor natively, without a broker or a Wasm runtime: the
//! rill counterpart of Kafka Streams' `TopologyTestDriver`.

use crate::{Error, Output, Processor, Record};

/// Drives one processor instance the way the host would: built from a JSON
/// config, then fed records in order.
pub struct TestDriver<P: Processor> {
    processor: P,
    next_offset: i64,
}

impl<P: Processor> TestDriver<P> {
    /// Builds the processor from `config_json` (the manifest's `[config]`
    /// table as JSON), exactly as the host's `init` call does.
    pub fn new(config_json: &str) -> Result<Self, Error> {
        #[cfg(not(target_arch = "wasm32"))]
        crate::stub::reset();
        Ok(TestDriver {
            processor: crate::build::<P>(config_json)?,
            next_offset: 0,
        })
    }

    /// Processes one record.
    pub fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        self.next_offset = record.offset + 1;
        self.processor.process(record)
    }

    /// Processes a record with this value, no key, and the next offset of
    /// partition 0 of topic `input`.
    pub fn process_value(&mut self, value: &[u8]) -> Result<Vec<Output>, Error> {
        self.process_keyed(None, value)
    }

    /// Processes a record with this key and value.
    pub fn process_keyed(&mut self, key: Option<&[u8]>, value: &[u8]) -> Result<Vec<Output>, Error> {
        let record = Record {
            topic: "input".to_string(),
            offset: self.next_offset,
            key: key.map(<[u8]>::to_vec),
            value: Some(value.to_vec()),
            ..Record::default()
        };
        self.process(record)
    }

    /// Sets (or with `None` deletes) `key` in the table read from `topic`,
    /// as if a record had arrived on that table input.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn set_table(&mut self, topic: &str, key: &[u8], value: Option<&[u8]>) {
        crate::stub::set_table(topic, key, value)
    }
}
