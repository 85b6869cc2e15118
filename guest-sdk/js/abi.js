// The component side of the SDK, and the only file that knows
// componentize-js's conventions for the rill:processor world: exports are
// top-level functions in camelCase (init, process, processFields, aggregate,
// emit, onTimer, join); a result returned at the top level is the value or a
// thrown string, and inside a list or record a {tag: 'ok' | 'err', val}; a
// variant is {tag, val}; option<T> is the value or undefined; s64/u64 are
// BigInt; list<u8> is a Uint8Array; imported functions that return result
// throw a ComponentError whose payload is the error. The imports come from
// 'rill-world', a module tools/js/build-plugin.sh writes for the world the
// plugin is built against (0.4.0, 0.3.0, 0.2.0 or 0.1.0): an interface the world
// lacks is undefined there, and the exports it lacks are left out of the
// bundle's entry:
//
//   import app from './app.js'; import { bind } from '<sdk>/abi.js';
//   bind(app); export { init, process, processFields, aggregate, emit, onTimer, join } from '<sdk>/abi.js';

import { hostLog, get, put, remove, range, lookup, schedule, cancel, names } from 'rill-world';
import { install } from './host.js';
import { FieldNames, INPUT, OMITTED, RawJson } from './index.js';
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
  schedule(name, clock, every, aligned) {
    if (schedule === undefined) throw new Error('timers need rill:processor@0.2.0 or later');
    schedule(name, clock, BigInt(every), aligned);
  },
  cancel: (name) => cancel?.(name),
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

/** The manifest's [fields] names, asked of the host once (the same for
 * every call of an instance). */
let fieldNames = null;

/** A field variant as processors see it (missing: undefined). */
function fieldValue(f) {
  switch (f.tag) {
    case 'number':
    case 'text':
    case 'boolean':
      return f.val;
    case 'raw':
      return new RawJson(f.val.text, f.val.canonical);
    case 'null':
      return null;
    default:
      return undefined;
  }
}

/** A field-record as runtime.js takes it: an input record whose value may
 * be OMITTED, with its fields. */
function fieldRecord(r) {
  const v = r.value;
  const out = record(r);
  out.value = v.tag === 'bytes' ? v.val : v.tag === 'omitted' ? OMITTED : null;
  out.fields = r.fields.tag === 'ok' ? { values: r.fields.val.map(fieldValue) } : { error: r.fields.val };
  out.names = fieldNames;
  return out;
}

/** An output as a field-output: its value an output-value. */
function fieldOutput(o) {
  const out = output(o);
  out.value = o.value === INPUT ? { tag: 'input' } : o.value === null ? { tag: 'null' } : { tag: 'bytes', val: o.value };
  return out;
}

/** init: func(config: string) -> result<_, string>. */
export function init(config) {
  runtime.init(app, config);
}

/** process: func(batch: list<input-record>) -> list<record-result>. */
export function process(batch) {
  return runtime.process(app, batch.map(record)).map(result);
}

/** process-fields: func(batch: list<field-record>) -> list<field-result>. */
export function processFields(batch) {
  if (fieldNames === null) fieldNames = new FieldNames(names());
  return runtime
    .process(app, batch.map(fieldRecord))
    .map((r) => ('error' in r ? { tag: 'err', val: r.error } : { tag: 'ok', val: r.outputs.map(fieldOutput) }));
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

/** join: func(results: list<join-result>) -> list<result<list<output-record>, string>>. */
export function join(results) {
  return results.map((j) =>
    result(
      runtime.join(app, {
        join: j.join,
        key: orNull(j.key),
        left: orNull(j.left),
        right: orNull(j.right),
        timestamp: Number(j.timestamp),
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
