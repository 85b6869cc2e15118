//! A foreign-key join's rules and records (KIP-213, design 015): what a
//! left update subscribes and unsubscribes, what the right side answers,
//! and which answers may still produce a result. Pure: the task path
//! (`task/stream_task/fk_joining.rs`) does the I/O.
//!
//! ```text
//!  left table update ──subscription (key: right key)──▶ right side's task
//!  (old and new FK)         instruction, hash(left)        stores it in the
//!                                                          subscription store
//!  right table update ─────────────────────────────────▶ answers every
//!                                                          subscriber
//!  left side's task ◀──response (key: left key)─────────  hash, right value
//!  joins only if hash(current left value) == the hash
//! ```
//!
//! The hash of the left value travels with a subscription and comes back
//! with its answer: an answer for a left value that has changed since is
//! stale and produces nothing (the newer value's own answer follows), so
//! out-of-order answers never emit stale results. The instructions are
//! Kafka Streams' (`SubscriptionWrapper.Instruction`), so a stream of
//! updates produces the results Kafka Streams produces.

use crate::manifest::ForeignKeyJoinKind;
use sha2::{Digest, Sha256};

/// A left value's fingerprint (the first 16 bytes of its SHA-256);
/// `None` stands for no value (deleted).
pub type Hash = Option<[u8; 16]>;

/// The fingerprint of a left value.
pub fn hash(value: Option<&[u8]>) -> Hash {
    value.map(|v| Sha256::digest(v)[..16].try_into().expect("16 of 32 bytes"))
}

/// What the right side does with a subscription (Kafka Streams' names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instruction {
    /// Forget the subscription; answer nothing (the left row moved to
    /// another right key, whose subscription answers).
    DeleteKeyNoPropagate = 0,
    /// Forget it and answer with no right value (the left row was deleted
    /// or lost its foreign key: its result goes away).
    DeleteKeyAndPropagate = 1,
    /// Keep it and answer, with no right value if the right row is missing
    /// (a previous result may need retracting).
    PropagateNullIfNoFkValAvailable = 2,
    /// Keep it and answer only if the right row exists (an inner join's new
    /// left row: nothing to retract).
    PropagateOnlyIfFkValAvailable = 3,
}

impl Instruction {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Instruction::DeleteKeyNoPropagate,
            1 => Instruction::DeleteKeyAndPropagate,
            2 => Instruction::PropagateNullIfNoFkValAvailable,
            3 => Instruction::PropagateOnlyIfFkValAvailable,
            _ => return None,
        })
    }
}

/// A record on the subscription topic (its key is the right key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// What to do.
    pub instruction: Instruction,
    /// The left value's fingerprint when it was sent.
    pub hash: Hash,
    /// The left partition the answer goes to.
    pub partition: i32,
    /// The left row's key.
    pub left_key: Vec<u8>,
}

/// A record on the response topic (its key is the left key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The fingerprint of the left value the answer is for.
    pub hash: Hash,
    /// The right row's value (`None`: missing or deleted).
    pub right: Option<Vec<u8>>,
}

/// An internal record rill did not write (or a newer rill wrote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a foreign-key join {0} record of this rill version")]
pub struct Malformed(&'static str);

const VERSION: u8 = 1;

fn put_hash(out: &mut Vec<u8>, hash: &Hash) {
    match hash {
        Some(h) => {
            out.push(1);
            out.extend_from_slice(h);
        }
        None => out.push(0),
    }
}

fn take_hash<'a>(bytes: &'a [u8], what: &'static str) -> Result<(Hash, &'a [u8]), Malformed> {
    match bytes.split_first() {
        Some((0, rest)) => Ok((None, rest)),
        Some((1, rest)) if rest.len() >= 16 => Ok((Some(rest[..16].try_into().expect("16 bytes")), &rest[16..])),
        _ => Err(Malformed(what)),
    }
}

impl Subscription {
    /// `version | instruction | hash | partition (i32 BE) | left key`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.left_key.len());
        out.push(VERSION);
        out.push(self.instruction as u8);
        put_hash(&mut out, &self.hash);
        out.extend_from_slice(&self.partition.to_be_bytes());
        out.extend_from_slice(&self.left_key);
        out
    }

    /// The subscription `bytes` encode.
    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        const WHAT: &str = "subscription";
        let [VERSION, instruction, rest @ ..] = bytes else {
            return Err(Malformed(WHAT));
        };
        let instruction = Instruction::from_byte(*instruction).ok_or(Malformed(WHAT))?;
        let (hash, rest) = take_hash(rest, WHAT)?;
        let (partition, left_key) = rest.split_first_chunk::<4>().ok_or(Malformed(WHAT))?;
        Ok(Subscription {
            instruction,
            hash,
            partition: i32::from_be_bytes(*partition),
            left_key: left_key.to_vec(),
        })
    }
}

impl Response {
    /// `version | hash | 0, or 1 and the right value`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.right.as_ref().map_or(0, Vec::len));
        out.push(VERSION);
        put_hash(&mut out, &self.hash);
        match &self.right {
            Some(v) => {
                out.push(1);
                out.extend_from_slice(v);
            }
            None => out.push(0),
        }
        out
    }

    /// The response `bytes` encode.
    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        const WHAT: &str = "response";
        let [VERSION, rest @ ..] = bytes else {
            return Err(Malformed(WHAT));
        };
        let (hash, rest) = take_hash(rest, WHAT)?;
        let right = match rest.split_first() {
            Some((0, [])) => None,
            Some((1, value)) => Some(value.to_vec()),
            _ => return Err(Malformed(WHAT)),
        };
        Ok(Response { hash, right })
    }
}

