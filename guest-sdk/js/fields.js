// [fields] read out of a JSON value natively, as the host reads them
// (host/src/fields): what the testing Driver hands a processor, so field
// access is unit-tested under node --test without a component. A
// declaration is the manifest's `name = "path"` or `name = { path = "...",
// as = "value" | "raw" }`; a path is dotted (system.cpu.total.norm.pct, a
// numeric segment also indexes an array) or, starting with '/', a JSON
// Pointer (RFC 6901).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FieldNames, RawJson } from './index.js';
import { utf8Text } from './codecs.js';

/** The steps of `path` from the value's root. */
function segments(name, path) {
  if (typeof path !== 'string' || path === '') throw new Error(`[fields] ${name}: the path is empty`);
  if (path.startsWith('/')) {
    return path
      .slice(1)
      .split('/')
      .map((token) => {
        if (/~[^01]|~$/.test(token)) throw new Error(`[fields] ${name}: a JSON Pointer escapes '~' as '~0' and '/' as '~1'`);
        return token.replace(/~1/g, '/').replace(/~0/g, '~');
      });
  }
  const parts = path.split('.');
  if (parts.some((p) => p === '')) throw new Error(`[fields] ${name}: the path has an empty segment; for a key with dots write a JSON Pointer`);
  return parts;
}

/** A [fields] table (as an object, in declaration order) ready to read:
 * {names: FieldNames, entries: [{segments, raw}]}. */
export function declare(table) {
  const entries = Object.entries(table).map(([name, spec]) => {
    const { path, as = 'value' } = typeof spec === 'string' ? { path: spec } : spec ?? {};
    if (as !== 'value' && as !== 'raw') throw new Error(`[fields] ${name}: as = "value" or "raw", not ${JSON.stringify(as)}`);
    return { segments: segments(name, path), raw: as === 'raw' };
  });
  return { names: new FieldNames(Object.keys(table)), entries };
}

const SPACE = ' \t\n\r';

function skipSpace(text, i) {
  while (i < text.length && SPACE.includes(text[i])) i++;
  return i;
}

/** Where the string starting at `i` (its quote) ends, past its closing quote. */
function stringEnd(text, i) {
  for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
  return i + 1;
}

/** Where the (valid) JSON value starting at `i` ends. */
function valueEnd(text, i) {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (;;) {
      const d = text[i];
      if (d === '"') {
        i = stringEnd(text, i);
        continue;
      }
      if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') depth--;
      i++;
      if (depth === 0) return i;
    }
  }
  while (i < text.length && !',]}'.includes(text[i]) && !SPACE.includes(text[i])) i++;
  return i;
}

/** The array index a segment names (digits, no leading zero), else -1. */
const indexOf = (segment) => (/^(0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : -1);

/** The [start, end) of the value at `path` inside the value starting at
 * `start`, or null when the path does not exist. A key written twice is its
 * last occurrence, as a parser keeping the last value finds it. */
function find(text, start, path) {
  if (path.length === 0) return [start, valueEnd(text, start)];
  const [segment, ...rest] = path;
  let i = skipSpace(text, start + 1);
  if (text[start] === '{') {
    let found = null;
    if (text[i] === '}') return null;
    for (;;) {
      const keyEnd = stringEnd(text, i);
      const key = JSON.parse(text.slice(i, keyEnd));
      i = skipSpace(text, skipSpace(text, keyEnd) + 1);
      if (key === segment) found = find(text, i, rest);
      i = skipSpace(text, valueEnd(text, i));
      if (text[i] === '}') return found;
      i = skipSpace(text, i + 1);
    }
  }
  if (text[start] === '[') {
    const wanted = indexOf(segment);
    if (text[i] === ']') return null;
    for (let n = 0; ; n++) {
      if (n === wanted) return find(text, i, rest);
      i = skipSpace(text, valueEnd(text, i));
      if (text[i] === ']') return null;
      i = skipSpace(text, i + 1);
    }
  }
  return null;
}

/** A string's inside (between its quotes) escapes exactly what a compact
 * writer escapes. */
function escapesCanonically(inner) {
  if (/[\u2028\u2029]/.test(inner)) return false;
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] !== '\\') continue;
    const e = inner[i + 1];
    if ('"\\bfnrt'.includes(e)) {
      i++;
      continue;
    }
    if (e !== 'u') return false;
    const hex = inner.slice(i + 2, i + 6);
    if (!/^[0-9a-f]{4}$/.test(hex)) return false;
    const code = parseInt(hex, 16);
    if ([0x08, 0x09, 0x0a, 0x0c, 0x0d].includes(code) || !(code < 0x20 || code === 0x2028 || code === 0x2029)) return false;
    i += 5;
  }
  return true;
}

