//! `cpu-peak`: "process data at a fixed time interval" from the seed notes
//! (Kafka Streams' punctuation). Each metricbeat CPU record raises its
//! host's peak `system.cpu.total.norm.pct` in the `peaks` store; a timer
//! (60 s of stream time in `plugin.toml`, of the wall clock in
//! `wall-clock.toml`) emits every host's peak since the last firing as
//! `{"host":"<name>","peak":<pct>,"until":<ms>}` to `peak` and clears it.

use rill_sdk::state::Store;
use rill_sdk::{Error, NoConfig, Output, Processor, Record, Tick};
use serde::Deserialize;

/// The peak tracker.
pub struct CpuPeak;

const PEAKS: Store = Store::new("peaks");

#[derive(Deserialize)]
struct Metric {
    host: Host,
    system: System,
}

#[derive(Deserialize)]
struct Host {
    name: String,
}

#[derive(Deserialize)]
struct System {
    cpu: Cpu,
}

#[derive(Deserialize)]
struct Cpu {
    total: Total,
}

#[derive(Deserialize)]
struct Total {
    norm: Norm,
}

#[derive(Deserialize)]
struct Norm {
    pct: f64,
}

impl Processor for CpuPeak {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, Error> {
        Ok(CpuPeak)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let metric: Metric = serde_json::from_slice(record.value_bytes()?)
            .map_err(|e| Error::new(format!("not a metricbeat CPU record: {e}")))?;
        let host = metric.host.name.as_bytes();
        let pct = metric.system.cpu.total.norm.pct;
        let peak = match PEAKS.get(host)? {
            Some(bytes) => f64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| Error::new("corrupt peak"))?),
            None => f64::NEG_INFINITY,
        };
        if pct > peak {
            PEAKS.put(host, &pct.to_be_bytes())?;
        }
        Ok(vec![])
    }

    fn on_timer(&mut self, tick: Tick) -> Result<Vec<Output>, Error> {
        let mut outputs = Vec::new();
        for (host, bytes) in PEAKS.range(None, None, u32::MAX)? {
            let peak = f64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| Error::new("corrupt peak"))?);
            let name = String::from_utf8_lossy(&host).into_owned();
            let value = serde_json::json!({"host": name, "peak": peak, "until": tick.time});
            outputs.push(Output::new(
                "peak",
                Some(host.clone()),
                Some(value.to_string().into_bytes()),
            ));
            PEAKS.delete(&host)?;
        }
        Ok(outputs)
    }
}

rill_sdk::export!(CpuPeak);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::Clock;
    use rill_sdk::testing::TestDriver;

    fn metric(host: &str, pct: f64) -> Vec<u8> {
        format!(r#"{{"host":{{"name":"{host}"}},"system":{{"cpu":{{"total":{{"norm":{{"pct":{pct}}}}}}}}}}}"#)
            .into_bytes()
    }

    fn values(outputs: Vec<Output>) -> Vec<String> {
        outputs
            .into_iter()
            .map(|o| String::from_utf8(o.value.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn a_stream_time_timer_emits_each_hosts_peak_since_the_last_firing() {
        let mut d = TestDriver::<CpuPeak>::new("{}")
            .unwrap()
            .with_timer("flush", Clock::StreamTime, 60_000, true);
        assert!(d.process_at(b"k", &metric("a", 0.2), 1_000).unwrap().is_empty());
        assert!(d.process_at(b"k", &metric("a", 0.7), 20_000).unwrap().is_empty());
        assert!(d.process_at(b"k", &metric("b", 0.1), 30_000).unwrap().is_empty());
        // Stream time reaches 60 s: the record is counted, then the timer fires.
        let out = values(d.process_at(b"k", &metric("a", 0.9), 60_000).unwrap());
        assert_eq!(
            out,
            vec![
                r#"{"host":"a","peak":0.9,"until":60000}"#,
                r#"{"host":"b","peak":0.1,"until":60000}"#
            ]
        );
        assert!(d.process_at(b"k", &metric("a", 0.3), 61_000).unwrap().is_empty());
        assert_eq!(
            values(d.advance_stream_time(120_000).unwrap()),
            vec![r#"{"host":"a","peak":0.3,"until":120000}"#]
        );
    }

    #[test]
    fn a_wall_clock_timer_fires_without_records() {
        let mut d = TestDriver::<CpuPeak>::new("{}")
            .unwrap()
            .with_timer("flush", Clock::WallClock, 60_000, true);
        d.process_at(b"k", &metric("a", 0.5), 5).unwrap();
        assert!(d.advance_wall_clock(59_999).unwrap().is_empty());
        assert_eq!(
            values(d.advance_wall_clock(60_000).unwrap()),
            vec![r#"{"host":"a","peak":0.5,"until":60000}"#]
        );
    }
}
