// rill-sdk/testing: runs a processor natively under node --test, with no
// component and no broker (the Rust SDK's testing::TestDriver). The Driver
// goes through the same code as the component's exports (runtime.js) with
// an in-memory host: stores and tables are sorted maps, timers fire when
// the test advances stream time or the wall clock, outputs and dead letters
// are collected for assertions. With [fields] (from the manifest or the
// `fields` option), each record's fields are read out of its JSON value as
// the host reads them (fields.js), its value is passed only with
// input-value = "bytes", and an output forwarding the input's value gets
// the input's bytes.

import { install } from './host.js';
import * as runtime from './runtime.js';
import { INPUT, OMITTED, Record, TOPIC_SEPARATOR } from './index.js';
import { toBytes, utf8Text } from './codecs.js';
import * as fields from './fields.js';

/** Keys of the in-memory maps: hex sorts as the bytes do (RocksDB's order). */
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
/** A key back from its hex. */
const unhex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

/** One emitted record as a test sees it: bytes plus text()/json()/keyText(). */
export class Output {
  constructor({ output, key, value, headers, timestamp }) {
    Object.assign(this, { output, key, value, headers, timestamp });
  }

  /** The value as UTF-8 text (null for a null value). */
  text() {
    return this.value === null ? null : utf8Text(this.value);
  }

  /** The value parsed as JSON. */
  json() {
    return JSON.parse(this.text());
  }

  /** The key as UTF-8 text (null for a null key). */
  keyText() {
    return this.key === null ? null : utf8Text(this.key);
  }

  /** The declared output's name, without a per-record topic. */
  get outputName() {
    return splitOutput(this.output)[0];
  }

  /** The topic chosen for this record (emit's `topic`), or null. */
  get topic() {
    return splitOutput(this.output)[1];
  }
}

/** [name, topic or null] of an output text. */
function splitOutput(output) {
  const at = output.indexOf(TOPIC_SEPARATOR);
  return at < 0 ? [output, null] : [output.slice(0, at), output.slice(at + 1)];
}

/** Why `output` may not go where it says among `declared` (names, or an
 * object of name to topic or { topicPattern }), as the host decides; null
 * when it may. */
function refusal(output, declared) {
  const [name, topic] = splitOutput(output);
  const table = Array.isArray(declared) ? Object.fromEntries(declared.map((n) => [n, n])) : declared;
  if (!Object.hasOwn(table, name)) return `emitted to undeclared output '${name}'`;
  const pattern = table[name]?.topicPattern;
  if (pattern === undefined) return topic === null ? null : `output '${name}' has a fixed topic; it takes no topic per record ('${topic}')`;
  if (topic === null) return `output '${name}' chooses its topic per record: emit with { topic }`;
  return new RegExp(`^(?:${pattern})$`).test(topic) ? null : `topic '${topic}' of output '${name}' does not match its topic-pattern "${pattern}"`;
}

/** In-memory state: one sorted map per store, keyed by the key's hex (hex
 * order is byte order, as RocksDB's). */
class Memory {
  constructor(stores) {
    this.stores = stores;
    this.data = new Map();
  }

  /** The map of store `name`; an undeclared one fails as the host's does. */
  map(name) {
    if (this.stores !== undefined && !this.stores.includes(name)) throw { tag: 'undeclared', val: name };
    if (!this.data.has(name)) this.data.set(name, new Map());
    return this.data.get(name);
  }
}

