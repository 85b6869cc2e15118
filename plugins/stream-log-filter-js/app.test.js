// The seed's filter() example run natively: of what the console producer
// typed into stream_log, only the values longer than 5 reach
// stream_log_filter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from 'rill-sdk/testing';
import app from './app.js';

test("the seed's input gives the seed's output", () => {
  const driver = new Driver(app);
  for (const line of ['hello', 'streams', 'kafka', 'world', 'monday']) driver.send('stream_log', { value: line });
  assert.deepEqual(driver.outputs('long').map((o) => o.text()), ['streams', 'monday']);
  assert.deepEqual(driver.deadLetters(), []);
});

test('length counts UTF-16 code units, as Java does', () => {
  const driver = new Driver(app);
  // 5 Hangul syllables: 15 UTF-8 bytes, 5 UTF-16 units: not longer than 5.
  driver.send('stream_log', { value: '안녕하세요' });
  // 3 emoji: 3 code points, 6 UTF-16 units: longer than 5.
  driver.send('stream_log', { value: '😀😀😀' });
  assert.deepEqual(driver.outputs('long').map((o) => o.text()), ['😀😀😀']);
});

test('a null value dead-letters the record and the next one still passes', () => {
  const driver = new Driver(app);
  assert.deepEqual(driver.send('stream_log', { key: 'k' }), { error: 'record has a null value' });
  driver.send('stream_log', { value: 'streams' });
  assert.equal(driver.deadLetters()[0].error, 'record has a null value');
  assert.deepEqual(driver.outputs('long').map((o) => o.text()), ['streams']);
});
