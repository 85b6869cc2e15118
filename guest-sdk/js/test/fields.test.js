// Field access (manifest [fields], rill:processor@0.3.0) through the
// Driver, which reads each record's fields out of its JSON value as the host
// does: typed scalars, raw slices with their canonical flag, missing
// fields, the host's errors for values that are null or not JSON, the value
// omitted unless input-value = "bytes", forward as output-value::input, the
// manifest's [fields], and withMember.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INPUT, RawJson, processor, withMember } from '../index.js';
import { Driver } from '../testing.js';

const FIELDS = {
  pct: 'system.cpu.total.norm.pct',
  host: { path: 'host', as: 'raw' },
  name: 'host.name',
  first: 'tags.0',
  dotted: '/a.b/c~1d',
  flag: 'flag',
  nothing: 'nothing',
  absent: 'no.such',
  object: 'system.cpu',
};

const VALUE =
  '{"host": {"name":"h1", "n":1.50},"system":{"cpu":{"total":{"norm":{"pct":0.75}}}},' +
  '"tags":["x","y"],"a.b":{"c/d":3},"flag":true,"nothing":null}';

test('fields are read as the host reads them, by name', () => {
  let seen;
  const app = processor((record) => { seen = { ...record.fields }; });
  new Driver(app, { fields: FIELDS }).send('in', { value: VALUE });
  assert.deepEqual(seen, {
    pct: 0.75,
    host: new RawJson('{"name":"h1", "n":1.50}', false),
    name: 'h1',
    first: 'x',
    dotted: 3,
    flag: true,
    nothing: null,
    absent: undefined,
    object: new RawJson('{"total":{"norm":{"pct":0.75}}}', true),
  });
});

test('field(name) is strict: missing and undeclared fields throw, a fallback is returned', () => {
  const app = processor((record, ctx) => {
    ctx.emit('out', { value: String(record.field('absent', 'fallback')) });
    record.field(record.field('flag') ? 'absent' : 'undeclared');
  });
  const driver = new Driver(app, { fields: FIELDS });
  assert.deepEqual(driver.send('in', { value: VALUE }), { error: 'missing field `absent`' });
  assert.match(driver.send('in', { value: VALUE.replace('"flag":true', '"flag":false') }).error, /'undeclared' is not a field declared in the manifest's \[fields\] \(declared: pct, host,/);
  const plain = new Driver(processor((record) => record.field('pct')));
  assert.match(plain.send('in', { value: '{}' }).error, /declares no \[fields\]/);
});

test('a null or malformed value fails field access with the host words', () => {
  const driver = new Driver(processor((record) => record.fields), { fields: FIELDS });
  assert.equal(driver.send('in', {}).error, 'the value is null');
  assert.match(driver.send('in', { value: '{not json' }).error, /^the value is not JSON: /);
  assert.match(driver.send('in', { value: Uint8Array.of(0xff) }).error, /^the value is not JSON: /);
});

test('the value stays in the host unless the manifest asks for bytes', () => {
  const app = processor((record, ctx) => ctx.emit('out', { value: record.text().toUpperCase() }));
  const omitted = new Driver(app, { fields: { a: 'a' } });
  assert.match(omitted.send('in', { value: '{"a":1}' }).error, /set input-value = "bytes" in plugin.toml to read record.value/);
  assert.equal(omitted.deadLetters()[0].record.text(), '{"a":1}');
  const bytes = new Driver(app, { fields: { a: 'a' }, inputValue: 'bytes' });
  assert.equal(bytes.send('in', { value: '{"a":1}' }).outputs[0].text(), '{"A":1}');
});

test('forward sends output-value::input for a record with fields, the bytes without', () => {
  let emitted;
  const app = processor((record, ctx) => { ctx.forward('out'); emitted = ctx.outputs[0].value; });
  const [out] = new Driver(app, { fields: { a: 'a' } }).send('in', { key: 'k', value: '{"a":1}', timestamp: 5 }).outputs;
  assert.equal(emitted, INPUT);
  assert.deepEqual([out.keyText(), out.text(), out.timestamp], ['k', '{"a":1}', 5]);
  new Driver(app).send('in', { value: 'v' });
  assert.deepEqual(emitted, new TextEncoder().encode('v'));
});

test("the manifest's [fields] and input-value are read", () => {
  const dir = mkdtempSync(join(tmpdir(), 'rill-fields-'));
  const manifest = join(dir, 'plugin.toml');
  writeFileSync(manifest, 'name = "x"\ninput-value = "bytes"\n[outputs]\nout = "t"\n\n[fields]\n# comment\nb = { path = "x.b", as = "raw" }  # raw\n"a" = \'x.a\'\n[config]\nc = 1\n');
  let seen;
  const driver = new Driver(processor((record) => { seen = [Object.keys(record.fields), record.fields, record.text()]; }), { manifest });
  driver.send('in', { value: '{"x":{"a":"\\u00e9","b":[1, 2]}}' });
  assert.deepEqual(seen, [['b', 'a'], { b: new RawJson('[1, 2]', false), a: 'é' }, '{"x":{"a":"\\u00e9","b":[1, 2]}}']);
});

test('canonical is the compact writer text', () => {
  const cases = [
    ['{"a":1,"b":[true,null,"x"]}', true],
    ['{"a":1.50,"b":-0}', true],
    ['{"a": 1}', false],
    ['{"a":1,"a":2}', false],
    ['{"a":{"a":1},"b":{"a":2}}', true],
    ['{"a":1e5}', false],
    ['"\\u001f\\n"', true],
    ['"\\u001F"', false],
    ['"\\/"', false],
    ['"\\u2028"', true],
    ['"\u2028"', false],
    ['"\\u00e9"', false],
    ['"é"', true],
  ];
  let seen;
  const driver = new Driver(processor((record) => { seen = record.fields.v; }), { fields: { v: { path: 'v', as: 'raw' } } });
  for (const [text, canonical] of cases) {
    driver.send('in', { value: `{"v":${text}}` });
    assert.deepEqual(seen, new RawJson(text, canonical), text);
  }
});

test('withMember splices only when it cannot differ from parsing and writing', () => {
  const host = new RawJson('{"name":"h"}', true);
  const stamp = new RawJson('"2025-01-31T07:55:26.555Z"', true);
  assert.equal(withMember(host, 'timestamp', stamp), '{"name":"h","timestamp":"2025-01-31T07:55:26.555Z"}');
  assert.equal(withMember(new RawJson('{}', true), 't', stamp), '{"t":"2025-01-31T07:55:26.555Z"}');
  assert.equal(withMember(new RawJson('{"name":"h", "x":1}', false), 'timestamp', stamp), null);
  assert.equal(withMember(host, 'timestamp', new RawJson('1e-07', false)), null);
  assert.equal(withMember(new RawJson('[1]', true), 'timestamp', stamp), null);
  assert.equal(withMember(new RawJson('{"timestamp":1}', true), 'timestamp', stamp), null);
  assert.equal(withMember(new RawJson('{"a":"timestamp"}', true), 'timestamp', stamp), null);
  assert.equal(withMember(host, 'quo"te', stamp), null);
});
