//! The [`TestDriver`]'s sliding windows: [`crate::time::sliding::steps`]
//! applied to the driver's in-memory store, as the host applies them to
//! RocksDB.

use super::TestDriver;
use crate::time::sliding::{self, Known, Step};
use crate::time::{Bounds, Emit};
use crate::{Error, Processor, Record, WindowResult};
use std::collections::BTreeMap;

impl<P: Processor> TestDriver<P> {
    /// Folds `record` (its key `key`) into the sliding windows of `store`,
    /// whose stream time it has already raised. Returns the updates (in
    /// update mode), or nothing when the record is late (counted).
    pub(super) fn slide(
        &mut self,
        store: &str,
        key: &[u8],
        record: &Record,
        time_difference: i64,
    ) -> Result<Vec<WindowResult>, Error> {
        let spec = &self.windows[store];
        let (grace, emit) = (spec.grace, spec.emit);
        let now = spec.stream_time.expect("raised by the record");
        let retention = spec.kind.min_retention(grace);
        let ts = record.timestamp;
        let (from, to) = sliding::lookup(time_difference, ts);
        // Every window of the key in the lookup range, open or closed but
        // kept, as it is before this record.
        let mut before: BTreeMap<i64, (Vec<u8>, i64)> = BTreeMap::new();
        for ((k, w), value) in spec.windows.iter().chain(spec.closed.iter()) {
            if k == key && (from..=to).contains(&w.start) && sliding::kept(w.start, retention, now) {
                before.insert(w.start, value.clone());
            }
        }
        let known: Vec<Known> = before
            .iter()
            .map(|(&start, (_, latest))| Known { start, latest: *latest })
            .collect();
        let Some(steps) = sliding::steps(time_difference, grace, now, ts, &known) else {
            self.late += 1;
            return Ok(Vec::new());
        };
        let mut results = Vec::new();
        for step in steps {
            let (start, seed, fold) = match step {
                Step::Update { start } => (start, before.get(&start).cloned(), true),
                Step::Create { start, from } => (start, from.and_then(|f| before.get(&f).cloned()), true),
                Step::Copy { start, from } => (start, before.get(&from).cloned(), false),
            };
            let bounds: Bounds = sliding::window(time_difference, start);
            let window = self.window(store, key, bounds);
            let (value, latest) = if fold {
                let latest = match step {
                    Step::Update { .. } => seed.as_ref().map_or(ts, |(_, at)| (*at).max(ts)),
                    _ => ts,
                };
                (self.fold(store, &window, seed.map(|(v, _)| v), record)?, latest)
            } else {
                seed.expect("a copied window exists")
            };
            self.windows
                .get_mut(store)
                .expect("declared")
                .windows
                .insert((key.to_vec(), bounds), (value.clone(), latest));
            if emit == Emit::Update {
                results.push(WindowResult {
                    window,
                    value: Some(value),
                    timestamp: latest,
                });
            }
        }
        Ok(results)
    }
}
