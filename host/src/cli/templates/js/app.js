// {{name}}: forwards records whose value is longer than `min-length` bytes
// to output `long` (Kafka Streams' filter). Replace `one` with your logic;
// `node --test` runs it natively.

let minLength = 5;

export function init(config) {
  const table = JSON.parse(config);
  if (!Number.isInteger(table['min-length'])) throw 'invalid [config] table: min-length must be an integer';
  minLength = table['min-length'];
}

function one(record) {
  if (record.value === undefined) return { tag: 'err', val: 'record has a null value' };
  if (record.value.length <= minLength) return { tag: 'ok', val: [] };
  return { tag: 'ok', val: [{ output: 'long', key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp }] };
}

export function process(batch) {
  return batch.map(one);
}

// Windows and timers (rill:processor@0.2.0). Unused here: declare
// `[windows.<name>]` or `[[timers]]` in plugin.toml to get these calls.
export function aggregate(batch) {
  return batch.map(() => ({ tag: 'err', val: 'this processor declares no windows' }));
}

export function emit(results) {
  return results.map(() => ({ tag: 'err', val: 'this processor declares no windows' }));
}

export function onTimer(tick) {
  throw 'this processor has no timers';
}
