// The seed's stream()/to() example run natively: what the console producer
// typed into stream_log comes out of stream_log_copy, in order, unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from 'rill-sdk/testing';
import app from './app.js';

test("the seed's input is copied line for line", () => {
  const driver = new Driver(app);
  for (const line of ['hello', 'my', 'name', 'is', 'jihun']) driver.send('stream_log', { value: line });
  assert.deepEqual(driver.outputs('copy').map((o) => o.text()), ['hello', 'my', 'name', 'is', 'jihun']);
  assert.deepEqual(driver.deadLetters(), []);
});

test('key, value bytes, headers and timestamp are kept', () => {
  const driver = new Driver(app);
  const value = Uint8Array.of(0xff, 0, 0x80);
  driver.send('stream_log', { key: 'k', value, headers: [{ key: 'h', value: null }], timestamp: 42 });
  const [out] = driver.outputs('copy');
  assert.equal(out.keyText(), 'k');
  assert.deepEqual(out.value, value);
  assert.deepEqual(out.headers, [{ key: 'h', value: null }]);
  assert.equal(out.timestamp, 42);
});

test('a null key and a null value are copied as null', () => {
  const driver = new Driver(app);
  driver.send('stream_log', {});
  const [out] = driver.outputs('copy');
  assert.equal(out.key, null);
  assert.equal(out.value, null);
});
