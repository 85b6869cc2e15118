// cpu-peak-js natively: peaks per host, flushed by the manifest's timer
// (given to the Driver as plugin.toml's [[timers]] declares it: every 60 s
// of stream time, on the minute). tests/tests/time.rs runs the component.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from 'rill-sdk/testing';
import app from './app.js';

const metric = (host, pct) => JSON.stringify({ host: { name: host }, system: { cpu: { total: { norm: { pct } } } } });

test('the peak of each host, every minute of stream time, then cleared', () => {
  const driver = new Driver(app, { timers: [{ name: 'flush', every: 60_000, aligned: true }] });
  driver.send('metric.cpu', { value: metric('h1', 0.7), timestamp: 1_000 });
  driver.send('metric.cpu', { value: metric('h2', 0.4), timestamp: 2_000 });
  driver.send('metric.cpu', { value: metric('h1', 0.9), timestamp: 3_000 });
  driver.send('metric.cpu', { value: metric('h1', 0.8), timestamp: 4_000 });
  assert.deepEqual(driver.advanceStreamTime(60_000).map((o) => [o.keyText(), o.json()]), [
    ['h1', { host: 'h1', peak: 0.9, until: 60_000 }],
    ['h2', { host: 'h2', peak: 0.4, until: 60_000 }],
  ]);
  assert.deepEqual(driver.advanceStreamTime(120_000), []);
});

test('a record that is not a CPU metric dead-letters', () => {
  const driver = new Driver(app);
  assert.match(driver.send('metric.cpu', { value: '{"host":{}}' }).error, /no host\.name/);
  assert.match(driver.send('metric.cpu', { value: 'nope' }).error, /JSON/);
});
