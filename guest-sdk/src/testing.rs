//! Running a processor natively, without a broker or a Wasm runtime: the
//! rill counterpart of Kafka Streams' `TopologyTestDriver`.
//!
//! Windows and timers behave as on the host (the rules come from
//! [`crate::time`], which the host uses too): declare the manifest's
//! windows and timers on the driver, feed records with timestamps, and
//! move the clocks.
//!
//! ```
//! use rill_sdk::testing::TestDriver;
//! use rill_sdk::time::{Emit, WindowKind};
//! # use rill_sdk::{Error, Output, Processor, Record, Window, WindowResult, windows};
//! # struct Count;
//! # impl Processor for Count {
//! #     type Config = rill_sdk::NoConfig;
//! #     fn init(_: Self::Config) -> Result<Self, Error> { Ok(Count) }
//! #     fn process(&mut self, r: Record) -> Result<Vec<Output>, Error> { Ok(vec![Output::forward(r, "counts")]) }
//! #     fn aggregate(&mut self, _: &Window, c: Option<Vec<u8>>, _: &Record) -> Result<Vec<u8>, Error> {
//! #         Ok(windows::encode(&(windows::decode::<u64>(c)? + 1)))
//! #     }
//! #     fn emit(&mut self, r: WindowResult) -> Result<Vec<Output>, Error> {
//! #         Ok(vec![Output::new("out", Some(r.window.key), r.value)])
//! #     }
//! # }
//! let mut driver = TestDriver::<Count>::new("{}").unwrap()
//!     .with_window("counts", WindowKind::Tumbling { size: 10 }, 0, Emit::Final);
//! assert!(driver.process_at(b"a", b"x", 1).unwrap().is_empty());
//! assert!(driver.process_at(b"a", b"x", 5).unwrap().is_empty());
//! let closed = driver.process_at(b"b", b"x", 10).unwrap(); // closes [0,10)
//! assert_eq!(closed[0].value.as_deref(), Some(&b"2"[..]));
//! ```

use crate::time::{Bounds, Emit, Schedule, WindowKind};
use crate::{Clock, Error, Output, Processor, Record, Tick, Window, WindowResult};
use std::collections::BTreeMap;

mod join;
mod sliding;

/// A windowed store as the manifest declares it.
struct WindowStore {
    kind: WindowKind,
    grace: i64,
    emit: Emit,
    /// (key, window) -> (aggregate, latest record time).
    windows: BTreeMap<(Vec<u8>, Bounds), (Vec<u8>, i64)>,
    /// Sliding windows only: windows closed (their final result emitted)
    /// that later records still read to build their own, until retention
    /// (the least the manifest allows) forgets them.
    closed: BTreeMap<(Vec<u8>, Bounds), (Vec<u8>, i64)>,
    /// The store's own stream time: the largest timestamp of the keyed
    /// records routed to it (as the host keeps it).
    stream_time: Option<i64>,
    /// `aggregate = "count"`: the driver counts, as the host does, and
    /// never calls the processor's `aggregate` or `merge`.
    counted: bool,
}

/// Drives one processor instance the way the host would: built from a JSON
/// config, then fed records in order.
pub struct TestDriver<P: Processor> {
    processor: P,
    next_offset: i64,
    windows: BTreeMap<String, WindowStore>,
    timers: BTreeMap<String, (Clock, Schedule)>,
    stream_time: Option<i64>,
    wall: i64,
    late: u64,
    /// `[fields]` as declared on the driver: (name, path, `as = "raw"`).
    fields: Vec<(String, crate::fields::FieldPath, bool)>,
    /// `input-value = "bytes"`.
    input_value: bool,
    /// `[joins.<name>]` as declared on the driver.
    joins: Vec<join::JoinState>,
}

