//! What the benchmarks (`tests/benches/`) share: settings from the
//! environment, a fixed-seed generator so every run has the same input,
//! the size of a state directory, and a topic's record count.

use rdkafka::consumer::{BaseConsumer, Consumer};
use std::path::Path;
use std::time::Duration;

/// `name` from the environment as a number, else `default`
/// (`RILL_BENCH_RECORDS` and the like).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// splitmix64: a fixed-seed generator, so every run has the same input.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// Bytes under `path` (a state directory), recursively.
pub fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The sum of `topic`'s high watermarks over `partitions`; fails if the
/// broker's retention dropped any record (the figures would be wrong).
pub fn high_watermarks(probe: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    (0..partitions)
        .map(|p| {
            let (low, high) = probe.fetch_watermarks(topic, p, Duration::from_secs(5)).unwrap();
            assert_eq!(low, 0, "the broker dropped records of {topic}/{p}: use more partitions");
            high
        })
        .sum()
}
