// rill-sdk for JavaScript: write a rill stream processor as a plain function.
//
//   import { processor } from 'rill-sdk';
//   export default processor({ outputs: ['long'] }, (record, ctx) => {
//     if (record.text().length > 5) ctx.forward('long');
//   });
//
// The function is called once per record with a Record and a Context; what
// it emits with ctx.emit / ctx.forward goes out, and a thrown error sends
// the record to the dead-letter topic with the error's message (the rest of
// the batch is unaffected). The build (tools/js/build-plugin.sh) bundles the
// app with this package and abi.js, which supplies the component's exports;
// rill-sdk/testing runs the same definition natively under node --test.
// Names follow the Rust SDK (guest-sdk/src): Record, emit/forward, stores
// with get/put/delete/range, tables by topic, timers and windows.

import { codec, toBytes, utf8Text } from './codecs.js';
import { current, stateError } from './host.js';

export * as codecs from './codecs.js';

/** A record's value that the host did not copy into the instance (the
 * manifest declares [fields] without input-value = "bytes"). */
export const OMITTED = Symbol('rill: value omitted');

/** An output's value that is the input record's value, unchanged: the host
 * reuses the bytes it holds (WIT output-value::input). ctx.forward sends it
 * for a record passed with its [fields]; the testing Driver turns it into
 * the input's bytes. */
export const INPUT = Symbol('rill: the input value');

/** Separates an output's name from the topic chosen for one record
 * ('by-host:alerts.web-1'), for an output the manifest declares with
 * topic-pattern (Kafka Streams' TopicNameExtractor). Neither an output
 * name nor a Kafka topic name can hold it. */
export const TOPIC_SEPARATOR = ':';

/** What reading record.value says when [fields] left the value in the host. */
const VALUE_OMITTED =
  'the value was not passed to this processor: its manifest declares [fields], so the host hands over only those; ' +
  'set input-value = "bytes" in plugin.toml to read record.value too';

/** What field access says when the manifest declares no [fields]. */
const NO_FIELDS =
  "this processor's manifest declares no [fields]: add them to plugin.toml (name = \"path.in.the.value\") to read record.field(name)";

/** The exact JSON text of a value as it stands in the input record, as
 * [fields] hand over objects, arrays and fields declared as = "raw".
 * `canonical` is true when `text` is already what a compact writer (serde_json
 * compact, Gson's toString(), JSON.stringify for what it can represent)
 * writes for it, so it can be copied into an output instead of parsed and
 * re-written (see withMember). */
export class RawJson {
  constructor(text, canonical) {
    this.text = text;
    this.canonical = canonical;
  }

  /** The value parsed (JSON.parse). */
  json() {
    return JSON.parse(this.text);
  }

  /** The JSON text. */
  toString() {
    return this.text;
  }
}

/** `obj` (a RawJson object) with `"key": value` (a RawJson) added as its last
 * member, spliced as text; null when that could differ from parsing `obj`,
 * setting the member and writing it compactly: obj or value is not
 * canonical, obj is not an object, key needs escaping, or the text "key"
 * occurs in obj at all (it could be a member already, which a writer
 * replaces in place). The caller then falls back to parsing and writing. */
export function withMember(obj, key, value) {
  if (!obj.canonical || !value.canonical) return null;
  const text = obj.text;
  if (text[0] !== '{') return null;
  const quoted = JSON.stringify(key);
  if (quoted.length !== key.length + 2 || /[\u2028\u2029]/.test(key) || text.includes(quoted)) return null;
  return text.slice(0, -1) + (text === '{}' ? '' : ',') + quoted + ':' + value.text + '}';
}

/** The [fields] names of an instance, read once: their order and a lookup. */
export class FieldNames {
  constructor(names) {
    this.names = names;
    this.declared = new Set(names);
  }
}

/** One record read from an input topic (the Rust SDK's Record): where it
 * came from, its timestamp (epoch ms), key and value (Uint8Array, or null
 * for Kafka's null) and headers ([{key, value}]). With [fields] in the
 * manifest, `fields` holds them by name and field(name) reads one strictly;
 * the value then stays in the host unless the manifest sets input-value =
 * "bytes" (reading it throws, saying so). */
export class Record {
  constructor({ topic = '', partition = 0, offset = 0, timestamp = 0, key = null, value = null, headers = [], fields = undefined, names = undefined } = {}) {
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
    this.key = key;
    this._value = value;
    this.headers = headers;
    // {values: [...]} in the names' order, or {error: message}.
    this._fields = fields;
    this._names = names;
    this._byName = undefined;
  }

  /** The value's bytes (null: Kafka's null). */
  get value() {
    if (this._value === OMITTED) throw new Error(VALUE_OMITTED);
    return this._value;
  }

