//! A stream-stream join's buffers in the task's store: the open records of
//! each side (`[joins.<name>]`, design 014), so matching, closing and the
//! join's stream time survive restarts, rebalances and exactly-once
//! aborts like every other store (changelogged, restored, rolled back with
//! a batch). The rules themselves are `rill_sdk::time::join`, shared with
//! the test driver; this module is only where the records live.
//!
//! One column family per side (`<join>-left`, `<join>-right`), three kinds
//! of keys (times in `window.rs`'s order-preserving encoding):
//!
//! ```text
//! B | key length | key | ts | offset (u64 BE)        → flags (bit 0: matched) | value
//! T | closes at | key length | key | ts | offset      → (empty)   close index
//! M                                                   → stream time
//! ```
//!
//! `B` keys of one key sort by timestamp then offset: the order partners
//! are matched in. `T` finds what is due without scanning buffers. `M`
//! holds the join's stream time in both families (the larger wins on
//! load), so a record closed before a restart stays closed and a late one
//! stays late.

use super::store::{AccessError, HostView};
use super::window::{ord, unord};
use crate::manifest::JoinSpec;
use rill_sdk::time::join::{Buffered, Buffers, Side};

const BUFFER: u8 = b'B';
const INDEX: u8 = b'T';
const META: &[u8] = b"M";
const MATCHED: u8 = 1;

/// One join's two stores seen through a task store view, as
/// [`rill_sdk::time::join::Buffers`].
pub struct StoreBuffers<'s, 'v> {
    view: &'s mut HostView<'v>,
    stores: &'s [String; 2],
}

impl<'s, 'v> StoreBuffers<'s, 'v> {
    /// `spec`'s buffers in `view`.
    pub fn new(view: &'s mut HostView<'v>, spec: &'s JoinSpec) -> Self {
        StoreBuffers {
            view,
            stores: &spec.stores,
        }
    }

    /// The join's stream time as stored (`None` before its first record).
    pub fn stream_time(&mut self) -> Result<Option<i64>, AccessError> {
        let mut time = None;
        for store in self.stores {
            if let Some(m) = self.view.get(store, META)?.filter(|m| m.len() == 8) {
                time = time.max(Some(unord(&m)));
            }
        }
        Ok(time)
    }

    /// Stores the join's stream time in both families.
    pub fn set_stream_time(&mut self, time: i64) -> Result<(), AccessError> {
        for store in self.stores {
            self.view.put(store, META.to_vec(), ord(time).to_vec())?;
        }
        Ok(())
    }

    /// How many records `side` holds (`rill_join_buffered`): a scan, for
    /// gauges and tests, not for the record path.
    pub fn count(&mut self, side: Side) -> Result<usize, AccessError> {
        Ok(self
            .view
            .range(&self.stores[side as usize], &[BUFFER], &[BUFFER + 1])?
            .len())
    }
}

/// `B | key length | key`.
fn prefix(tag: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 4 + key.len() + 16);
    k.push(tag);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

fn buffer_key(key: &[u8], timestamp: i64, offset: u64) -> Vec<u8> {
    let mut k = prefix(BUFFER, key);
    k.extend_from_slice(&ord(timestamp));
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

fn index_key(closes_at: i64, key: &[u8], timestamp: i64, offset: u64) -> Vec<u8> {
    let mut k = vec![INDEX];
    k.extend_from_slice(&ord(closes_at));
    k.extend_from_slice(&buffer_key(key, timestamp, offset)[1..]);
    k
}

/// (key, timestamp, offset) from a buffer key without its tag.
fn parse_id(k: &[u8]) -> Option<(Vec<u8>, i64, u64)> {
    let len = u32::from_be_bytes(k.get(..4)?.try_into().ok()?) as usize;
    let key = k.get(4..4 + len)?.to_vec();
    let rest = k.get(4 + len..)?;
    if rest.len() != 16 {
        return None;
    }
    let offset = u64::from_be_bytes(rest[8..16].try_into().ok()?);
    Some((key, unord(&rest[..8]), offset))
}

fn corrupt(store: &str) -> AccessError {
    AccessError::Storage(format!("join store {store} holds an entry rill did not write"))
}

impl Buffers for StoreBuffers<'_, '_> {
    type Error = AccessError;

    fn partners(&mut self, side: Side, key: &[u8], lo: i64, hi: i64) -> Result<Vec<Buffered>, AccessError> {
        if lo > hi {
            return Ok(Vec::new());
        }
        let store = &self.stores[side as usize];
        let mut start = prefix(BUFFER, key);
        start.extend_from_slice(&ord(lo));
        let mut end = prefix(BUFFER, key);
        match hi.checked_add(1) {
            Some(after) => end.extend_from_slice(&ord(after)),
            None => end.push(0xFF),
        }
        self.view
            .range(store, &start, &end)?
            .into_iter()
            .map(|(k, v)| {
                let (key, timestamp, offset) = parse_id(&k[1..]).ok_or_else(|| corrupt(store))?;
                let (&flags, value) = v.split_first().ok_or_else(|| corrupt(store))?;
                Ok(Buffered {
                    key,
                    timestamp,
                    offset,
                    value: value.to_vec(),
                    matched: flags & MATCHED != 0,
                })
            })
            .collect()
    }

    fn set_matched(&mut self, side: Side, key: &[u8], timestamp: i64, offset: u64) -> Result<(), AccessError> {
        let store = &self.stores[side as usize];
        let k = buffer_key(key, timestamp, offset);
        if let Some(mut v) = self.view.get(store, &k)? {
            if let Some(flags) = v.first_mut() {
                *flags |= MATCHED;
            }
            self.view.put(store, k, v)?;
        }
        Ok(())
    }

    fn insert(&mut self, side: Side, record: Buffered, closes_at: i64) -> Result<(), AccessError> {
        let store = &self.stores[side as usize];
        let mut v = Vec::with_capacity(1 + record.value.len());
        v.push(if record.matched { MATCHED } else { 0 });
        v.extend_from_slice(&record.value);
        self.view
            .put(store, buffer_key(&record.key, record.timestamp, record.offset), v)?;
        self.view.put(
            store,
            index_key(closes_at, &record.key, record.timestamp, record.offset),
            Vec::new(),
        )
    }

    fn close(&mut self, side: Side, since: Option<i64>, time: i64) -> Result<Vec<Buffered>, AccessError> {
        let store = &self.stores[side as usize];
        // Start where the last close stopped: everything earlier is gone,
        // and a scan from the first index key would step over the
        // tombstones of every record closed so far.
        let mut start = vec![INDEX];
        if let Some(since) = since {
            start.extend_from_slice(&ord(since));
        }
        let mut end = vec![INDEX];
        end.extend_from_slice(&ord(time));
        let due = self.view.range(store, &start, &end)?;
        let mut closed = Vec::with_capacity(due.len());
        for (index, _) in due {
            let id = index.get(9..).ok_or_else(|| corrupt(store))?;
            let (key, timestamp, offset) = parse_id(id).ok_or_else(|| corrupt(store))?;
            let k = buffer_key(&key, timestamp, offset);
            let entry = self.view.get(store, &k)?;
            self.view.delete(store, index)?;
            let Some(v) = entry else { continue };
            self.view.delete(store, k)?;
            let (&flags, value) = v.split_first().ok_or_else(|| corrupt(store))?;
            closed.push(Buffered {
                key,
                timestamp,
                offset,
                value: value.to_vec(),
                matched: flags & MATCHED != 0,
            });
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests;
