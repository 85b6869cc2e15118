// cpu-alert in JavaScript on rill-sdk: the same processor as plugins/cpu-alert,
// record for record and byte for byte.
//
// A cpu record whose system.cpu.total.norm.pct is greater than the
// configured threshold becomes an alert: its `host` object plus "timestamp"
// copied from "@timestamp", written exactly as Gson's JsonObject.toString()
// writes it (key order kept, numbers in their source text, compact). A record
// that is not JSON or lacks those fields is an error for that record.

import { processor } from 'rill-sdk';

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

function dump(v) {
  if (v instanceof Map) return '{' + [...v].map(([k, x]) => quote(k) + ':' + dump(x)).join(',') + '}';
  if (Array.isArray(v)) return '[' + v.map(dump).join(',') + ']';
  if (v !== null && typeof v === 'object') return v.number;
  if (typeof v === 'string') return quote(v);
  return String(v);
}

// The fast path: the engine's own JSON.parse (native code, where parse()
// above runs in the interpreter one character at a time: ~5x the time per
// record), on the text with every number turned into a string of its
// source text marked by a leading U+0001, so each number keeps its text.
// One native replace does it: NEXT_NUMBER matches the text up to the next
// number, strings skipped whole ($1), and the number ($2), which it quotes
// and marks. The regex is sticky, so each match starts where the last one
// ended, from the start of the text: a number inside a string is never
// taken for one. A " 0" appended to the text must come out quoted too, so
// the quoting went through to the end; it stops early (and the record
// takes the exact path) at
// - a string spelling an integer ("12"): as a key, an object would list it
//   first, in numeric order (a \u003X escape could spell a digit, so any
//   is taken as one too),
// - a number followed by ':' (`{1:2}` is not JSON, `{"1":"2"}` would be),
// - anything else that is neither, such as a stray '-'.
// A JSON number is strict (no 01, 1., .5, +1): its pieces stay apart and
// JSON.parse refuses them as it refuses the original. A string of the
// record spelling the mark itself (\u0001) takes the exact path. fastAlert
// answers undefined in all these cases, or when anything is missing or
// malformed; parse() then decides, with its exact error messages.
const NUMBER_TEXT = '-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?';
// One character or one whole string per step: no two ways to match the
// same text, so a failing match backtracks in linear time.
const NEXT_NUMBER = new RegExp(
  `((?:[^"0-9-]|"(?!(?:0|[1-9][0-9]*)")[^"\\\\]*(?:\\\\.[^"\\\\]*)*")*)(${NUMBER_TEXT})(?![0-9]|\\s*:)`,
  'gy',
);
const MARK = '\u0001';
const END = ' 0';
const MARKED_END = ` "\\u00010"`;

const plain = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const marked = (v) => typeof v === 'string' && v.startsWith(MARK);

/** dump() for the fast path's tree, whose numbers are all marked. */
function dumpMarked(v) {
  if (typeof v === 'string') return v.startsWith(MARK) ? v.slice(1) : quote(v);
  if (Array.isArray(v)) return '[' + v.map(dumpMarked).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    let out = '';
    for (const k in v) out += (out ? ',' : '{') + quote(k) + ':' + dumpMarked(v[k]);
    return out ? out + '}' : '{}';
  }
  return String(v);
}

/** The alert for `text` ('' below the threshold), or undefined when only
 * the exact path can say. */
function fastAlert(text) {
  if (text.includes('\\u003') || text.includes('\\u0001')) return undefined;
  const rewritten = (text + END).replace(NEXT_NUMBER, `$1"\\u0001$2"`);
  if (!rewritten.endsWith(MARKED_END)) return undefined;
  let metric;
  try {
    metric = JSON.parse(rewritten.slice(0, -MARKED_END.length));
  } catch {
    return undefined;
  }
  if (!plain(metric) || !plain(metric.system) || !plain(metric.system.cpu)) return undefined;
  const total = metric.system.cpu.total;
  if (!plain(total) || !plain(total.norm) || !marked(total.norm.pct)) return undefined;
  const host = metric.host;
  if (!plain(host) || !Object.hasOwn(metric, '@timestamp')) return undefined;
  if (!(Number(total.norm.pct.slice(1)) > threshold)) return '';
  // As Map.set: a "timestamp" the host already has keeps its place.
  host.timestamp = metric['@timestamp'];
  return dumpMarked(host);
}

const isNumber = (v) => v !== null && typeof v === 'object' && !(v instanceof Map) && !Array.isArray(v);

function field(v, name, check, kind) {
  if (!(v instanceof Map) || !v.has(name)) throw new Error(`missing field \`${name}\``);
  const found = v.get(name);
  if (!check(found)) throw new Error(`field \`${name}\` is not ${kind}`);
  return found;
}
const object = (v) => v instanceof Map;

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
    const text = record.text();
    const alert = fastAlert(text);
    if (alert !== undefined) {
      if (alert) ctx.emit('alert', { key: record.key, value: alert, headers: record.headers, timestamp: record.timestamp });
      return;
    }
    const metric = parse(text);
    const cpu = field(field(metric, 'system', object, 'an object'), 'cpu', object, 'an object');
    const norm = field(field(cpu, 'total', object, 'an object'), 'norm', object, 'an object');
    const pct = Number(field(norm, 'pct', isNumber, 'a number').number);
    const host = field(metric, 'host', object, 'an object');
    field(metric, '@timestamp', () => true, '');
    if (!(pct > threshold)) return;
    host.set('timestamp', metric.get('@timestamp'));
    ctx.emit('alert', { key: record.key, value: dump(host), headers: record.headers, timestamp: record.timestamp });
  },
);