impl<P: Processor> TestDriver<P> {
    /// Builds the processor from `config_json` (the manifest's `[config]`
    /// table as JSON), exactly as the host's `init` call does.
    pub fn new(config_json: &str) -> Result<Self, Error> {
        #[cfg(not(target_arch = "wasm32"))]
        crate::stub::reset();
        let mut driver = TestDriver {
            processor: crate::build::<P>(config_json)?,
            next_offset: 0,
            windows: BTreeMap::new(),
            timers: BTreeMap::new(),
            stream_time: None,
            wall: 0,
            late: 0,
            fields: Vec::new(),
            input_value: false,
            joins: Vec::new(),
        };
        driver.take_timer_calls();
        Ok(driver)
    }

    /// Declares `[windows.<name>]` (grace in ms): outputs of `process` to
    /// `name` are aggregated instead of returned.
    pub fn with_window(mut self, name: &str, kind: WindowKind, grace: i64, emit: Emit) -> Self {
        self.windows.insert(
            name.to_string(),
            WindowStore {
                kind,
                grace,
                emit,
                windows: BTreeMap::new(),
                closed: BTreeMap::new(),
                stream_time: None,
                counted: false,
            },
        );
        self
    }

    /// Marks the windowed store `name` (declared with [`Self::with_window`])
    /// as the manifest's `aggregate = "count"`: records are counted by the
    /// driver, as the host counts them, instead of folded by the
    /// processor's `aggregate` and `merge`.
    pub fn counted(mut self, name: &str) -> Self {
        if let Some(store) = self.windows.get_mut(name) {
            store.counted = true;
        }
        self
    }

    /// Declares a manifest `[[timers]]` entry (interval in ms).
    pub fn with_timer(mut self, name: &str, clock: Clock, interval: i64, aligned: bool) -> Self {
        self.timers
            .insert(name.to_string(), (clock, Schedule::new(interval, aligned)));
        self
    }

    /// The processor's stream time, which its stream-time timers follow:
    /// the largest timestamp of the records it processed without an error.
    pub fn stream_time(&self) -> Option<i64> {
        self.stream_time
    }

    /// A windowed store's own stream time: the largest timestamp of the
    /// keyed records routed to it (records rejected, filtered out or
    /// without a key never move it).
    pub fn window_stream_time(&self, store: &str) -> Option<i64> {
        self.windows.get(store).and_then(|w| w.stream_time)
    }

    /// Records dropped because every window they fell in had closed.
    pub fn late_records(&self) -> u64 {
        self.late
    }

    /// Declares a `[fields]` entry (`name = "path"`): from now on records
    /// reach the processor with their fields read as the host reads them,
    /// and without their value unless [`TestDriver::with_input_value`].
    ///
    /// # Panics
    /// When `path` is not a path the manifest would accept.
    pub fn with_field(self, name: &str, path: &str) -> Self {
        self.declare(name, path, false)
    }

    /// Declares a `[fields]` entry passed as raw JSON
    /// (`name = { path = "...", as = "raw" }`).
    ///
    /// # Panics
    /// When `path` is not a path the manifest would accept.
    pub fn with_raw_field(self, name: &str, path: &str) -> Self {
        self.declare(name, path, true)
    }

    /// `input-value = "bytes"`: records keep their value next to their fields.
    pub fn with_input_value(mut self) -> Self {
        self.input_value = true;
        self
    }

    fn declare(mut self, name: &str, path: &str, raw: bool) -> Self {
        let parsed = crate::fields::FieldPath::parse(path).unwrap_or_else(|e| panic!("field `{name}`: {e}"));
        self.fields.push((name.to_string(), parsed, raw));
        self
    }

    /// The record as the processor receives it: with its declared fields
    /// and, unless the value is passed too, without its value.
    fn with_fields(&self, mut record: Record) -> Record {
        if self.fields.is_empty() {
            return record;
        }
        let names: std::rc::Rc<[String]> = self.fields.iter().map(|(n, _, _)| n.clone()).collect();
        let declared: Vec<_> = self.fields.iter().map(|(_, p, raw)| (p.clone(), *raw)).collect();
        let values = match &record.value {
            None => Err("the value is null".to_string()),
            Some(value) => crate::fields::extract(value, &declared),
        };
        record.fields = crate::fields::Fields::new(names, values);
        if !self.input_value && record.value.is_some() {
            record.value = None;
            record.fields.value_omitted = true;
        }
        record
    }

