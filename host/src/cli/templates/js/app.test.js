// {{name}} run natively by node --test: no component, no broker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Driver } from 'rill-sdk/testing';
import app from './app.js';

const driver = () => new Driver(app, { config: { 'min-length': 5 } });

test('values longer than min-length characters pass', () => {
  const d = driver();
  // Five Hangul syllables are 5 characters (15 bytes): not longer than 5.
  for (const value of ['kafka', 'streams', '안녕하세요', '안녕하세요!']) d.send('{{name}}.in', { value });
  assert.deepEqual(d.outputs('long').map((o) => o.text()), ['streams', '안녕하세요!']);
});

test('a null value is dead-lettered with the reason', () => {
  const d = driver();
  d.send('{{name}}.in', { key: 'k' });
  assert.equal(d.deadLetters()[0].error, 'record has a null value');
});
