//! Stream-stream windowed joins (Kafka Streams' `KStream.join`, `leftJoin`
//! and `outerJoin` with `JoinWindows`): which records of the two streams
//! pair up, when an unmatched record's null result comes out, and what is
//! late. The host and the [`crate::testing::TestDriver`] both run these
//! steps, each over its own buffers ([`Buffers`]), so a plugin's native
//! tests see what the host does.
//!
//! The rules and the cases that pin them down are
//! `docs/design/014-stream-stream-joins.md`. In short, with the window's
//! `before` B, `after` A and `grace` G:
//!
//! - a left record `l` and a right record `r` of one key join iff
//!   `l.ts - B <= r.ts <= l.ts + A` (both ends inclusive);
//! - a record's *lookahead* is how far past its own time its window
//!   reaches (A for left records, B for right ones); it *closes at*
//!   `ts + lookahead + G` and is open (buffered, matchable) while that is
//!   `>=` the join's stream time;
//! - when stream time passes a record's close, it leaves its buffer, and an
//!   unmatched record of an outer side (the left of a left join, both of an
//!   outer join) yields its null result then, never before (Kafka Streams
//!   3.1's fix: no spurious left/outer results);
//! - a record that arrives already closed (late) is matched with what is
//!   still open but never buffered; unmatched on an outer side, its null
//!   result is final at once.
//!
//! Stream time here is the join's own: the largest timestamp of the keyed,
//! non-null records of its two streams.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Which stream of a join a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The stream the join is called on (`left.join(right, ..)`).
    Left,
    /// The other stream.
    Right,
}

impl Side {
    /// The other side: where a record of this side looks for partners.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Which unmatched records a join reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Matches only.
    Inner,
    /// Matches, and each left record that found none (`left+null`).
    Left,
    /// Matches, and every record of either side that found none.
    Outer,
}

impl JoinKind {
    /// Whether an unmatched record of `side` yields a null result: the
    /// sides Kafka Streams calls outer.
    pub fn reports_unmatched(self, side: Side) -> bool {
        match self {
            JoinKind::Inner => false,
            JoinKind::Left => side == Side::Left,
            JoinKind::Outer => true,
        }
    }
}

/// A join's window and kind (`JoinWindows.ofTimeDifferenceAndGrace`, or
/// `before`/`after` set apart), in milliseconds, each `>= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindow {
    /// How long before a left record a right record may be and still join.
    pub before: i64,
    /// How long after a left record a right record may be and still join.
    pub after: i64,
    /// How long past its window a record stays open for out-of-order
    /// partners (KIP-633).
    pub grace: i64,
    /// Which unmatched records are reported.
    pub kind: JoinKind,
}

impl JoinWindow {
    /// How far past its own timestamp a record of `side` can meet a
    /// partner: `after` for left records, `before` for right ones.
    pub fn lookahead(&self, side: Side) -> i64 {
        match side {
            Side::Left => self.after,
            Side::Right => self.before,
        }
    }

    /// When a record of `side` at `timestamp` closes: once stream time
    /// passes this, nothing can match it any more.
    pub fn closes_at(&self, side: Side, timestamp: i64) -> i64 {
        timestamp
            .saturating_add(self.lookahead(side))
            .saturating_add(self.grace)
    }

    /// The timestamps (both inclusive) of the other side's records that a
    /// record of `side` at `timestamp` joins with.
    pub fn partners(&self, side: Side, timestamp: i64) -> (i64, i64) {
        let (back, ahead) = match side {
            Side::Left => (self.before, self.after),
            Side::Right => (self.after, self.before),
        };
        (timestamp.saturating_sub(back), timestamp.saturating_add(ahead))
    }
}

/// A record held in one side's buffer while its window is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buffered {
    /// Its key.
    pub key: Vec<u8>,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its input offset: arrival order among records of one key and time
    /// (duplicates are kept, in this order), and what makes a replayed
    /// record overwrite itself instead of adding a duplicate.
    pub offset: u64,
    /// Its value.
    pub value: Vec<u8>,
    /// Whether a record of the other side has joined it (an outer side's
    /// record then yields no null result when it closes).
    pub matched: bool,
}

/// The two buffers of a join, kept by whoever runs it: RocksDB stores on
/// the host, maps in [`MemoryBuffers`] for the test driver.
pub trait Buffers {
    /// A storage failure.
    type Error;

    /// The records of `side` with `key` and a timestamp in `[lo, hi]`, in
    /// (timestamp, offset) order.
    fn partners(&mut self, side: Side, key: &[u8], lo: i64, hi: i64) -> Result<Vec<Buffered>, Self::Error>;

    /// Marks the record of `side` identified by key, timestamp and offset
    /// as matched.
    fn set_matched(&mut self, side: Side, key: &[u8], timestamp: i64, offset: u64) -> Result<(), Self::Error>;