/** Runs one processor definition (an app's default export) natively. */
export class Driver {
  /** options: config (the [config] table as an object, passed through
   * JSON as the host does), outputs (names the manifest declares, or an
   * object of name to topic or { topicPattern }: emitting another, or a
   * topic the pattern refuses, dead-letters the record, as the host does;
   * defaults to the processor's own `outputs` option), stores (declared store names,
   * default: any), timers (the manifest's [[timers]] as [{name, every,
   * clock, aligned}], scheduled before init as the host does), manifest
   * (plugin.toml, a path or file: URL, e.g. new URL('plugin.toml',
   * import.meta.url): its [fields] and input-value are read), fields (the
   * [fields] table as an object, overriding the manifest's), inputValue
   * ('bytes' to pass values next to fields). Throws init's message when
   * init refuses. */
  constructor(app, { config = {}, outputs = app?.options?.outputs, stores = undefined, timers = [], manifest = undefined, fields: declared = undefined, inputValue = undefined } = {}) {
    const fromManifest = manifest === undefined ? {} : fields.fromManifest(manifest);
    const table = declared ?? fromManifest.fields;
    this.fields = table === undefined ? null : fields.declare(table);
    this.inputValue = inputValue ?? fromManifest.inputValue;
    this.app = app;
    this.declaredOutputs = outputs;
    this.memory = new Memory(stores);
    this.tables = new Map();
    this.timers = new Map();
    this.records = [];
    this.dead = [];
    this.streamTime = null;
    this.wallClock = null;
    this.nextOffset = 0;
    for (const { name, every, clock = 'stream-time', aligned = false } of timers) {
      this.timers.set(name, { clock, every, aligned, next: null });
    }
    this.host();
    runtime.init(app, JSON.stringify(config));
  }

  /** Installs this Driver's in-memory host (done before every call, so
   * several Drivers can live in one test). */
  host() {
    const driver = this;
    install({
      get: (store, key) => driver.memory.map(store).get(hex(key)) ?? null,
      put: (store, key, value) => void driver.memory.map(store).set(hex(key), value),
      delete: (store, key) => void driver.memory.map(store).delete(hex(key)),
      range(store, start, end, limit) {
        const from = start === null ? null : hex(start);
        const to = end === null ? null : hex(end);
        return [...driver.memory.map(store)]
          .filter(([k]) => (from === null || k >= from) && (to === null || k < to))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .slice(0, limit)
          .map(([k, value]) => ({ key: unhex(k), value }));
      },
      lookup(topic, key) {
        if (!driver.tables.has(topic)) throw { tag: 'undeclared', val: topic };
        return driver.tables.get(topic).get(hex(key)) ?? null;
      },
      schedule(name, clock, every, aligned) {
        driver.timers.set(name, { clock, every, aligned, next: null });
      },
      cancel: (name) => void driver.timers.delete(name),
      log() {},
    });
  }

  /** Processes one record of `topic` (key/value as for ctx.emit: strings are
   * UTF-8). Returns {outputs} or {error}; either is also collected. */
  send(topic, { key = null, value = null, headers = [], timestamp = 0, partition = 0, offset = this.nextOffset } = {}) {
    this.nextOffset = offset + 1;
    const record = new Record({
      topic,
      partition,
      offset,
      timestamp,
      key: toBytes(key),
      value: toBytes(value),
      headers: headers.map((h) => ({ key: h.key, value: toBytes(h.value) })),
    });
    this.host();
    const [result] = runtime.process(this.app, [this.asProcessed(record)]);
    if (!('error' in result)) {
      result.outputs = result.outputs.map((o) => (o.value === INPUT ? { ...o, value: record.value } : o));
    }
    const outcome = this.collect(result, timestamp, record);
    if (!('error' in outcome)) this.advance('stream-time', Math.max(this.streamTime ?? timestamp, timestamp));
    return outcome;
  }

  /** `record` as the host passes it: with [fields], its fields, and its
   * value only with input-value = "bytes". */
  asProcessed(record) {
    if (this.fields === null) return record;
    const value = record.value === null || this.inputValue === 'bytes' ? record.value : OMITTED;
    const { topic, partition, offset, timestamp, key, headers } = record;
    return new Record({ topic, partition, offset, timestamp, key, value, headers, fields: fields.read(record.value, this.fields), names: this.fields.names });
  }