  set value(value) {
    this._value = value;
  }

  /** The manifest's [fields] by name: numbers, strings, booleans and null
   * as such, objects, arrays and raw fields as RawJson, undefined for a
   * path the value lacks. Throws (dead-lettering the record) when the
   * value is null or not JSON, with the host's message. */
  get fields() {
    if (this._fields === undefined) throw new Error(NO_FIELDS);
    if (this._byName !== undefined) return this._byName;
    const { values, error } = this._fields;
    if (values === undefined) throw new Error(error);
    const byName = {};
    const names = this._names.names;
    for (let i = 0; i < names.length; i++) byName[names[i]] = values[i];
    this._byName = byName;
    return byName;
  }

  /** Field `name` of the manifest's [fields]; when the value lacks its
   * path, `fallback` if given, else an Error ("missing field `name`"). */
  field(name, ...fallback) {
    if (this._fields === undefined) throw new Error(NO_FIELDS);
    if (!this._names.declared.has(name)) {
      throw new Error(`'${name}' is not a field declared in the manifest's [fields] (declared: ${this._names.names.join(', ') || 'none'})`);
    }
    const found = this.fields[name];
    if (found !== undefined) return found;
    if (fallback.length > 0) return fallback[0];
    throw new Error(`missing field \`${name}\``);
  }

  /** The value as UTF-8 text; a null value or invalid UTF-8 throws, which
   * dead-letters the record (most processors need a value). */
  text() {
    if (this.value === null) throw new Error('record has a null value');
    return utf8Text(this.value);
  }

  /** The value parsed as JSON; throws (dead-letters) when it is not. */
  json() {
    return JSON.parse(this.text());
  }

  /** The key as UTF-8 text, or null for a null key. */
  keyText() {
    return this.key === null ? null : utf8Text(this.key);
  }
}

/** A table or global-table input, named by its topic: read-only lookups,
 * keys and values through the codecs the processor declared for it. Stores
 * extend it with writes. */
export class Table {
  constructor(name, { key = 'utf8', value = 'bytes' } = {}) {
    this.name = name;
    this.keyCodec = codec(key);
    this.valueCodec = codec(value);
  }

  /** The current value for `key`, or `fallback` when there is none. */
  get(key, fallback = undefined) {
    const found = call(() => this.fetch(this.keyCodec.encode(key)));
    return found === null || found === undefined ? fallback : this.valueCodec.decode(found);
  }

  /** The host call reading one encoded key: a table lookup. */
  fetch(key) {
    return current().lookup(this.name, key);
  }
}

/** A handle on one declared store (manifest `[stores]`), encoding keys and
 * values with the codecs the processor declared for it. */
export class Store extends Table {
  /** The host call reading one encoded key: a store get. */
  fetch(key) {
    return current().get(this.name, key);
  }

  /** Stores `value` under `key`, replacing what was there. */
  put(key, value) {
    call(() => current().put(this.name, this.keyCodec.encode(key), this.valueCodec.encode(value)));
  }

  /** Removes `key`; removing a missing key is not an error. */
  delete(key) {
    call(() => current().delete(this.name, this.keyCodec.encode(key)));
  }

  /** [key, value] pairs with start <= key < end in key byte order, at most
   * `limit`; an undefined bound leaves that side open. */
  range(start = undefined, end = undefined, limit = 0xffffffff) {
    const enc = (k) => (k === undefined || k === null ? null : this.keyCodec.encode(k));
    const entries = call(() => current().range(this.name, enc(start), enc(end), limit));
    return entries.map(({ key, value }) => [this.keyCodec.decode(key), this.valueCodec.decode(value)]);
  }
}

/** Runs a host state call, turning its failure into an Error worded as the
 * Rust SDK's StateError (so it dead-letters the record with that message). */
function call(f) {
  try {
    return f();
  } catch (error) {
    throw stateError(error?.payload ?? error);
  }
}

/** Writes to the host log, tagged with processor and task. */
export const log = Object.fromEntries(
  ['trace', 'debug', 'info', 'warn', 'error'].map((level) => [level, (message) => current().log(level, String(message))]),
);

/** Schedules timer `name` every `every` ms of `clock` ('stream-time', the
 * default, or 'wall-clock'), replacing a timer of that name; `aligned` fires
 * at multiples of the interval since the epoch. */
export function schedule(name, { every, clock = 'stream-time', aligned = false }) {
  if (!(every > 0)) throw new Error(`timer '${name}' needs every > 0 (milliseconds)`);
  if (clock !== 'stream-time' && clock !== 'wall-clock') throw new Error(`timer '${name}': clock is 'stream-time' or 'wall-clock', not '${clock}'`);
  current().schedule(name, clock, every, aligned);
}

