// rill-sdk's own tests, through the Driver (the same runtime as the
// component's exports): errors dead-letter one record, typed stores and
// tables, timers, windows, and codecs byte-compatible with the Rust SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processor, codecs } from '../index.js';
import { Driver } from '../testing.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');

test('a thrown error dead-letters its record with the message; the rest of the batch is unaffected', () => {
  const app = processor({ outputs: ['out'] }, (record, ctx) => {
    if (record.text() === 'bad') throw new Error('bad record');
    if (record.text() === 'string') throw 'thrown string';
    ctx.emit('out', { key: record.key, value: record.text().toUpperCase() });
  });
  const driver = new Driver(app);
  assert.deepEqual(driver.send('in', { value: 'bad' }), { error: 'bad record' });
  assert.deepEqual(driver.send('in', { value: 'string' }), { error: 'thrown string' });
  driver.send('in', { key: 'k', value: 'ok' });
  assert.deepEqual(driver.outputs('out').map((o) => [o.keyText(), o.text()]), [['k', 'OK']]);
  assert.deepEqual(driver.deadLetters().map((d) => d.error), ['bad record', 'thrown string']);
});

test('an undeclared output dead-letters the record, as the host does', () => {
  const app = processor({ outputs: ['out'] }, (record, ctx) => ctx.emit('elsewhere', { value: 'x' }));
  assert.deepEqual(new Driver(app).send('in', { value: 'v' }), { error: "emitted to undeclared output 'elsewhere'" });
});

test('a topic chosen per record is named after the output and checked against its pattern, as the host does', () => {
  const app = processor((record, ctx) => ctx.forward('by-host', { topic: `alerts.${record.text()}` }));
  const driver = new Driver(app, { outputs: { 'by-host': { topicPattern: 'alerts\\.[a-z0-9-]+' }, alert: 'metric.cpu.alert' } });
  const [out] = driver.send('in', { value: 'web-1' }).outputs;
  assert.deepEqual([out.output, out.outputName, out.topic], ['by-host:alerts.web-1', 'by-host', 'alerts.web-1']);
  assert.match(driver.send('in', { value: 'Web 1' }).error, /does not match its topic-pattern/);
  assert.equal(driver.outputs('by-host').length, 1);
  const fixed = processor((record, ctx) => ctx.emit('alert', { value: 'x', topic: 'alerts.x' }));
  assert.match(new Driver(fixed, { outputs: ['alert'] }).send('in', { value: 'v' }).error, /fixed topic/);
});

test('record accessors: text, json, keyText, where it came from', () => {
  let seen;
  const app = processor((record) => { seen = { json: record.json(), key: record.keyText(), topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp }; });
  new Driver(app).send('t', { key: 'k', value: '{"a":1}', partition: 2, offset: 7, timestamp: 9 });
  assert.deepEqual(seen, { json: { a: 1 }, key: 'k', topic: 't', partition: 2, offset: 7, timestamp: 9 });
  const bad = new Driver(processor((record) => record.json()));
  assert.match(bad.send('t', { value: '{' }).error, /JSON/);
  assert.match(bad.send('t', { value: Uint8Array.of(0xff) }).error, /.+/);
});

test('emit: JSON for objects, explicit timestamp and headers, the input timestamp otherwise', () => {
  const app = processor((record, ctx) => {
    ctx.emit('a', { key: 'k', value: { n: 1 } });
    ctx.emit('b', { value: 'v', timestamp: 5, headers: [{ key: 'h', value: 'x' }] });
  });
  const driver = new Driver(app);
  driver.send('in', { value: '', timestamp: 100 });
  const [a, b] = driver.outputs();
  assert.deepEqual([a.json(), a.timestamp], [{ n: 1 }, 100]);
  assert.deepEqual([b.text(), b.timestamp, hex(b.headers[0].value)], ['v', 5, '78']);
});

test('config reaches init; a bad config or a throwing init refuses the processor', () => {
  let limit;
  const app = processor({ init(config) { if (config.limit === undefined) throw new Error('limit is missing'); limit = config.limit; } }, () => {});
  new Driver(app, { config: { limit: 3 } });
  assert.equal(limit, 3);
  assert.throws(() => new Driver(app, { config: {} }), (e) => e === 'limit is missing');
});