/** `text` (one valid JSON value) is what a compact writer writes for it: no
 * whitespace between tokens, no key twice in an object, no exponent in a
 * number, strings escaping only `"`, `\` and control characters, and
 * U+2028/U+2029 (the rules of raw-json.canonical in wit/processor.wit, as
 * host/src/fields/canonical.rs checks them). */
export function canonical(text) {
  const frames = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (SPACE.includes(c)) return false;
    if (c === '{') frames.push(new Set());
    else if (c === '[') frames.push(null);
    else if (c === '}' || c === ']') frames.pop();
    else if ((c === 'e' || c === 'E') && i > 0 && /[0-9.]/.test(text[i - 1])) return false;
    else if (c === '"') {
      const end = stringEnd(text, i) - 1;
      const inner = text.slice(i + 1, end);
      if (!escapesCanonically(inner)) return false;
      const keys = frames[frames.length - 1];
      if (text[end + 1] === ':' && keys) {
        if (keys.has(inner)) return false;
        keys.add(inner);
      }
      i = end;
    }
  }
  return true;
}

/** A field declared as a value: scalars typed, objects and arrays raw. */
function scalar(text) {
  const c = text[0];
  if (c === '{' || c === '[') return new RawJson(text, canonical(text));
  if (c === 'n') return null;
  if (c === 't') return true;
  if (c === 'f') return false;
  if (c === '"') return JSON.parse(text);
  return Number(text);
}

/** A record's fields for `value` (bytes or null), as the host computes
 * them: {values: [...]} in declaration order (undefined: missing), or
 * {error} when the value is null or not JSON. */
export function read(value, declared) {
  if (value === null) return { error: 'the value is null' };
  let text;
  try {
    text = utf8Text(value);
    JSON.parse(text);
  } catch (error) {
    return { error: `the value is not JSON: ${error.message}` };
  }
  const root = skipSpace(text, 0);
  const values = declared.entries.map(({ segments: path, raw }) => {
    const span = find(text, root, path);
    if (span === null) return undefined;
    const found = text.slice(span[0], span[1]);
    return raw ? new RawJson(found, canonical(found)) : scalar(found);
  });
  return { values };
}

/** A TOML string (basic or literal) at the start of `text`: [value, rest]. */
function tomlString(text, where) {
  const basic = /^"((?:[^"\\]|\\.)*)"/.exec(text);
  if (basic) return [JSON.parse(basic[0]), text.slice(basic[0].length)];
  const literal = /^'([^']*)'/.exec(text);
  if (literal) return [literal[1], text.slice(literal[0].length)];
  throw new Error(`${where}: expected a string`);
}

/** A manifest's `[fields]` table and `input-value`, read from plugin.toml
 * (a path or a file: URL): {fields, inputValue}. Only the forms the
 * manifest documents are read (`name = "path"`, `name = { path = "...",
 * as = "raw" }`); anything else in [fields] is an error saying to pass the
 * Driver's `fields` option instead. */
export function fromManifest(file) {
  const path = file instanceof URL || String(file).startsWith('file:') ? fileURLToPath(file) : file;
  let table = null;
  let fields;
  let inputValue;
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, n) => {
      const line = raw.trim();
      const where = `${path}:${n + 1}`;
      if (line === '' || line.startsWith('#')) return;
      if (line.startsWith('[')) {
        table = line.replace(/#.*$/, '').trim();
        if (table === '[fields]') fields = {};
        return;
      }
      if (table === null && /^"?input-value"?\s*=/.test(line)) {
        inputValue = tomlString(line.replace(/^"?input-value"?\s*=\s*/, ''), where)[0];
        return;
      }
      if (table !== '[fields]') return;
      const key = /^("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)\s*=\s*/.exec(line);
      if (!key) throw new Error(`${where}: cannot read this [fields] line; pass the Driver's fields option instead`);
      const name = key[1].startsWith('"') ? JSON.parse(key[1]) : key[1];
      let rest = line.slice(key[0].length);
      if (!rest.startsWith('{')) {
        fields[name] = tomlString(rest, where)[0];
        return;
      }
      const spec = {};
      rest = rest.slice(1).trim();
      while (!rest.startsWith('}')) {
        const member = /^(path|as)\s*=\s*/.exec(rest);
        if (!member) throw new Error(`${where}: cannot read this [fields] line; pass the Driver's fields option instead`);
        let value;
        [value, rest] = tomlString(rest.slice(member[0].length), where);
        spec[member[1]] = value;
        rest = rest.trim().replace(/^,/, '').trim();
      }
      fields[name] = spec;
    });
  return { fields, inputValue };
}
