// cpu-alert in JavaScript on rill-sdk: the same processor as plugins/cpu-alert,
// record for record and byte for byte.
//
// A cpu record whose system.cpu.total.norm.pct is greater than the
// configured threshold becomes an alert: its `host` object plus "timestamp"
// copied from "@timestamp", written exactly as Gson's JsonObject.toString()
// writes it (key order kept, numbers in their source text, compact). The
// manifest's [fields] has the host read those three out of each value, so
// the value itself never enters the instance: the alert is `host` with the
// member spliced in (withMember) when its text is already compact, else
// `host` parsed and written as Gson writes it. A record that is not JSON or
// lacks those fields is an error for that record.

import { processor, withMember } from 'rill-sdk';

// JSON.parse would lose number text and reorder integer-like keys, so this
// parser keeps objects as Maps and numbers as {number: text}.
function parse(text) {
  let at = 0;
  const fail = (what) => { throw new Error(`${what} at position ${at}`); };
  const space = () => { while (at < text.length && ' \t\n\r'.includes(text[at])) at++; };
  const literal = (word, value) => {
    if (text.startsWith(word, at)) { at += word.length; return value; }
    return fail('invalid JSON');
  };
  const string = () => {
    let out = '';
    at++;
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const c = text[at++];
      if (c === '"') return out;
      if (c < ' ') fail('control character in string');
      if (c !== '\\') { out += c; continue; }
      const e = text[at++];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
      if (simple !== undefined) { out += simple; continue; }
      if (e !== 'u' || !/^[0-9a-fA-F]{4}$/.test(text.slice(at, at + 4))) fail('invalid escape');
      out += String.fromCharCode(parseInt(text.slice(at, at + 4), 16));
      at += 4;
    }
  };
  const number = () => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(at));
    if (!match) fail('invalid JSON');
    at += match[0].length;
    return { number: match[0] };
  };
  const value = () => {
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const map = new Map();
      space();
      if (text[at] === '}') { at++; return map; }
      for (;;) {
        space();
        if (text[at] !== '"') fail('expected a key');
        const key = string();
        space();
        if (text[at++] !== ':') fail('expected :');
        map.set(key, value());
        space();
        const next = text[at++];
        if (next === '}') return map;
        if (next !== ',') fail('expected , or }');
      }
    }
    if (c === '[') {
      at++;
      const list = [];
      space();
      if (text[at] === ']') { at++; return list; }
      for (;;) {
        list.push(value());
        space();
        const next = text[at++];
        if (next === ']') return list;
        if (next !== ',') fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    return number();
  };
  const result = value();
  space();
  if (at !== text.length) fail('trailing characters');
  return result;
}

// JSON.stringify escapes what Gson escapes, except U+2028 and U+2029.
const quote = (s) => JSON.stringify(s).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** Compact JSON as Gson's toString() writes it. */
function dump(v) {
  if (v instanceof Map) return '{' + [...v].map(([k, x]) => quote(k) + ':' + dump(x)).join(',') + '}';
  if (Array.isArray(v)) return '[' + v.map(dump).join(',') + ']';
  if (v !== null && typeof v === 'object') return v.number;
  if (typeof v === 'string') return quote(v);
  return String(v);
}

/** `host` (an object's JSON text) with "timestamp" set to `timestamp` (a
 * value's JSON text), in place when it has one already, as Gson writes it:
 * what withMember cannot splice (whitespace, a key twice, exponents, other
 * escapes). */
export function gsonAlert(host, timestamp) {
  const value = parse(host);
  value.set('timestamp', parse(timestamp));
  return dump(value);
}

let threshold = 0.5;

/** The processor: config checked as plugins/cpu-alert's serde Config is,
 * then one alert (or none) per cpu record; a throw dead-letters it. */
export default processor(
  {
    outputs: ['alert'],
    init(config) {
      const fail = (why) => { throw new Error(`invalid [config] table: ${why}`); };
      if (config === null || typeof config !== 'object' || Array.isArray(config)) fail('expected a table');
      if (!('threshold' in config)) fail('missing field `threshold`');
      if (typeof config.threshold !== 'number') fail('field `threshold` is not a number');
      for (const key of Object.keys(config)) {
        if (key !== 'threshold') fail(`unknown field \`${key}\`, expected \`threshold\``);
      }
      threshold = config.threshold;
    },
  },
  (record, ctx) => {
    // Throws the host's message when the value is null or not JSON.
    const { pct, host, timestamp } = record.fields;
    if (pct === undefined) throw new Error('missing field `pct`');
    if (typeof pct !== 'number') throw new Error('field `pct` is not a number');
    if (host === undefined) throw new Error('missing field `host`');
    if (host.text[0] !== '{') throw new Error('field `host` is not an object');
    if (timestamp === undefined) throw new Error('missing field `@timestamp`');
    if (!(pct > threshold)) return;
    const alert = withMember(host, 'timestamp', timestamp) ?? gsonAlert(host.text, timestamp.text);
    ctx.emit('alert', { key: record.key, value: alert, headers: record.headers, timestamp: record.timestamp });
  },
);
