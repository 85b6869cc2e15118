//! Metricbeat sample data: the seed notes' real records and a deterministic
//! generator around them, used by `rill demo`, the end-to-end tests and the
//! benchmark. Each generated record says what the sample pipeline must do
//! with it, so expected outputs are computed independently of the plugins.

/// The seed notes' real metricbeat cpu record (below the 0.5 threshold).
pub const SEED_CPU: &str = r#"{"@timestamp":"2025-01-31T07:55:26.555Z","@metadata":{"beat":"metricbeat","type":"_doc","version":"8.17.1"},"service":{"type":"system"},"system":{"cpu":{"idle":{"pct":8.1113,"norm":{"pct":0.8111}},"nice":{"pct":0,"norm":{"pct":0}},"cores":10,"total":{"pct":1.8887,"norm":{"pct":0.1889}},"user":{"norm":{"pct":0.1148},"pct":1.1476},"system":{"pct":0.7411,"norm":{"pct":0.0741}}}},"host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"},"event":{"dataset":"system.cpu","module":"system","duration":2847417},"ecs":{"version":"8.0.0"},"agent":{"name":"Aaronui-MacBookPro.local","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"},"metricset":{"period":10000,"name":"cpu"}}"#;

/// The seed notes' real metricbeat memory record.
pub const SEED_MEMORY: &str = r#"{"@timestamp":"2025-01-31T07:55:28.919Z","@metadata":{"beat":"metricbeat","type":"_doc","version":"8.17.1"},"event":{"duration":1807750,"dataset":"system.memory","module":"system"},"metricset":{"name":"memory","period":10000},"service":{"type":"system"},"system":{"memory":{"total":17179869184,"used":{"pct":0.9976,"bytes":17138380800},"free":41488384,"actual":{"free":763154432,"used":{"bytes":16416714752,"pct":0.9556}},"swap":{"used":{"bytes":11371479040,"pct":0.8825},"free":1513422848,"total":12884901888}}},"ecs":{"version":"8.0.0"},"host":{"name":"Aaronui-MacBookPro.local"},"agent":{"name":"Aaronui-MacBookPro.local","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"}}"#;

/// Every topic of the metrics pipeline: its input, then what
/// metric-branch and cpu-alert write (outputs, then dead-letter topics).
pub const TOPICS: [&str; 6] = [
    "metric.all",
    "metric.cpu",
    "metric.memory",
    "metric.cpu.alert",
    "metric.all.dlq",
    "metric.cpu.dlq",
];

/// The topics the pipeline writes: [`TOPICS`] without its input (for the
/// end-to-end tests and benchmarks, which check each; the demo counts all).
#[cfg(any(test, feature = "testing"))]
pub fn written_topics() -> &'static [&'static str] {
    &TOPICS[1..]
}

/// What the metrics pipeline must do with a sample.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// A cpu metric: to `metric.cpu`; to `metric.cpu.alert` as `alert` when
    /// `pct` is above the threshold.
    Cpu {
        /// Normalized total cpu usage.
        pct: f64,
        /// The exact alert value cpu-alert must produce.
        alert: String,
    },
    /// A cpu metric without a `host` object: to `metric.cpu`, then to
    /// cpu-alert's dead-letter topic.
    CpuWithoutHost,
    /// A memory metric: to `metric.memory`.
    Memory,
    /// Another metricset: dropped by metric-branch.
    Other,
    /// Not a usable metric: to metric-branch's dead-letter topic.
    Malformed,
}

/// One generated record.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The record value.
    pub value: Vec<u8>,
    /// What must become of it.
    pub expect: Expect,
}

/// Deterministic samples: the same `seed` gives the same records. About
/// 48% cpu, 40% memory, 6% other metricsets, 4% malformed, 2% cpu without
/// host; cpu usage spread evenly over [0, 1].
pub struct Generator {
    state: u64,
    index: u64,
}

impl Generator {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Generator {
            state: seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407),
            index: 0,
        }
    }

    fn next_u32(&mut self) -> u32 {
        // PCG-XSH-RR: small, fast and good enough for test data.
        let old = self.state;
        self.state = old.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }

    /// The next sample.
    pub fn sample(&mut self) -> Sample {
        self.index += 1;
        let i = self.index;
        let roll = self.next_u32() % 100;
        let host = format!("host-{}", self.next_u32() % 50);
        let millis = i % 1000;
        let timestamp = format!(
            "2025-01-31T{:02}:{:02}:{:02}.{millis:03}Z",
            8 + (i / 3600) % 12,
            (i / 60) % 60,
            i % 60
        );
        let pct = f64::from(self.next_u32() % 10_001) / 10_000.0;
        let pct_text = format!("{pct:.4}");
        match roll {
            0..=47 => {
                let value = cpu_record(&timestamp, &pct_text, Some(&host));
                let alert = format!(r#"{{"cpu":{{"usage":{pct_text}}},"name":"{host}","timestamp":"{timestamp}"}}"#);
                Sample { value, expect: Expect::Cpu { pct, alert } }
            }
            48..=49 => Sample { value: cpu_record(&timestamp, &pct_text, None), expect: Expect::CpuWithoutHost },
            50..=89 => Sample {
                value: SEED_MEMORY.replace("2025-01-31T07:55:28.919Z", &timestamp).replace("Aaronui-MacBookPro.local", &host).into_bytes(),
                expect: Expect::Memory,
            },
            90..=95 => Sample {
                value: format!(r#"{{"@timestamp":"{timestamp}","metricset":{{"name":"network","period":10000}},"host":{{"name":"{host}"}}}}"#).into_bytes(),
                expect: Expect::Other,
            },
            96 => Sample { value: b"metricbeat: connection reset".to_vec(), expect: Expect::Malformed },
            97 => Sample { value: SEED_CPU.as_bytes()[..SEED_CPU.len() / 2].to_vec(), expect: Expect::Malformed },
            98 => Sample { value: br#"{"metricset":{"period":10000}}"#.to_vec(), expect: Expect::Malformed },
            _ => Sample { value: br#"[1,2,3]"#.to_vec(), expect: Expect::Malformed },
        }
    }
}

fn cpu_record(timestamp: &str, pct: &str, host: Option<&str>) -> Vec<u8> {
    let host = host.map_or(String::new(), |h| {
        format!(r#""host":{{"cpu":{{"usage":{pct}}},"name":"{h}"}},"#)
    });
    format!(
        r#"{{"@timestamp":"{timestamp}","@metadata":{{"beat":"metricbeat","type":"_doc","version":"8.17.1"}},"service":{{"type":"system"}},"system":{{"cpu":{{"idle":{{"pct":8.1113,"norm":{{"pct":0.8111}}}},"nice":{{"pct":0,"norm":{{"pct":0}}}},"cores":10,"total":{{"pct":1.8887,"norm":{{"pct":{pct}}}}},"user":{{"norm":{{"pct":0.1148}},"pct":1.1476}},"system":{{"pct":0.7411,"norm":{{"pct":0.0741}}}}}}}},{host}"event":{{"dataset":"system.cpu","module":"system","duration":2847417}},"ecs":{{"version":"8.0.0"}},"agent":{{"name":"metricbeat-agent","type":"metricbeat","version":"8.17.1","ephemeral_id":"abcd-efgh-1234-5678","id":"abcdefghijk-1234567-ababna"}},"metricset":{{"period":10000,"name":"cpu"}}}}"#
    )
    .into_bytes()
}