/** Stops timer `name`; stopping a missing timer is not an error. */
export function cancel(name) {
  current().cancel(name);
}

/** Marks what processor() returns, so the ABI and the Driver can tell a
 * definition from any other default export. */
const DEFINITION = Symbol('rill processor');

/** Declares a processor: `process(record, ctx)` is called per record.
 * Options (all optional):
 *   outputs: names of the manifest's [outputs], checked by the Driver;
 *   stores: {name: codec | {key, value}} codecs of declared stores;
 *   tables: {topic: codec | {key, value}} codecs of table inputs;
 *   init(config, ctx): the parsed [config] table; throwing refuses the plugin;
 *   onTimer(tick, ctx) or {timerName(tick, ctx)}: timer firings;
 *   windows: {store: codec} codecs of window aggregates (default json);
 *   aggregate(window, current, record): the new aggregate (current is
 *     undefined for a new window); merge(window, older, newer) for sessions;
 *   emit(result, ctx): turns a window result into outputs;
 *   join(result, ctx): turns a stream-stream join result ({join, key, left,
 *     right, timestamp}, a missing side null) into outputs. */
export function processor(options, process) {
  if (typeof options === 'function') [options, process] = [{}, options];
  if (typeof process !== 'function') throw new TypeError('processor(options, process): process must be a function (record, ctx) => ...');
  return Object.freeze({ [DEFINITION]: true, options: options ?? {}, process });
}

/** The definition behind an app's default export, checked (used by the ABI
 * and the Driver). */
export function definitionOf(app) {
  if (!app || app[DEFINITION] !== true) {
    throw new TypeError("the app's default export must be processor({...}, (record, ctx) => ...) from rill-sdk");
  }
  return app;
}

/** What a processor's code is handed on every call: emitting outputs and
 * reaching state, tables, timers and the log. */
export class Context {
  constructor(definition, record = null, { canEmit = true } = {}) {
    this.definition = definition;
    this.record = record;
    this.outputs = [];
    this.canEmit = canEmit;
    this.log = log;
  }

  /** Emits a record to the manifest output `output`. key and value: a
   * string (UTF-8), bytes, null, or anything else as JSON. headers:
   * [{key, value}]. timestamp: epoch ms; omitted keeps the input's. topic:
   * the topic chosen for this record, for an output declared with
   * topic-pattern (it must fully match the pattern, else the input record
   * is dead-lettered). */
  emit(output, { key = null, value = null, headers = [], timestamp = undefined, topic = undefined } = {}) {
    if (!this.canEmit) throw new Error('emit is not possible here (init emits nothing)');
    if (typeof output !== 'string') throw new TypeError('emit(output, {...}): output is the name of a manifest output');
    this.outputs.push({
      output: topic === undefined || topic === null ? output : `${output}${TOPIC_SEPARATOR}${topic}`,
      key: toBytes(key),
      value: value === INPUT ? INPUT : toBytes(value),
      headers: headers.map((h) => ({ key: String(h.key), value: toBytes(h.value) })),
      timestamp: timestamp === undefined || timestamp === null ? null : Number(timestamp),
    });
  }

  /** Sends `record` (the one being processed by default) on to `output`
   * unchanged: same key, value, headers and timestamp (Kafka Streams' to).
   * For a record passed with its [fields], the host forwards the value it
   * holds (INPUT), copied in or not. `{ topic }` (after the record, or in
   * its place) chooses the topic as for emit. */
  forward(output, record = this.record, { topic = undefined } = {}) {
    if (record !== null && !(record instanceof Record)) return this.forward(output, this.record, record);
    if (record === null) throw new Error('forward needs a record');
    const value = record === this.record && record._fields !== undefined && record._value !== null ? INPUT : record.value;
    this.emit(output, { key: record.key, value, headers: record.headers, timestamp: record.timestamp, topic });
  }

  /** The store declared in the manifest under `name`, with the codecs the
   * processor declared for it (bytes values, UTF-8 keys by default). */
  store(name) {
    return new Store(name, codecsOf(this.definition.options.stores?.[name]));
  }

  /** The table or global-table input read from `topic`. */
  table(topic) {
    return new Table(topic, codecsOf(this.definition.options.tables?.[topic]));
  }

  /** See schedule() above. */
  schedule(name, options) {
    schedule(name, options);
  }

  /** See cancel() above. */
  cancel(name) {
    cancel(name);
  }
}

/** A store's or table's declaration as {key, value} codecs: a bare codec
 * names the value's (keys stay UTF-8). */
function codecsOf(spec) {
  if (spec === undefined) return {};
  if (typeof spec === 'object' && !('encode' in spec)) return spec;
  return { value: spec };
}