    /// Buffers a record of `side` that closes at `closes_at`, replacing a
    /// record with the same key, timestamp and offset.
    fn insert(&mut self, side: Side, record: Buffered, closes_at: i64) -> Result<(), Self::Error>;

    /// Removes and returns every record of `side` that closes before
    /// `time`, in any order. None closes before `since` (the stream time
    /// they were last closed at; `None`: never): an implementation may
    /// start looking there.
    fn close(&mut self, side: Side, since: Option<i64>, time: i64) -> Result<Vec<Buffered>, Self::Error>;
}

/// A record of one side, as the join sees it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Its side.
    pub side: Side,
    /// Its key; `None` for a keyless record.
    pub key: Option<&'a [u8]>,
    /// Its value; `None` for a tombstone (never joined).
    pub value: Option<&'a [u8]>,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its input offset.
    pub offset: u64,
}

/// Where a result comes from: what the host dead-letters when the
/// plugin's `join` refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The record being processed (a match, a late or a keyless null
    /// result).
    Input,
    /// A buffered record that closed unmatched while this record moved
    /// stream time: its side and offset (its key, value and timestamp are
    /// the result's).
    Closed {
        /// Its side.
        side: Side,
        /// Its input offset.
        offset: u64,
    },
}

/// One result for the joiner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The key; `None` only for a keyless record's null result.
    pub key: Option<Vec<u8>>,
    /// The left value; `None` for an unmatched right record.
    pub left: Option<Vec<u8>>,
    /// The right value; `None` for an unmatched left record.
    pub right: Option<Vec<u8>>,
    /// The later of the two records' timestamps, or the unmatched one's.
    pub timestamp: i64,
    /// The record behind it.
    pub origin: Origin,
}

/// What happened to a processed record besides its results, for the
/// host's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Buffered while its window is open.
    Buffered,
    /// Its window had closed: matched with what was still open, not
    /// buffered (`rill_records_late_total`).
    Late,
    /// A tombstone or a negative timestamp: ignored
    /// (`rill_records_dropped_total`).
    Dropped,
    /// No key: its null result at once on an outer side, else ignored.
    Keyless,
}

/// A record's results, in Kafka Streams' order: null results of records
/// it closed, then its matches, then its own null result if late.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The results.
    pub results: Vec<Joined>,
    /// What became of the record.
    pub fate: Fate,
}

/// One join's clock and rules; the buffers live apart ([`Buffers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Join {
    /// The window and kind.
    pub window: JoinWindow,
    /// The join's stream time; `None` before its first keyed record.
    pub stream_time: Option<i64>,
}

impl Join {
    /// A join that has seen nothing.
    pub fn new(window: JoinWindow) -> Self {
        Join {
            window,
            stream_time: None,
        }
    }

    /// Processes one record.
    pub fn step<B: Buffers>(&mut self, buffers: &mut B, input: Input<'_>) -> Result<Step, B::Error> {
        let Input {
            side,
            key,
            value,
            timestamp,
            offset,
        } = input;
        let (Some(value), true) = (value, timestamp >= 0) else {
            return Ok(Step {
                results: Vec::new(),
                fate: Fate::Dropped,
            });
        };
        let Some(key) = key else {
            // KIP-962: an outer side's keyless record cannot match
            // anything, so its null result is final at once.
            let results = if self.window.kind.reports_unmatched(side) {
                vec![unmatched(side, None, value.to_vec(), timestamp, Origin::Input)]
            } else {
                Vec::new()
            };
            return Ok(Step {
                results,
                fate: Fate::Keyless,
            });
        };
        let mut results = self.advance(buffers, timestamp)?;
        let now = self.stream_time.unwrap_or(timestamp);
        let late = self.window.closes_at(side, timestamp) < now;

        let (lo, hi) = self.window.partners(side, timestamp);
        let other = side.other();
        let partners = buffers.partners(other, key, lo, hi)?;
        for partner in &partners {
            let (left, right) = match side {
                Side::Left => (value.to_vec(), partner.value.clone()),
                Side::Right => (partner.value.clone(), value.to_vec()),
            };
            results.push(Joined {
                key: Some(key.to_vec()),
                left: Some(left),
                right: Some(right),
                timestamp: timestamp.max(partner.timestamp),
                origin: Origin::Input,
            });
            if !partner.matched && self.window.kind.reports_unmatched(other) {
                buffers.set_matched(other, key, partner.timestamp, partner.offset)?;
            }
        }

        let fate = if late {
            if partners.is_empty() && self.window.kind.reports_unmatched(side) {
                results.push(unmatched(
                    side,
                    Some(key.to_vec()),
                    value.to_vec(),
                    timestamp,
                    Origin::Input,
                ));
            }
            Fate::Late
        } else {
            let record = Buffered {
                key: key.to_vec(),
                timestamp,
                offset,
                value: value.to_vec(),
                matched: !partners.is_empty(),
            };
            buffers.insert(side, record, self.window.closes_at(side, timestamp))?;
            Fate::Buffered
        };
        Ok(Step { results, fate })
    }

