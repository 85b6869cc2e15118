// cpu-peak in JavaScript on rill-sdk: the same processor as plugins/cpu-peak
// (and cpu-peak-python), output for output. Each metricbeat CPU record
// raises its host's peak system.cpu.total.norm.pct in the `peaks` store (a
// float store: f64 big-endian, as the Rust and Python ports write it); the
// manifest's `flush` timer emits every host's peak since the last firing as
// {"host":"<name>","peak":<pct>,"until":<ms>} to output `peak` and clears it.
import { processor } from 'rill-sdk';

/** Reads `path` of `value`, or throws what is missing (the record dead-letters). */
function at(value, ...path) {
  for (const name of path) {
    if (value === null || typeof value !== 'object' || !(name in value)) throw new Error(`not a metricbeat CPU record: no ${path.join('.')}`);
    value = value[name];
  }
  return value;
}

export default processor(
  {
    outputs: ['peak'],
    stores: { peaks: 'float' },
    onTimer: {
      flush(tick, ctx) {
        const peaks = ctx.store('peaks');
        for (const [host, peak] of peaks.range()) {
          ctx.emit('peak', { key: host, value: { host, peak, until: tick.time } });
          peaks.delete(host);
        }
      },
    },
  },
  (record, ctx) => {
    const metric = record.json();
    const host = at(metric, 'host', 'name');
    const pct = at(metric, 'system', 'cpu', 'total', 'norm', 'pct');
    if (typeof host !== 'string' || typeof pct !== 'number') throw new Error('not a metricbeat CPU record: host.name or the pct has the wrong type');
    const peaks = ctx.store('peaks');
    if (pct > peaks.get(host, -Infinity)) peaks.put(host, pct);
  },
);
