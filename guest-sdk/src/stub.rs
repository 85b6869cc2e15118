//! The native stand-in for the host, used when a plugin is built for its
//! own unit tests: logs go to stderr, state lives in thread-local maps.

use crate::log::Level;
use crate::state::StateError;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

std::thread_local! {
    static STORES: RefCell<HashMap<String, Map>> = RefCell::new(HashMap::new());
    static TABLES: RefCell<HashMap<String, Map>> = RefCell::new(HashMap::new());
    /// Timer calls not yet taken by the TestDriver.
    static TIMERS: RefCell<Vec<TimerCall>> = const { RefCell::new(Vec::new()) };
}

/// A `timers` call made natively, for the TestDriver to apply.
#[derive(Debug, Clone)]
pub(crate) enum TimerCall {
    Schedule {
        name: String,
        clock: crate::Clock,
        interval: i64,
        aligned: bool,
    },
    Cancel(String),
}

pub(crate) fn timer_schedule(name: &str, clock: crate::Clock, interval_ms: u64, aligned: bool) -> Result<(), String> {
    if interval_ms == 0 {
        return Err(format!("timer '{name}': the interval must be at least 1 ms"));
    }
    TIMERS.with(|t| {
        t.borrow_mut().push(TimerCall::Schedule {
            name: name.to_string(),
            clock,
            interval: i64::try_from(interval_ms).unwrap_or(i64::MAX),
            aligned,
        })
    });
    Ok(())
}

pub(crate) fn timer_cancel(name: &str) {
    TIMERS.with(|t| t.borrow_mut().push(TimerCall::Cancel(name.to_string())));
}

pub(crate) fn take_timer_calls() -> Vec<TimerCall> {
    TIMERS.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

pub(crate) fn log(level: Level, message: &str) {
    eprintln!("[{level:?}] {message}");
}

fn store<T>(name: &str, f: impl FnOnce(&mut Map) -> T) -> T {
    STORES.with(|s| f(s.borrow_mut().entry(name.to_string()).or_default()))
}

pub(crate) fn state_get(name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    Ok(store(name, |m| m.get(key).cloned()))
}

pub(crate) fn state_put(name: &str, key: &[u8], value: &[u8]) -> Result<(), StateError> {
    store(name, |m| m.insert(key.to_vec(), value.to_vec()));
    Ok(())
}

pub(crate) fn state_delete(name: &str, key: &[u8]) -> Result<(), StateError> {
    store(name, |m| m.remove(key));
    Ok(())
}

pub(crate) fn state_range(
    name: &str,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    limit: u32,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
    use std::ops::Bound;
    let lower = start.map_or(Bound::Unbounded, |s| Bound::Included(s.to_vec()));
    let upper = end.map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec()));
    Ok(store(name, |m| {
        m.range((lower, upper))
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }))
}

pub(crate) fn state_lookup(table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
    TABLES.with(|t| match t.borrow().get(table) {
        Some(map) => Ok(map.get(key).cloned()),
        None => Err(StateError::Undeclared(table.to_string())),
    })
}

/// Seeds (or, with `None`, deletes) a table entry for native tests.
pub(crate) fn set_table(table: &str, key: &[u8], value: Option<&[u8]>) {
    TABLES.with(|t| {
        let mut tables = t.borrow_mut();
        let map = tables.entry(table.to_string()).or_default();
        match value {
            Some(v) => map.insert(key.to_vec(), v.to_vec()),
            None => map.remove(key),
        };
    });
}

/// Forgets every store and table of this thread.
pub(crate) fn reset() {
    STORES.with(|s| s.borrow_mut().clear());
    TABLES.with(|t| t.borrow_mut().clear());
    TIMERS.with(|t| t.borrow_mut().clear());
}