/// The subscription store's key: `right key length (u32 BE) | right key |
/// left key`, so one right key's subscribers are one prefix.
pub fn subscription_key(right_key: &[u8], left_key: &[u8]) -> Vec<u8> {
    let mut k = subscribers(right_key);
    k.extend_from_slice(left_key);
    k
}

/// The prefix of `right_key`'s subscribers in the subscription store.
pub fn subscribers(right_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + right_key.len() + 16);
    k.extend_from_slice(&(right_key.len() as u32).to_be_bytes());
    k.extend_from_slice(right_key);
    k
}

/// The end of [`subscribers`]' range (exclusive): the prefix plus one,
/// as a big-endian number.
pub fn subscribers_end(right_key: &[u8]) -> Vec<u8> {
    let mut k = subscribers(right_key);
    while let Some(last) = k.pop() {
        if last < u8::MAX {
            k.push(last + 1);
            return k;
        }
    }
    // Only a prefix of 0xff bytes has no successor; its length prefix
    // cannot be (no key is 4 GiB), so this is never reached.
    vec![u8::MAX; 4 + right_key.len() + 1]
}

/// The left key in a subscription store key under `right_key`.
pub fn left_key_of<'k>(key: &'k [u8], right_key: &[u8]) -> Option<&'k [u8]> {
    key.get(4 + right_key.len()..)
}

/// A stored subscription: the hash and the left partition to answer.
pub fn encode_subscriber(hash: &Hash, partition: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    put_hash(&mut out, hash);
    out.extend_from_slice(&partition.to_be_bytes());
    out
}

/// What [`encode_subscriber`] wrote.
pub fn decode_subscriber(bytes: &[u8]) -> Result<(Hash, i32), Malformed> {
    let (hash, rest) = take_hash(bytes, "subscriber")?;
    let partition: [u8; 4] = rest.try_into().map_err(|_| Malformed("subscriber"))?;
    Ok((hash, i32::from_be_bytes(partition)))
}

/// What a left update sends, and what the left side emits itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftUpdate {
    /// Subscriptions to send: (right key, instruction), in order.
    pub send: Vec<(Vec<u8>, Instruction)>,
    /// A result the left side emits at once, without the right side.
    pub local: Option<Local>,
}

/// A left join's result that needs no right value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The new row has no foreign key: it joins null (KIP-962).
    Unmatched,
    /// A row without a foreign key was deleted: its `(left, null)`
    /// result goes away.
    Tombstone,
}

/// The subscriptions a left row's change from `old` to `new` sends, given
/// their foreign keys (outer `None`: no row; inner `None`: a row without
/// a foreign key). Kafka Streams' `SubscriptionSendProcessorSupplier`,
/// inner and left.
pub fn left_update(kind: ForeignKeyJoinKind, old: Option<Option<Vec<u8>>>, new: Option<Option<Vec<u8>>>) -> LeftUpdate {
    let left_join = kind == ForeignKeyJoinKind::Left;
    let mut send = Vec::new();
    let mut local = None;
    match (old, new) {
        (None, None) => {}
        // Deleted: the right side answers null, which retracts the result.
        (Some(Some(old_fk)), None) => send.push((old_fk, Instruction::DeleteKeyAndPropagate)),
        (Some(None), None) => {
            if left_join {
                local = Some(Local::Tombstone);
            }
        }
        // A row without a foreign key.
        (old, Some(None)) => {
            if left_join {
                if let Some(Some(old_fk)) = old {
                    send.push((old_fk, Instruction::DeleteKeyNoPropagate));
                }
                local = Some(Local::Unmatched);
            } else if let Some(Some(old_fk)) = old {
                // Answered with no right value: an inner join's tombstone.
                send.push((old_fk, Instruction::DeleteKeyAndPropagate));
            }
        }
        (old, Some(Some(fk))) => {
            let had_key = matches!(&old, Some(Some(_)));
            if let Some(Some(old_fk)) = &old
                && *old_fk != fk
            {
                send.push((old_fk.clone(), Instruction::DeleteKeyNoPropagate));
            }
            // An inner join's new row (or one without a key before) has no
            // result to retract: answered only if the right row exists.
            let instruction = if left_join || had_key {
                Instruction::PropagateNullIfNoFkValAvailable
            } else {
                Instruction::PropagateOnlyIfFkValAvailable
            };
            send.push((fk, instruction));
        }
    }
    LeftUpdate { send, local }
}

/// What an answer produces on the left side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'v> {
    /// The left value changed since: nothing (its own answer follows).
    Stale,
    /// The result goes away: a tombstone for the left key.
    Tombstone,
    /// The plugin joins these.
    Join {
        /// The current left value.
        left: &'v [u8],
        /// The right value (`None` only in a left join).
        right: Option<&'v [u8]>,
    },
}

/// Kafka Streams' `ResponseJoinProcessorSupplier`: an answer joins the
/// current left value only if it is the value the answer was for.
pub fn on_response<'v>(kind: ForeignKeyJoinKind, current: Option<&'v [u8]>, response: &'v Response) -> Outcome<'v> {
    if hash(current) != response.hash {
        return Outcome::Stale;
    }
    match (current, response.right.as_deref(), kind) {
        (None, _, _) | (Some(_), None, ForeignKeyJoinKind::Inner) => Outcome::Tombstone,
        (Some(left), right, _) => Outcome::Join { left, right },
    }
}

#[cfg(test)]
mod tests;
