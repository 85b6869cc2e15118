// order-window-count-js natively: the window functions as the host calls
// them (the Driver does not assign windows; tests/tests/js_sdk.rs runs the
// component, where the host does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecs } from 'rill-sdk';
import { Driver } from 'rill-sdk/testing';
import app from './app.js';

test('orders go to the counts window store; a keyless one dead-letters', () => {
  const driver = new Driver(app);
  driver.send('order', { key: 'a', value: 'order', timestamp: 5 });
  assert.deepEqual(driver.outputs('counts').map((o) => [o.keyText(), o.text()]), [['a', 'order']]);
  assert.equal(driver.send('order', { value: 'order' }).error, 'an order needs a key to be counted');
});

test('counts start at one, add up per record and across merged sessions', () => {
  const driver = new Driver(app);
  const records = [{ value: 'order' }, { value: 'order' }];
  assert.deepEqual(driver.aggregate('counts', { key: 'a', start: 0, end: 600_000, records, running: true }).map(codecs.json.decode), [1, 2]);
  const merged = driver.aggregate('counts', { key: 'a', start: 0, end: 9, current: codecs.json.encode(2), merged: [codecs.json.encode(3)], records: [{ value: 'order' }] });
  assert.deepEqual(merged.map(codecs.json.decode), [6]);
});

test('a result is the documented JSON, a merged session a tombstone', () => {
  const driver = new Driver(app);
  driver.emit('counts', { key: 'a', start: 0, end: 600_000, value: codecs.json.encode(2), timestamp: 540_000 });
  driver.emit('counts', { key: 'a', start: 0, end: 3, value: null, timestamp: 3 });
  const [count, withdrawn] = driver.outputs('count');
  assert.equal(count.text(), '{"key":"a","start":0,"end":600000,"count":2}');
  assert.deepEqual([withdrawn.keyText(), withdrawn.value], ['a', null]);
});