  /** Checks outputs against the declared names and records the outcome. */
  collect(result, timestamp, record) {
    if (!('error' in result) && this.declaredOutputs !== undefined) {
      const error = result.outputs.map((o) => refusal(o.output, this.declaredOutputs)).find((e) => e !== null);
      if (error !== undefined) result = { error };
    }
    if ('error' in result) {
      if (record) this.dead.push({ record, error: result.error });
      return result;
    }
    const outputs = result.outputs.map((o) => new Output({ ...o, timestamp: o.timestamp ?? timestamp }));
    this.records.push(...outputs);
    return { outputs };
  }

  /** Outputs so far, all of them or those to one output name (whatever
   * topic each chose). */
  outputs(name = undefined) {
    return name === undefined ? [...this.records] : this.records.filter((o) => o.outputName === name);
  }

  /** Records that failed so far: [{record, error}]. */
  deadLetters() {
    return [...this.dead];
  }

  /** Seeds (or, with value null, deletes) a key of a table input. */
  setTable(topic, key, value) {
    if (!this.tables.has(topic)) this.tables.set(topic, new Map());
    const k = hex(toBytes(key));
    if (value === null) this.tables.get(topic).delete(k);
    else this.tables.get(topic).set(k, toBytes(value));
  }

  /** Reads a store directly, as raw bytes (null when missing). */
  storeBytes(name, key) {
    return this.memory.map(name).get(hex(toBytes(key))) ?? null;
  }

  /** Moves stream time to `time`, firing due stream-time timers. */
  advanceStreamTime(time) {
    return this.advance('stream-time', time);
  }

  /** Moves the wall clock to `now`, firing due wall-clock timers. */
  advanceWallClock(now) {
    return this.advance('wall-clock', now);
  }

  /** Fires the timers of `clock` due by `time` (aligned: multiples of the
   * interval; else first when the clock is first seen, then every
   * interval); returns their outputs. */
  advance(clock, time) {
    if (clock === 'stream-time') this.streamTime = Math.max(this.streamTime ?? time, time);
    else this.wallClock = Math.max(this.wallClock ?? time, time);
    const now = clock === 'stream-time' ? this.streamTime : this.wallClock;
    const fired = [];
    for (const [name, timer] of [...this.timers]) {
      if (timer.clock !== clock) continue;
      if (timer.next === null) timer.next = timer.aligned ? Math.ceil(now / timer.every) * timer.every : now;
      while (timer.next <= now && this.timers.get(name) === timer) {
        const at = timer.next;
        timer.next += timer.every;
        const result = this.fire(name, at, clock);
        if ('error' in result) throw new Error(`timer '${name}' at ${at} failed: ${result.error}`);
        fired.push(...result.outputs);
      }
    }
    return fired;
  }

  /** Fires timer `name` once for `time`: {outputs} or {error}. */
  fire(name, time, clock = 'stream-time') {
    this.host();
    return this.collect(runtime.onTimer(this.app, { name, clock, time }), time, null);
  }

  /** Calls the processor's aggregate for one window of `store` (as the host
   * does when records reach [windows.<store>]); returns the encoded
   * aggregates. current: the encoded aggregate so far, or null. */
  aggregate(store, { key, start, end, current = null, merged = [], records = [], running = false }) {
    this.host();
    const fields = records.map((r) => ({ ...r, key: toBytes(r.key ?? null), value: toBytes(r.value ?? null), headers: r.headers ?? [] }));
    return runtime.aggregate(this.app, { store, key: toBytes(key), start, end, current, merged, records: fields, running });
  }

  /** Calls the processor's emit for one window result; {outputs} or {error}. */
  emit(store, { key, start, end, value, timestamp }) {
    this.host();
    return this.collect(runtime.emit(this.app, { store, key: toBytes(key), start, end, value, timestamp }), timestamp, null);
  }

  /** Calls the processor's join for one stream-stream join result of
   * [joins.<join>] (key and sides as for ctx.emit; null: no record on that
   * side); {outputs} or {error}. */
  join(join, { key, left = null, right = null, timestamp }) {
    this.host();
    const result = { join, key: toBytes(key), left: toBytes(left), right: toBytes(right), timestamp };
    return this.collect(runtime.join(this.app, result), timestamp, null);
  }
}
