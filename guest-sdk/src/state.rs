//! The task's key-value state: stores declared in the manifest's `[stores]`
//! and the inputs declared as tables. The host keeps them in RocksDB with a
//! changelog topic; natively (in unit tests) they are in-memory maps that
//! [`crate::testing`] can seed.

use std::fmt;

/// Why a state call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The name is not a store or table declared in the manifest.
    Undeclared(String),
    /// The host could not read or write its storage.
    Storage(String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Undeclared(name) => write!(f, "'{name}' is not a store or table declared in the manifest"),
            StateError::Storage(message) => write!(f, "state storage failed: {message}"),
        }
    }
}

impl std::error::Error for StateError {}

/// A handle on one declared store, so call sites name it once.
#[derive(Debug, Clone, Copy)]
pub struct Store {
    name: &'static str,
}

impl Store {
    /// The store declared in the manifest under `name`.
    pub const fn new(name: &'static str) -> Self {
        Store { name }
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        crate::sys::state_get(self.name, key)
    }

    /// Stores `value` under `key`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        crate::sys::state_put(self.name, key, value)
    }

    /// Removes `key`.
    pub fn delete(&self, key: &[u8]) -> Result<(), StateError> {
        crate::sys::state_delete(self.name, key)
    }

    /// Entries with `start <= key < end` in key order, at most `limit`.
    pub fn range(
        &self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        limit: u32,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
        crate::sys::state_range(self.name, start, end, limit)
    }
}

/// The current value of `key` in the table (or global table) input read
/// from `topic`.
pub fn lookup(topic: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    crate::sys::state_lookup(topic, key)
}
