// What the component's exports do, in plain JavaScript values (numbers,
// Uint8Array or null, {outputs} or {error}): shared by abi.js, which only
// converts to and from componentize-js's shapes, and by the Driver, so a
// processor behaves the same under node --test as in the host.

import { Context, Record, definitionOf } from './index.js';
import { codec } from './codecs.js';

/** The message a thrown value dead-letters its record with. */
export function messageOf(error) {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : String(error);
}

/** Runs `f(ctx)` with a fresh Context: {outputs} or {error: message}. */
function attempt(definition, record, f) {
  const ctx = new Context(definition, record);
  try {
    f(ctx);
    return { outputs: ctx.outputs };
  } catch (error) {
    return { error: messageOf(error) };
  }
}

/** `init`: parses the [config] JSON and calls options.init; throws the
 * message that refuses the plugin. */
export function init(app, configJson) {
  let definition;
  try {
    definition = definitionOf(app);
  } catch (error) {
    throw messageOf(error);
  }
  let config;
  try {
    config = JSON.parse(configJson);
  } catch (error) {
    throw `invalid [config] table: ${messageOf(error)}`;
  }
  try {
    definition.options.init?.(config, new Context(definition, null, { canEmit: false }));
  } catch (error) {
    throw messageOf(error);
  }
}

/** `process` (and `process-fields`, whose records carry their fields): one
 * {outputs} or {error} per record, in order; a record's error leaves the
 * rest of the batch unaffected. */
export function process(app, records) {
  const definition = definitionOf(app);
  return records.map((given) => {
    const record = given instanceof Record ? given : new Record(given);
    return attempt(definition, record, (ctx) => definition.process(record, ctx));
  });
}

/** The window an aggregate or result belongs to, as processors see it
 * (the Rust SDK's Window, plus keyText() for text keys). */
function windowOf(store, key, start, end) {
  return { store, key, start, end, keyText: () => new TextDecoder('utf-8', { fatal: true }).decode(key) };
}

/** `aggregate`: one aggregation folded as the export defines it (merged
 * sessions into current, then each record), returning the aggregates
 * (every step when running, else the last), encoded. */
export function aggregate(app, { store, key, start, end, current, merged, records, running }) {
  const { options } = definitionOf(app);
  const window = windowOf(store, key, start, end);
  const valueCodec = codec(options.windows?.[store] ?? 'json');
  if (typeof options.aggregate !== 'function') throw `aggregate is not implemented, but records reached window store '${store}'`;
  try {
    let value = current === null ? undefined : valueCodec.decode(current);
    for (const older of merged) {
      const newer = valueCodec.decode(older);
      if (value === undefined) {
        value = newer;
        continue;
      }
      if (typeof options.merge !== 'function') throw `merge is not implemented, but sessions of window store '${store}' merged`;
      value = options.merge(window, value, newer);
    }
    const steps = [];
    for (const fields of records) {
      value = options.aggregate(window, value, new Record(fields));
      if (running) steps.push(valueCodec.encode(value));
    }
    if (!running && value !== undefined) steps.push(valueCodec.encode(value));
    return steps;
  } catch (error) {
    throw messageOf(error);
  }
}

/** `emit`: a window result turned into {outputs} or {error}. */
export function emit(app, { store, key, start, end, value, timestamp }) {
  const definition = definitionOf(app);
  const { options } = definition;
  return attempt(definition, null, (ctx) => {
    if (typeof options.emit !== 'function') throw new Error(`emit is not implemented, but window store '${store}' has a result`);
    const decoded = value === null ? null : codec(options.windows?.[store] ?? 'json').decode(value);
    options.emit({ window: windowOf(store, key, start, end), value: decoded, timestamp }, ctx);
  });
}

/** `join`: a stream-stream join result turned into {outputs} or {error};
 * the handler gets {join, key, left, right, timestamp} (bytes or null, a
 * missing side null) with leftText()/rightText() (null for a missing side). */
export function join(app, { join, key, left, right, timestamp }) {
  const definition = definitionOf(app);
  const { options } = definition;
  return attempt(definition, null, (ctx) => {
    if (typeof options.join !== 'function') throw new Error(`join is not implemented, but join '${join}' has a result`);
    const text = (bytes) => (bytes === null ? null : new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    options.join({ join, key, left, right, timestamp, leftText: () => text(left), rightText: () => text(right) }, ctx);
  });
}

/** `on-timer`: the firing's {outputs} or {error}. */
export function onTimer(app, tick) {
  const definition = definitionOf(app);
  const handler = definition.options.onTimer;
  return attempt(definition, null, (ctx) => {
    const f = typeof handler === 'function' ? handler : handler?.[tick.name];
    if (typeof f !== 'function') throw new Error(`on_timer is not implemented, but timer '${tick.name}' fired`);
    f(tick, ctx);
  });
}