    /// Moves stream time to `time` if that is later, closing what is due:
    /// the null results of the unmatched records of outer sides, ordered
    /// by timestamp, right before left, key, then offset. What a record
    /// does first, and what `idle-advance` does between records.
    pub fn advance<B: Buffers>(&mut self, buffers: &mut B, time: i64) -> Result<Vec<Joined>, B::Error> {
        let since = self.stream_time;
        if since.is_some_and(|now| now >= time) {
            return Ok(Vec::new());
        }
        self.stream_time = Some(time);
        let mut closed = Vec::new();
        for side in [Side::Right, Side::Left] {
            for record in buffers.close(side, since, time)? {
                if !record.matched && self.window.kind.reports_unmatched(side) {
                    closed.push((side, record));
                }
            }
        }
        closed.sort_by(|(a_side, a), (b_side, b)| close_order((*a_side, a), (*b_side, b)));
        Ok(closed
            .into_iter()
            .map(|(side, record)| {
                let origin = Origin::Closed {
                    side,
                    offset: record.offset,
                };
                unmatched(side, Some(record.key), record.value, record.timestamp, origin)
            })
            .collect())
    }
}

/// Kafka Streams' order of null results emitted together: timestamp,
/// right before left, key (shorter first, then bytes: the host's store
/// layout), offset.
fn close_order(a: (Side, &Buffered), b: (Side, &Buffered)) -> Ordering {
    let rank = |side: Side| if side == Side::Right { 0 } else { 1 };
    a.1.timestamp
        .cmp(&b.1.timestamp)
        .then(rank(a.0).cmp(&rank(b.0)))
        .then(a.1.key.len().cmp(&b.1.key.len()))
        .then(a.1.key.cmp(&b.1.key))
        .then(a.1.offset.cmp(&b.1.offset))
}

/// The null result of an unmatched record of `side`.
fn unmatched(side: Side, key: Option<Vec<u8>>, value: Vec<u8>, timestamp: i64, origin: Origin) -> Joined {
    let (left, right) = match side {
        Side::Left => (Some(value), None),
        Side::Right => (None, Some(value)),
    };
    Joined {
        key,
        left,
        right,
        timestamp,
        origin,
    }
}

/// In-memory [`Buffers`]: what the test driver and the model tests use.
#[derive(Debug, Clone, Default)]
pub struct MemoryBuffers {
    /// Per side: (key, timestamp, offset) → (value, matched, closes at).
    sides: [BTreeMap<(Vec<u8>, i64, u64), (Vec<u8>, bool, i64)>; 2],
}

impl MemoryBuffers {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records `side` holds (the host's `rill_join_buffered`).
    pub fn len(&self, side: Side) -> usize {
        self.sides[side as usize].len()
    }

    /// Whether both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.sides.iter().all(BTreeMap::is_empty)
    }
}

impl Buffers for MemoryBuffers {
    type Error = std::convert::Infallible;

    fn partners(&mut self, side: Side, key: &[u8], lo: i64, hi: i64) -> Result<Vec<Buffered>, Self::Error> {
        if lo > hi {
            return Ok(Vec::new());
        }
        let range = (key.to_vec(), lo, 0)..=(key.to_vec(), hi, u64::MAX);
        Ok(self.sides[side as usize]
            .range(range)
            .map(|((key, timestamp, offset), (value, matched, _))| Buffered {
                key: key.clone(),
                timestamp: *timestamp,
                offset: *offset,
                value: value.clone(),
                matched: *matched,
            })
            .collect())
    }

    fn set_matched(&mut self, side: Side, key: &[u8], timestamp: i64, offset: u64) -> Result<(), Self::Error> {
        if let Some(entry) = self.sides[side as usize].get_mut(&(key.to_vec(), timestamp, offset)) {
            entry.1 = true;
        }
        Ok(())
    }

    fn insert(&mut self, side: Side, record: Buffered, closes_at: i64) -> Result<(), Self::Error> {
        self.sides[side as usize].insert(
            (record.key, record.timestamp, record.offset),
            (record.value, record.matched, closes_at),
        );
        Ok(())
    }

    fn close(&mut self, side: Side, _since: Option<i64>, time: i64) -> Result<Vec<Buffered>, Self::Error> {
        let buffer = &mut self.sides[side as usize];
        let due: Vec<_> = buffer
            .iter()
            .filter(|(_, (_, _, closes_at))| *closes_at < time)
            .map(|(id, _)| id.clone())
            .collect();
        Ok(due
            .into_iter()
            .filter_map(|id| {
                let (value, matched, _) = buffer.remove(&id)?;
                let (key, timestamp, offset) = id;
                Some(Buffered {
                    key,
                    timestamp,
                    offset,
                    value,
                    matched,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
