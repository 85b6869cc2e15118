//! Native stand-ins for plugins and small sub-topologies, shared by the
//! task and runtime unit tests (never built into the binary).

use super::spec::{ProcessorSpec, TaskSpec};
use crate::app::Connection;
use crate::manifest::Manifest;
use crate::plugin::{PluginError, ProcessorFactory, RecordProcessor, SharedTaskStore};
use crate::record::{InputRecord, OutputRecord, RecordResult};
use std::sync::Arc;

/// A processor that maps each record with a plain function.
#[derive(Clone, Copy)]
pub struct Fixture(pub fn(&InputRecord) -> RecordResult);

impl RecordProcessor for Fixture {
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
        Ok(batch.iter().map(self.0).collect())
    }
}

impl ProcessorFactory for Fixture {
    fn version(&self) -> String {
        "fixture".into()
    }
    fn instantiate(&self, _: &str, _: Option<SharedTaskStore>) -> Result<Box<dyn RecordProcessor>, PluginError> {
        Ok(Box::new(*self))
    }
}

fn to_out(record: &InputRecord, value: Vec<u8>) -> RecordResult {
    Ok(vec![OutputRecord {
        output: "out".into(),
        key: record.key.clone(),
        value: Some(value.into()),
        headers: Vec::new(),
        timestamp: None,
    }])
}

/// Emits each value three times over to output `out`.
pub const ECHO: Fixture = Fixture(|r| to_out(r, r.value.clone().unwrap_or_default().repeat(3)));

/// Upper-cases each value twice over to output `out`; refuses values
/// containing "bad".
pub const UPPER: Fixture = Fixture(|r| {
    let value = r.value.clone().unwrap_or_default();
    if value.windows(3).any(|w| w == b"bad") {
        return Err(format!("refused {} from {}", String::from_utf8_lossy(&value), r.topic));
    }
    to_out(r, value.to_ascii_uppercase().repeat(2))
});

/// A processor whose whole call fails (as a Wasm trap does) when any
/// record of the batch contains "boom"; otherwise [`UPPER`].
#[derive(Clone, Copy)]
pub struct Trapping;

impl RecordProcessor for Trapping {
    fn process(&mut self, batch: &[InputRecord]) -> Result<Vec<RecordResult>, anyhow::Error> {
        if batch
            .iter()
            .any(|r| r.value.as_deref().is_some_and(|v| v.windows(4).any(|w| w == b"boom")))
        {
            anyhow::bail!("wasm trap: unreachable (boom)");
        }
        let mut upper = UPPER;
        upper.process(batch)
    }
}

impl ProcessorFactory for Trapping {
    fn version(&self) -> String {
        "trapping".into()
    }
    fn instantiate(&self, _: &str, _: Option<SharedTaskStore>) -> Result<Box<dyn RecordProcessor>, PluginError> {
        Ok(Box::new(*self))
    }
}

/// A manifest reading `input`, writing output `out` to `output`.
pub fn manifest(name: &str, input: &str, output: &str, dlq: &str) -> Manifest {
    manifest_with(name, input, output, dlq, "continue")
}

/// [`manifest`] with `limits.on-trap`.
pub fn manifest_with(name: &str, input: &str, output: &str, dlq: &str, on_trap: &str) -> Manifest {
    let text = format!(
        "manifest-version = 1\nname = \"{name}\"\nversion = \"0.1.0\"\ncomponent = \"{name}.wasm\"\n\
         dead-letter = \"{dlq}\"\n[[inputs]]\ntopic = \"{input}\"\n[outputs]\nout = \"{output}\"\n\
         [limits]\non-trap = \"{on_trap}\"\n"
    );
    Manifest::parse(std::path::Path::new(&format!("{name}.toml")), &text).unwrap()
}

/// `first` ([`ECHO`], `in` -> `mid`) feeding `second` ([`UPPER`], `mid` ->
/// `final`) in memory, `mid` also written when `write`: one sub-topology.
pub fn chain(write: bool) -> TaskSpec {
    chain_with(Arc::new(UPPER), "continue", write)
}

/// [`chain`] with `second` as the second stage and its `on-trap`.
pub fn chain_with(second_stage: Arc<dyn ProcessorFactory>, on_trap: &str, write: bool) -> TaskSpec {
    let first = Arc::new(manifest("first", "in", "mid", "first.dlq"));
    let second = Arc::new(manifest_with("second", "mid", "final", "second.dlq", on_trap));
    let connections = [Connection {
        from: "first".into(),
        output: "out".into(),
        topic: "mid".into(),
        to: "second".into(),
        write,
        repartition: false,
    }];
    let topology = crate::topology::Topology::build("app", &[first.clone(), second.clone()], &connections);
    assert_eq!(
        topology.subtopologies.len(),
        1,
        "connected processors share a sub-topology"
    );
    let specs = [
        Arc::new(ProcessorSpec::new(&first, Arc::new(ECHO), None)),
        Arc::new(ProcessorSpec::new(&second, second_stage, None)),
    ];
    let spec = TaskSpec::of_subtopology(&topology.subtopologies[0], &specs);
    assert_eq!(
        spec.input_topics().collect::<Vec<_>>(),
        ["in"],
        "mid is not read from Kafka"
    );
    spec
}

/// Records of `in` partition `partition` with `values`, keyed `k<i>`, from
/// offset `first`.
pub fn records(partition: i32, first: i64, values: &[&str]) -> Vec<InputRecord> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| InputRecord {
            topic: "in".into(),
            partition,
            offset: first + i as i64,
            timestamp: 1000,
            key: Some(format!("k{i}").into_bytes().into()),
            value: Some(value.as_bytes().to_vec().into()),
            headers: Vec::new(),
        })
        .collect()
}

/// The values a [`MemorySink`] received for `topic`, as text, in order.
pub fn values(sink: &crate::kafka::memory_sink::MemorySink, topic: &str) -> Vec<String> {
    sink.records()
        .iter()
        .filter(|r| r.topic == topic)
        .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).unwrap())
        .collect()
}

/// Header `name` of a record a [`MemorySink`] received, as text.
///
/// [`MemorySink`]: crate::kafka::memory_sink::MemorySink
pub fn header(record: &crate::kafka::memory_sink::SentRecord, name: &str) -> Option<String> {
    record
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.clone())
        .map(|v| String::from_utf8(v).unwrap())
}
