// The component side of the SDK, and the only file that knows
// componentize-js's conventions for the rill:processor@0.2.0 world: exports
// are top-level functions in camelCase (init, process, aggregate, emit,
// onTimer); a result returned at the top level is the value or a thrown
// string, and inside a list a {tag: 'ok' | 'err', val}; option<T> is the
// value or undefined; s64/u64 are BigInt; list<u8> is a Uint8Array; imported
// functions that return result throw a ComponentError whose payload is the
// error. tools/js/build-plugin.sh bundles an app with this module:
//
//   import app from './app.js'; import { bind } from '<sdk>/abi.js';
//   bind(app); export { init, process, aggregate, emit, onTimer } from '<sdk>/abi.js';

import { log as hostLog } from 'rill:processor/log@0.2.0';
import { get, put, delete as remove, range, lookup } from 'rill:processor/state@0.2.0';
import { schedule, cancel } from 'rill:processor/timers@0.2.0';
import { install } from './host.js';
import * as runtime from './runtime.js';

/** option<T> arrives as undefined; the SDK speaks null (Kafka's null). */
const orNull = (v) => (v === undefined ? null : v);
/** ...and goes back as undefined. */
const orUndefined = (v) => (v === null || v === undefined ? undefined : v);

install({
  get: (store, key) => orNull(get(store, key)),
  put: (store, key, value) => put(store, key, value),
  delete: (store, key) => remove(store, key),
  range: (store, start, end, limit) => range(store, orUndefined(start), orUndefined(end), limit),
  lookup: (table, key) => orNull(lookup(table, key)),
  schedule: (name, clock, every, aligned) => schedule(name, clock, BigInt(every), aligned),
  cancel: (name) => cancel(name),
  log: (level, message) => hostLog(level, message),
});

/** The app's processor definition, bound by the bundle's entry. */
let app = null;

/** Makes the app's default export the processor this component runs. */
export function bind(definition) {
  app = definition;
}

/** An input-record as runtime.js takes it: numbers, not BigInt. */
function record(r) {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: Number(r.offset),
    timestamp: Number(r.timestamp),
    key: orNull(r.key),
    value: orNull(r.value),
    headers: r.headers.map((h) => ({ key: h.key, value: orNull(h.value) })),
  };
}

/** An output-record in componentize-js's shape. */
function output(o) {
  return {
    output: o.output,
    key: orUndefined(o.key),
    value: orUndefined(o.value),
    headers: o.headers.map((h) => ({ key: h.key, value: orUndefined(h.value) })),
    timestamp: o.timestamp === null ? undefined : BigInt(o.timestamp),
  };
}

/** A runtime outcome as a list element's result<list<output-record>, string>. */
const result = (r) => ('error' in r ? { tag: 'err', val: r.error } : { tag: 'ok', val: r.outputs.map(output) });

/** init: func(config: string) -> result<_, string>. */
export function init(config) {
  runtime.init(app, config);
}

/** process: func(batch: list<input-record>) -> list<record-result>. */
export function process(batch) {
  return runtime.process(app, batch.map(record)).map(result);
}

/** aggregate: func(batch: list<aggregation>) -> list<result<list<list<u8>>, string>>. */
export function aggregate(batch) {
  return batch.map((a) => {
    try {
      const steps = runtime.aggregate(app, {
        store: a.store,
        key: a.key,
        start: Number(a.window.start),
        end: Number(a.window.end),
        current: orNull(a.current),
        merged: a.merged,
        records: a.records.map(record),
        running: a.running,
      });
      return { tag: 'ok', val: steps };
    } catch (error) {
      return { tag: 'err', val: runtime.messageOf(error) };
    }
  });
}

/** emit: func(results: list<window-result>) -> list<result<list<output-record>, string>>. */
export function emit(results) {
  return results.map((w) =>
    result(
      runtime.emit(app, {
        store: w.store,
        key: w.key,
        start: Number(w.window.start),
        end: Number(w.window.end),
        value: orNull(w.value),
        timestamp: Number(w.timestamp),
      }),
    ),
  );
}

/** on-timer: func(tick: tick) -> result<list<output-record>, string>. */
export function onTimer(tick) {
  const r = runtime.onTimer(app, { name: tick.name, clock: tick.clock, time: Number(tick.time) });
  if ('error' in r) throw r.error;
  return r.outputs.map(output);
}