    /// Processes one record: its outputs, then the window results and
    /// stream-time timer firings it causes, in that order.
    pub fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        if let Some((j, side)) = self.join_of(&record) {
            return self.join_record(j, side, record);
        }
        self.next_offset = record.offset + 1;
        let timestamp = record.timestamp;
        let mut outputs = self.processor.process(self.with_fields(record.clone()))?;
        // The host sends a forwarded value from the bytes it holds.
        for output in &mut outputs {
            if output.forwarded && output.value.is_none() {
                output.value = record.value.clone();
            }
        }
        self.take_timer_calls();
        self.stream_time = Some(self.stream_time.map_or(timestamp, |t| t.max(timestamp)));
        let mut out = Vec::new();
        for output in outputs {
            if self.windows.contains_key(&output.output) {
                let routed = Record {
                    key: output.key,
                    value: output.value,
                    headers: output.headers,
                    timestamp: output.timestamp.unwrap_or(timestamp),
                    ..record.clone()
                };
                out.extend(self.window_update(&output.output, routed)?);
            } else {
                out.push(output);
            }
        }
        out.extend(self.close_windows()?);
        out.extend(self.fire(Clock::StreamTime)?);
        Ok(out)
    }

    /// Processes a record with this value, no key, and the next offset of
    /// partition 0 of topic `input`.
    pub fn process_value(&mut self, value: &[u8]) -> Result<Vec<Output>, Error> {
        self.process_keyed(None, value)
    }

    /// Processes a record with this key and value.
    pub fn process_keyed(&mut self, key: Option<&[u8]>, value: &[u8]) -> Result<Vec<Output>, Error> {
        let timestamp = self.stream_time.unwrap_or(0);
        self.process_record(key, value, timestamp)
    }

    /// Processes a record with this key, value and timestamp (epoch ms).
    pub fn process_at(&mut self, key: &[u8], value: &[u8], timestamp: i64) -> Result<Vec<Output>, Error> {
        self.process_record(Some(key), value, timestamp)
    }

    fn process_record(&mut self, key: Option<&[u8]>, value: &[u8], timestamp: i64) -> Result<Vec<Output>, Error> {
        let record = Record {
            topic: "input".to_string(),
            offset: self.next_offset,
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: Some(value.to_vec()),
            ..Record::default()
        };
        self.process(record)
    }

    /// Moves stream time to `time` without a record (what the manifest's
    /// `idle-advance` does on a quiet stream): the processor's and every
    /// windowed store's, closing windows and firing stream-time timers.
    pub fn advance_stream_time(&mut self, time: i64) -> Result<Vec<Output>, Error> {
        self.stream_time = Some(self.stream_time.map_or(time, |t| t.max(time)));
        for store in self.windows.values_mut() {
            store.stream_time = Some(store.stream_time.map_or(time, |t| t.max(time)));
        }
        let mut out = self.close_windows()?;
        out.extend(self.advance_joins(time)?);
        out.extend(self.fire(Clock::StreamTime)?);
        Ok(out)
    }

    /// Sets the wall clock to `now` (epoch ms) and fires the wall-clock
    /// timers due.
    pub fn advance_wall_clock(&mut self, now: i64) -> Result<Vec<Output>, Error> {
        self.wall = now;
        self.fire(Clock::WallClock)
    }

    /// Sets (or with `None` deletes) `key` in the table read from `topic`,
    /// as if a record had arrived on that table input.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn set_table(&mut self, topic: &str, key: &[u8], value: Option<&[u8]>) {
        crate::stub::set_table(topic, key, value)
    }

    fn take_timer_calls(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        for call in crate::stub::take_timer_calls() {
            match call {
                crate::stub::TimerCall::Schedule {
                    name,
                    clock,
                    interval,
                    aligned,
                } => {
                    self.timers.insert(name, (clock, Schedule::new(interval, aligned)));
                }
                crate::stub::TimerCall::Cancel(name) => {
                    self.timers.remove(&name);
                }
            }
        }
    }

    fn fire(&mut self, clock: Clock) -> Result<Vec<Output>, Error> {
        let now = match clock {
            Clock::StreamTime => match self.stream_time {
                Some(t) => t,
                None => return Ok(Vec::new()),
            },
            Clock::WallClock => self.wall,
        };
        let due: Vec<(String, i64)> = self
            .timers
            .iter_mut()
            .filter(|(_, (c, _))| *c == clock)
            .filter_map(|(name, (_, schedule))| Some((name.clone(), schedule.due(now)?)))
            .collect();
        let mut out = Vec::new();
        for (name, time) in due {
            let outputs = self.processor.on_timer(Tick { name, clock, time })?;
            out.extend(outputs.into_iter().map(|mut o| {
                o.timestamp.get_or_insert(time);
                o
            }));
            self.take_timer_calls();
        }
        Ok(out)
    }

    fn window_update(&mut self, store: &str, record: Record) -> Result<Vec<Output>, Error> {
        let Some(key) = record.key.clone() else {
            return Err(Error::new(
                "a record without a key cannot be windowed (the host dead-letters it, or drops it \
                 with keyless = \"drop\"; either way it moves no window's time)",
            ));
        };
        // The store's own time, raised by this record before it is judged.
        let spec = self.windows.get_mut(store).expect("declared");
        let stream_time = spec.stream_time.map_or(record.timestamp, |t| t.max(record.timestamp));
        spec.stream_time = Some(stream_time);
        let spec = &self.windows[store];
        let (kind, grace, emit) = (spec.kind, spec.grace, spec.emit);
        let ts = record.timestamp;
        let mut results = Vec::new();
        if let WindowKind::Sliding { time_difference } = kind {
            results = self.slide(store, &key, &record, time_difference)?;
        } else if let WindowKind::Session { .. } = kind {
            let found: Vec<(Bounds, (Vec<u8>, i64))> = spec
                .windows
                .iter()
                .filter(|((k, w), _)| *k == key && kind.session_takes(*w, ts))
                .map(|((_, w), v)| (*w, v.clone()))
                .collect();
            let mut merged = Bounds { start: ts, end: ts };
            for (w, _) in &found {
                merged = Bounds {
                    start: merged.start.min(w.start),
                    end: merged.end.max(w.end),
                };
            }
            if stream_time >= kind.closes_at(merged, grace) {
                self.late += 1;
                return Ok(Vec::new());
            }
            let window = self.window(store, &key, merged);
            let mut aggregate = None;
            let mut latest = ts;
            for (w, (value, at)) in &found {
                latest = latest.max(*at);
                aggregate = Some(match aggregate {
                    None => value.clone(),
                    Some(older) => self.merge(store, &window, older, value.clone())?,
                });
                self.windows
                    .get_mut(store)
                    .expect("declared")
                    .windows
                    .remove(&(key.clone(), *w));
                if emit == Emit::Update && *w != merged {
                    results.push(WindowResult {
                        window: self.window(store, &key, *w),
                        value: None,
                        timestamp: w.end,
                    });
                }
            }
            let value = self.fold(store, &window, aggregate, &record)?;
            self.windows
                .get_mut(store)
                .expect("declared")
                .windows
                .insert((key.clone(), merged), (value.clone(), latest));
            if emit == Emit::Update {
                results.push(WindowResult {
                    window,
                    value: Some(value),
                    timestamp: merged.end,
                });
            }
        } else {
            let mut any = false;
            for bounds in kind.windows_for(ts) {
                if stream_time >= kind.closes_at(bounds, grace) {
                    continue;
                }
                any = true;
                let window = self.window(store, &key, bounds);
                let old = self.windows[store].windows.get(&(key.clone(), bounds)).cloned();
                let latest = old.as_ref().map_or(ts, |(_, at)| (*at).max(ts));
                let value = self.fold(store, &window, old.map(|(v, _)| v), &record)?;
                self.windows
                    .get_mut(store)
                    .expect("declared")
                    .windows
                    .insert((key.clone(), bounds), (value.clone(), latest));
                if emit == Emit::Update {
                    results.push(WindowResult {
                        window,
                        value: Some(value),
                        timestamp: latest,
                    });
                }
            }
            if !any {
                self.late += 1;
            }
        }
        self.emit_all(results)
    }

    /// One record folded into a window's aggregate: counted for a
    /// [`Self::counted`] store, else the processor's `aggregate`.
    fn fold(
        &mut self,
        store: &str,
        window: &Window,
        aggregate: Option<Vec<u8>>,
        record: &Record,
    ) -> Result<Vec<u8>, Error> {
        if self.windows[store].counted {
            crate::windows::count_one(aggregate)
        } else {
            self.processor.aggregate(window, aggregate, record)
        }
    }

    /// Two sessions' aggregates merged: added up for a [`Self::counted`]
    /// store, else the processor's `merge`.
    fn merge(&mut self, store: &str, window: &Window, older: Vec<u8>, newer: Vec<u8>) -> Result<Vec<u8>, Error> {
        if self.windows[store].counted {
            crate::windows::add_counts(older, newer)
        } else {
            self.processor.merge(window, older, newer)
        }
    }

    /// Emits (final mode) and forgets windows closed at each store's own
    /// stream time.
    fn close_windows(&mut self) -> Result<Vec<Output>, Error> {
        let mut results = Vec::new();
        for (name, store) in &mut self.windows {
            let Some(now) = store.stream_time else {
                continue;
            };
            let closed: Vec<(Vec<u8>, Bounds)> = store
                .windows
                .keys()
                .filter(|(_, w)| now >= store.kind.closes_at(*w, store.grace))
                .cloned()
                .collect();
            let mut due: Vec<(i64, Vec<u8>, Bounds, Vec<u8>, i64)> = Vec::new();
            for (key, w) in closed {
                let (value, latest) = store.windows.remove(&(key.clone(), w)).expect("listed");
                if store.emit == Emit::Final {
                    due.push((
                        store.kind.closes_at(w, store.grace),
                        key.clone(),
                        w,
                        value.clone(),
                        latest,
                    ));
                }
                if let WindowKind::Sliding { .. } = store.kind {
                    store.closed.insert((key, w), (value, latest));
                }
            }
            let retention = store.kind.min_retention(store.grace);
            store.closed.retain(|(_, w), _| crate::time::sliding::kept(w.start, retention, now));
            due.sort();
            for (_, key, w, value, latest) in due {
                results.push(WindowResult {
                    window: Window {
                        store: name.clone(),
                        key,
                        start: w.start,
                        end: w.end,
                    },
                    value: Some(value),
                    timestamp: latest,
                });
            }
        }
        self.emit_all(results)
    }

    fn emit_all(&mut self, results: Vec<WindowResult>) -> Result<Vec<Output>, Error> {
        let mut out = Vec::new();
        for result in results {
            let timestamp = result.timestamp;
            out.extend(self.processor.emit(result)?.into_iter().map(|mut o| {
                o.timestamp.get_or_insert(timestamp);
                o
            }));
        }
        Ok(out)
    }

    fn window(&self, store: &str, key: &[u8], bounds: Bounds) -> Window {
        Window {
            store: store.to_string(),
            key: key.to_vec(),
            start: bounds.start,
            end: bounds.end,
        }
    }
}
