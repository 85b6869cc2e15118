//! The [`TestDriver`]'s stream-stream joins: [`crate::time::join`]'s steps
//! over in-memory buffers, as the host runs them over RocksDB, so a
//! joiner's native tests see the host's matches, null results and
//! timestamps.

use super::TestDriver;
use crate::time::join::{Fate, Input, Join, JoinWindow, Joined, MemoryBuffers, Side};
use crate::{Clock, Error, JoinResult, Output, Processor, Record};

/// A `[joins.<name>]` as the driver keeps it.
pub(super) struct JoinState {
    name: String,
    left: String,
    right: String,
    join: Join,
    buffers: MemoryBuffers,
}

impl JoinState {
    fn side_of(&self, topic: &str) -> Option<Side> {
        if topic == self.left {
            Some(Side::Left)
        } else if topic == self.right {
            Some(Side::Right)
        } else {
            None
        }
    }
}

impl<P: Processor> TestDriver<P> {
    /// Declares `[joins.<name>]`: records of topic `left` and of topic
    /// `right` go to the join (never to `process`), and its results to the
    /// processor's `join`.
    pub fn with_join(mut self, name: &str, left: &str, right: &str, window: JoinWindow) -> Self {
        self.joins.push(JoinState {
            name: name.to_string(),
            left: left.to_string(),
            right: right.to_string(),
            join: Join::new(window),
            buffers: MemoryBuffers::new(),
        });
        self
    }

    /// Processes a record of topic `topic` with this key, value and
    /// timestamp: for a join's topic, what the join gives.
    pub fn process_on(&mut self, topic: &str, key: &[u8], value: &[u8], timestamp: i64) -> Result<Vec<Output>, Error> {
        let record = Record {
            topic: topic.to_string(),
            offset: self.next_offset,
            timestamp,
            key: Some(key.to_vec()),
            value: Some(value.to_vec()),
            ..Record::default()
        };
        self.process(record)
    }

    /// The join `record`'s topic feeds, if any, and its side.
    pub(super) fn join_of(&self, record: &Record) -> Option<(usize, Side)> {
        self.joins
            .iter()
            .enumerate()
            .find_map(|(j, state)| Some((j, state.side_of(&record.topic)?)))
    }

    /// Runs `record` through join `j` on `side`: the results' outputs,
    /// then the stream-time timers it makes due.
    pub(super) fn join_record(&mut self, j: usize, side: Side, record: Record) -> Result<Vec<Output>, Error> {
        self.next_offset = record.offset + 1;
        let state = &mut self.joins[j];
        let input = Input {
            side,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            timestamp: record.timestamp,
            offset: u64::try_from(record.offset).unwrap_or(0),
        };
        let Ok(step) = state.join.step(&mut state.buffers, input);
        if matches!(step.fate, Fate::Buffered | Fate::Late) {
            self.stream_time = Some(self.stream_time.map_or(record.timestamp, |t| t.max(record.timestamp)));
        }
        if step.fate == Fate::Late {
            self.late += 1;
        }
        let mut out = self.joined(j, step.results)?;
        out.extend(self.fire(Clock::StreamTime)?);
        Ok(out)
    }

    /// Moves every join's stream time to `time`: the null results of what
    /// closes.
    pub(super) fn advance_joins(&mut self, time: i64) -> Result<Vec<Output>, Error> {
        let mut out = Vec::new();
        for j in 0..self.joins.len() {
            let state = &mut self.joins[j];
            let Ok(closed) = state.join.advance(&mut state.buffers, time);
            out.extend(self.joined(j, closed)?);
        }
        Ok(out)
    }

    /// The processor's outputs for join `j`'s results, each without a
    /// timestamp given the result's.
    fn joined(&mut self, j: usize, results: Vec<Joined>) -> Result<Vec<Output>, Error> {
        let mut out = Vec::new();
        for r in results {
            let result = JoinResult {
                join: self.joins[j].name.clone(),
                key: r.key,
                left: r.left,
                right: r.right,
                timestamp: r.timestamp,
            };
            out.extend(self.processor.join(result)?.into_iter().map(|mut o| {
                o.timestamp.get_or_insert(r.timestamp);
                o
            }));
        }
        Ok(out)
    }
}
