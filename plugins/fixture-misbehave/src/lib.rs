//! Test fixture: forwards every record to output `out`, except records
//! whose value is `poison`, on which it does what `[config] poison` says:
//! `panic`, `loop` (forever), `alloc` (without bound), `error` (returns an
//! error value), `undeclared` (emits to an output the manifest lacks),
//! `probe` (emits what the sandbox lets it see), `sleep` (blocks in a WASI
//! call for an hour) or `huge` (emits one 20 MB record). With `rekey =
//! true` every forwarded record is keyed by its value (Kafka Streams'
//! `selectKey`), for repartition tests.

use rill_sdk::{Error, Output, Processor, Record};
use serde::Deserialize;

/// The misbehaving processor.
pub struct Misbehave {
    poison: Mode,
    rekey: bool,
}

/// What to do on a poison record.
#[derive(Deserialize, Clone, Copy, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Rust panic (a Wasm trap).
    Panic,
    /// Spin forever (hits the time limit).
    Loop,
    /// Allocate until memory runs out (hits the memory limit).
    Alloc,
    /// Return an error value for the record.
    Error,
    /// Emit to output `nowhere`, which no manifest declares.
    Undeclared,
    /// Emit what the sandbox lets the plugin see: environment variables,
    /// the filesystem, the network and the clock.
    Probe,
    /// Block in `std::thread::sleep` (a WASI clock poll) for an hour.
    Sleep,
    /// Emit one 20 MB record, more than any broker accepts by default.
    Huge,
    /// Forward it like any other record: the fixed version, for redriving
    /// what an earlier version dead-lettered.
    Pass,
}

/// The `[config]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Behaviour on poison.
    pub poison: Mode,
    /// Key every forwarded record by its value.
    #[serde(default)]
    pub rekey: bool,
}

impl Processor for Misbehave {
    type Config = Config;

    fn init(config: Config) -> Result<Self, Error> {
        println!("misbehave ready: poison = {:?}", config.poison);
        Ok(Misbehave {
            poison: config.poison,
            rekey: config.rekey,
        })
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        if record.value.as_deref() != Some(b"poison") {
            let rekeyed = self.rekey.then(|| record.value.clone()).flatten();
            let mut output = Output::forward(record, "out");
            if let Some(key) = rekeyed {
                output.key = Some(key);
            }
            return Ok(vec![output]);
        }
        match self.poison {
            Mode::Panic => panic!("poison record at offset {}", record.offset),
            Mode::Loop => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Mode::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Error => Err(Error::new("poison refused")),
            Mode::Pass => Ok(vec![Output::forward(record, "out")]),
            Mode::Undeclared => Ok(vec![Output::forward(record, "nowhere")]),
            Mode::Sleep => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(vec![Output::forward(record, "out")])
            }
            Mode::Huge => Ok(vec![Output::map_value(record, "out", vec![b'x'; 20 << 20])]),
            Mode::Probe => {
                let env = std::env::vars().count();
                let fs = if std::fs::read_dir("/").is_ok() {
                    "allowed"
                } else {
                    "denied"
                };
                let net = if std::net::TcpStream::connect("127.0.0.1:9").is_ok() {
                    "allowed"
                } else {
                    "denied"
                };
                let time = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(u64::MAX, |d| d.as_secs());
                let seen = format!("env={env} fs={fs} net={net} time={time}");
                Ok(vec![Output::map_value(record, "out", seen.into_bytes())])
            }
        }
    }
}

rill_sdk::export!(Misbehave);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::testing::TestDriver;

    #[test]
    fn good_records_pass_and_error_mode_refuses_poison() {
        let mut d = TestDriver::<Misbehave>::new(r#"{"poison":"error"}"#).unwrap();
        assert_eq!(d.process_value(b"fine").unwrap()[0].output, "out");
        assert_eq!(d.process_value(b"poison").unwrap_err().message(), "poison refused");
    }
}
