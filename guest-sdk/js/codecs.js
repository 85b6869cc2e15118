// Codecs between JavaScript values and the bytes the host stores. The binary
// ones are the Rust SDK's natural encodings (and the Python SDK's), so a store
// written in one language reads the same in another: `int` is a signed 64-bit
// big-endian integer (i64::to_be_bytes), `float` an IEEE 754 double,
// big-endian (f64::to_be_bytes), `json` compact UTF-8 JSON (as
// rill_sdk::windows keeps aggregates).

/** Shared UTF-8 coders; decoding is strict, so bad UTF-8 is an error. */
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes of a value given to emit or a bytes store: a string is UTF-8, an
 * ArrayBuffer or typed array its bytes, null/undefined Kafka's null, and any
 * other value its JSON text. */
export function toBytes(value) {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return encoder.encode(JSON.stringify(value));
}

/** UTF-8 text of bytes; invalid UTF-8 throws (so the record dead-letters). */
export const utf8Text = (bytes) => decoder.decode(bytes);

/** Raw bytes, unchanged (a string is stored as its UTF-8). */
export const bytes = {
  name: 'bytes',
  encode: (value) => toBytes(value) ?? new Uint8Array(0),
  decode: (data) => data,
};

/** Text as UTF-8. */
export const utf8 = {
  name: 'utf8',
  encode(value) {
    if (value instanceof Uint8Array) return value;
    if (typeof value !== 'string') throw new TypeError(`a utf8 codec takes a string, not ${typeof value}`);
    return encoder.encode(value);
  },
  decode: utf8Text,
};

/** Compact UTF-8 JSON. */
export const json = {
  name: 'json',
  encode: (value) => encoder.encode(JSON.stringify(value)),
  decode: (data) => JSON.parse(decoder.decode(data)),
};

/** A DataView over 8 bytes, or an error naming what was expected. */
function eight(data, what) {
  if (data.length !== 8) throw new Error(`${what} is 8 bytes, found ${data.length}`);
  return new DataView(data.buffer, data.byteOffset, 8);
}

/** A signed 64-bit big-endian integer, read as a BigInt. */
export const bigint = {
  name: 'bigint',
  encode(value) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigInt64(0, BigInt(value));
    return out;
  },
  decode: (data) => eight(data, 'an int').getBigInt64(0),
};

/** A signed 64-bit big-endian integer, read as a number (exact up to 2^53). */
export const int = {
  name: 'int',
  encode(value) {
    if (typeof value === 'number' && !Number.isInteger(value)) throw new TypeError(`an int codec takes an integer, not ${value}`);
    return bigint.encode(value);
  },
  decode: (data) => Number(bigint.decode(data)),
};

/** An IEEE 754 double, big-endian. */
export const float = {
  name: 'float',
  encode(value) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setFloat64(0, Number(value));
    return out;
  },
  decode: (data) => eight(data, 'a float').getFloat64(0),
};

/** The codecs a declaration can name. */
const named = { bytes, utf8, string: utf8, json, int, bigint, float };

/** The codec a declaration names: one of the names above or an object with
 * encode and decode (your own format); undefined means bytes. */
export function codec(spec) {
  if (spec === undefined || spec === null) return bytes;
  if (typeof spec === 'string' && Object.hasOwn(named, spec)) return named[spec];
  if (typeof spec === 'object' && typeof spec.encode === 'function' && typeof spec.decode === 'function') return spec;
  throw new TypeError(`no codec ${JSON.stringify(spec)}: use ${Object.keys(named).join(', ')} or {encode, decode}`);
}