test('typed stores: get with a default, put, delete, range in key order', () => {
  const app = processor({ stores: { peaks: 'float', counts: { key: 'utf8', value: 'int' }, docs: 'json' } }, (record, ctx) => {
    const peaks = ctx.store('peaks');
    const host = record.keyText();
    if (record.json().pct > peaks.get(host, 0)) peaks.put(host, record.json().pct);
    const counts = ctx.store('counts');
    counts.put(host, counts.get(host, 0) + 1);
    ctx.store('docs').put(host, { last: record.json().pct });
  });
  const driver = new Driver(app);
  driver.send('m', { key: 'h2', value: '{"pct":0.4}' });
  driver.send('m', { key: 'h1', value: '{"pct":0.7}' });
  driver.send('m', { key: 'h1', value: '{"pct":0.5}' });
  // The Rust SDK's encodings: f64 and i64 big-endian, compact JSON.
  assert.equal(hex(driver.storeBytes('peaks', 'h1')), '3fe6666666666666');
  assert.equal(hex(driver.storeBytes('counts', 'h1')), '0000000000000002');
  assert.equal(Buffer.from(driver.storeBytes('docs', 'h1')).toString(), '{"last":0.5}');
  const reader = processor({ stores: { peaks: 'float' } }, (record, ctx) => {
    const peaks = ctx.store('peaks');
    ctx.emit('all', { value: peaks.range() });
    ctx.emit('from-h2', { value: peaks.range('h2') });
    peaks.delete('h1');
    ctx.emit('after', { value: peaks.range(undefined, undefined, 5) });
  });
  driver.app = reader;
  driver.send('m', { value: '' });
  assert.deepEqual(driver.outputs('all')[0].json(), [['h1', 0.7], ['h2', 0.4]]);
  assert.deepEqual(driver.outputs('from-h2')[0].json(), [['h2', 0.4]]);
  assert.deepEqual(driver.outputs('after')[0].json(), [['h2', 0.4]]);
});

test('an undeclared store is a record error worded as in the Rust SDK', () => {
  const app = processor((record, ctx) => ctx.store('nope').get('k'));
  const driver = new Driver(app, { stores: ['peaks'] });
  assert.deepEqual(driver.send('in', { value: 'v' }), { error: "'nope' is not a store or table declared in the manifest" });
});

test('tables and global tables are read by topic, with codecs', () => {
  const app = processor({ tables: { address: 'utf8' } }, (record, ctx) => {
    const address = ctx.table('address').get(record.keyText());
    if (address === undefined) throw new Error('no address');
    ctx.emit('joined', { key: record.key, value: `${record.text()} to ${address}` });
  });
  const driver = new Driver(app);
  driver.setTable('address', 'jihun', 'Seoul');
  driver.send('order', { key: 'jihun', value: 'iPhone' });
  driver.send('order', { key: 'nobody', value: 'iPad' });
  assert.deepEqual(driver.outputs('joined').map((o) => o.text()), ['iPhone to Seoul']);
  assert.equal(driver.deadLetters()[0].error, 'no address');
});

test('timers: scheduled in init, fired by stream time, handlers by name', () => {
  const app = processor(
    {
      stores: { peaks: 'float' },
      init(config, ctx) { ctx.schedule('every-minute', { every: 60_000, aligned: true }); },
      onTimer: {
        'every-minute'(tick, ctx) {
          const peaks = ctx.store('peaks');
          for (const [host, peak] of peaks.range()) {
            ctx.emit('peak', { key: host, value: { host, peak, until: tick.time } });
            peaks.delete(host);
          }
        },
      },
    },
    (record, ctx) => {
      const peaks = ctx.store('peaks');
      const { host, pct } = record.json();
      if (pct > peaks.get(host, 0)) peaks.put(host, pct);
    },
  );
  const driver = new Driver(app);
  driver.send('m', { value: '{"host":"h1","pct":0.7}', timestamp: 0 });
  driver.send('m', { value: '{"host":"h1","pct":0.9}', timestamp: 1_000 });
  const fired = driver.advanceStreamTime(60_000);
  assert.deepEqual(fired.map((o) => o.json()), [{ host: 'h1', peak: 0.9, until: 60_000 }]);
  assert.equal(fired[0].timestamp, 60_000);
  assert.match(driver.fire('other', 1).error, /timer 'other' fired/);
});

