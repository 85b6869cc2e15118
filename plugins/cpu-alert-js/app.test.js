// cpu-alert-js natively, with the Rust plugin's own cases (plugins/cpu-alert
// src/lib.rs): the alert's bytes, the strict threshold, and which records
// are errors. tests/tests/ports.rs compares the two components end to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from 'rill-sdk/testing';
import app, { gsonAlert } from './app.js';

// The Driver reads the manifest's [fields], as the host does.
const manifest = new URL('plugin.toml', import.meta.url);

const cpu = (pct) => `{"@timestamp":"t","host":{"name":"h"},"system":{"cpu":{"total":{"norm":{"pct":${pct}}}}}}`;

test('host key order and number text are kept, timestamp replaced in place', () => {
  const driver = new Driver(app, { manifest, config: { threshold: 0.5 } });
  const value = '{"host":{"z":1.50,"a":{"n":1e-07,"m":1e+21},"timestamp":"old"},"@timestamp":"new","system":{"cpu":{"total":{"norm":{"pct":1}}}}}';
  driver.send('metric.cpu', { key: 'k', value, timestamp: 7 });
  const [alert] = driver.outputs('alert');
  assert.equal(alert.text(), '{"z":1.50,"a":{"n":1e-07,"m":1e+21},"timestamp":"new"}');
  assert.deepEqual([alert.keyText(), alert.timestamp], ['k', 7]);
});

test('the threshold is strict and configurable', () => {
  const driver = new Driver(app, { manifest, config: { threshold: 0.7 } });
  for (const pct of [0.7, 0.71]) driver.send('metric.cpu', { value: cpu(pct) });
  assert.deepEqual(driver.outputs('alert').map((o) => o.text()), ['{"name":"h","timestamp":"t"}']);
});

test('malformed records are errors; the rest go on', () => {
  const driver = new Driver(app, { manifest, config: { threshold: 0.5 } });
  assert.match(driver.send('metric.cpu', { value: 'not json' }).error, /^the value is not JSON/);
  assert.equal(driver.send('metric.cpu', { value: '{"@timestamp":"t","system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}' }).error, 'missing field `host`');
  assert.equal(driver.send('metric.cpu', { value: '{"host":{},"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}' }).error, 'missing field `@timestamp`');
  assert.equal(driver.send('metric.cpu', {}).error, 'the value is null');
  assert.equal(driver.send('metric.cpu', { value: cpu('"0.9"') }).error, 'field `pct` is not a number');
  assert.equal(driver.send('metric.cpu', { value: cpu('0.9').replace('{"name":"h"}', '[]') }).error, 'field `host` is not an object');
  driver.send('metric.cpu', { value: cpu(0.9) });
  assert.equal(driver.outputs('alert').length, 1);
});

test('config is checked', () => {
  assert.throws(() => new Driver(app, { config: { threshold: 0.5, extra: 1 } }), /unknown field `extra`/);
  assert.throws(() => new Driver(app, { config: {} }), /missing field `threshold`/);
});

test('the alert is what Gson writes, whether spliced or rewritten', () => {
  const driver = new Driver(app, { manifest, config: { threshold: 0.5 } });
  const host = [
    ['{"name":"h"}', '{"name":"h","timestamp":"t"}'],
    ['{}', '{"timestamp":"t"}'],
    ['{"2":1,"1":{"10":true,"9":null},"name":"h"}', '{"2":1,"1":{"10":true,"9":null},"name":"h","timestamp":"t"}'],
    ['{"\\u0031":1,"a":[1,-0,0.10]}', '{"1":1,"a":[1,-0,0.10],"timestamp":"t"}'],
    ['{"a":1,"b":2,"a":3,"timestamp":0}', '{"a":3,"b":2,"timestamp":"t"}'],
    ['{ "name" : "h",\n "n": [1, 2] }', '{"name":"h","n":[1,2],"timestamp":"t"}'],
    ['{"s":"07:05:09.5\\"x\\u2028","n":123456789012345678901234567890}', '{"s":"07:05:09.5\\"x\\u2028","n":123456789012345678901234567890,"timestamp":"t"}'],
    ['{"s":"\\/\\u00e9\\u001F"}', '{"s":"/é\\u001f","timestamp":"t"}'],
  ];
  for (const [value] of host) {
    driver.send('metric.cpu', { value: `{"@timestamp":"t","host":${value},"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}` });
  }
  assert.deepEqual(driver.outputs('alert').map((o) => o.text()), host.map(([, alert]) => alert));
  assert.deepEqual(host.map(([value]) => gsonAlert(value, '"t"')), host.map(([, alert]) => alert));
});
