import assert from 'node:assert/strict';
import { test } from 'node:test';
import { init, process } from './app.js';

const record = (text) => ({ topic: 'in', partition: 0, offset: 0n, timestamp: 0n, key: undefined, value: new TextEncoder().encode(text), headers: [] });

test('only long values pass', () => {
  init('{"min-length": 5}');
  const [long, short] = process([record('streams'), record('kafka')]);
  assert.equal(long.val[0].output, 'long');
  assert.deepEqual(short, { tag: 'ok', val: [] });
});