test('windows: aggregate from undefined, merge sessions, emit the result', () => {
  const app = processor(
    {
      windows: { counts: 'int' },
      aggregate: (window, count) => (count ?? 0) + 1,
      merge: (window, older, newer) => older + newer,
      emit: (result, ctx) => ctx.emit('out', { key: result.window.key, value: `${result.window.keyText()}@${result.window.start}: ${result.value}` }),
    },
    (record, ctx) => ctx.forward('counts'),
  );
  const driver = new Driver(app);
  const records = [{ value: 'a' }, { value: 'b' }];
  const steps = driver.aggregate('counts', { key: 'k', start: 0, end: 10, records, running: true });
  assert.deepEqual(steps.map((s) => codecs.int.decode(s)), [1, 2]);
  const merged = driver.aggregate('counts', { key: 'k', start: 0, end: 10, current: codecs.int.encode(2), merged: [codecs.int.encode(3)], records });
  assert.deepEqual(merged.map((s) => codecs.int.decode(s)), [7]);
  driver.emit('counts', { key: 'k', start: 0, end: 10, value: codecs.int.encode(7), timestamp: 9 });
  assert.deepEqual(driver.outputs('out').map((o) => [o.text(), o.timestamp]), [['k@0: 7', 9]]);
});

test('join: a join result turned into outputs, a missing side null', () => {
  const app = processor(
    {
      join: (result, ctx) =>
        ctx.emit('joined', { key: result.key, value: `${result.leftText()}|${result.rightText() ?? 'null'}`, timestamp: result.timestamp }),
    },
    () => {},
  );
  const driver = new Driver(app);
  driver.join('order-payment', { key: 'o-1', left: 'Bike', timestamp: 550000 });
  assert.deepEqual(driver.outputs('joined').map((o) => [o.keyText(), o.text(), o.timestamp]), [['o-1', 'Bike|null', 550000]]);
});

test('unused exports answer with the Rust SDK\'s errors', () => {
  const driver = new Driver(processor(() => {}));
  assert.throws(() => driver.aggregate('w', { key: 'k', start: 0, end: 1 }), (e) => e === "aggregate is not implemented, but records reached window store 'w'");
  assert.deepEqual(driver.emit('w', { key: 'k', start: 0, end: 1, value: null, timestamp: 0 }), { error: "emit is not implemented, but window store 'w' has a result" });
  assert.deepEqual(driver.fire('t', 0), { error: "on_timer is not implemented, but timer 't' fired" });
  assert.deepEqual(driver.join('j', { key: 'k', left: 'l', timestamp: 0 }), { error: "join is not implemented, but join 'j' has a result" });
});

test('codecs round-trip and reject what they cannot hold', () => {
  for (const [c, v] of [[codecs.int, -5], [codecs.float, 0.1], [codecs.json, { a: [1] }], [codecs.utf8, 'héllo'], [codecs.bigint, 2n ** 62n]]) {
    assert.deepEqual(c.decode(c.encode(v)), v);
  }
  assert.equal(hex(codecs.int.encode(-1)), 'ffffffffffffffff');
  assert.throws(() => codecs.int.encode(1.5));
  assert.throws(() => codecs.float.decode(Uint8Array.of(1)));
  assert.throws(() => codecs.codec('nope'));
});

test('the default export must come from processor(): init refuses with a message', () => {
  assert.throws(() => new Driver({}), (e) => typeof e === 'string' && e.includes('processor('));
});

test('a batch is one outcome per record, in order; a failure in the middle changes nothing else', async () => {
  const runtime = await import('../runtime.js');
  const app = processor((record, ctx) => {
    if (record.text() === 'bad') throw new Error('no');
    ctx.emit('out', { value: record.value });
  });
  const batch = ['a', 'bad', 'c'].map((v, offset) => ({ topic: 't', offset, value: new TextEncoder().encode(v) }));
  const results = runtime.process(app, batch);
  assert.deepEqual(results.map((r) => ('error' in r ? r.error : new TextDecoder().decode(r.outputs[0].value))), ['a', 'no', 'c']);
});
